//! AWS's answers, case by case. Each row is one request, written once in the AWS JSON
//! protocol and once as query-protocol parameters, with the HTTP status, error shape, legacy
//! code and text AWS answers it with; every row runs through both protocols. Adding a case is
//! adding a row.
//!
//! In the requests, `{url}` is a queue of the caller's, `{missing}` the URL of a queue the
//! caller does not have, `{acct}` the caller's account, `{dlq_arn}` the ARN of another queue
//! of the caller's, `{k129}` a tag key of 129 characters, `{kms}` a queue of the caller's whose
//! KmsMasterKeyId names no key (CreateQueue accepted it, as SQS does), `{fifo}` a FIFO queue
//! of the caller's and `{deep}` JSON nested 70 levels.

use crate::harness::{RawClient, RawResponse, TestServer};

/// One request and AWS's answer to it.
struct Case {
    what: &'static str,
    action: &'static str,
    /// The JSON body.
    json: &'static str,
    /// The same request as query parameters (`Name=value&…`, values unencoded), or None where
    /// the case has no query form.
    query: Option<&'static str>,
    status: u16,
    /// `__type` in JSON (`com.amazonaws.sqs#<shape>`).
    shape: &'static str,
    /// The legacy code: `x-amzn-query-error` and the XML `<Code>`.
    code: &'static str,
    text: &'static str,
    /// The region the request is signed for.
    region: &'static str,
}

const NO_QUEUE: (u16, &str, &str, &str) =
    (400, "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue", "The specified queue does not exist.");

macro_rules! case {
    ($what:expr, $action:expr, $json:expr, $query:expr, $answer:expr) => {
        case!($what, $action, $json, $query, $answer, signed_for = crate::harness::REGION)
    };
    ($what:expr, $action:expr, $json:expr, $query:expr, $answer:expr, signed_for = $region:expr) => {
        Case {
            what: $what,
            action: $action,
            json: $json,
            query: $query,
            status: $answer.0,
            shape: $answer.1,
            code: $answer.2,
            text: $answer.3,
            region: $region,
        }
    };
}

fn cases() -> Vec<Case> {
    vec![
        // 1. A queue that does not exist, however it is named.
        case!(
            "GetQueueUrl of a missing name",
            "GetQueueUrl",
            r#"{"QueueName":"nope"}"#,
            Some("QueueName=nope"),
            NO_QUEUE
        ),
        case!(
            "GetQueueUrl of a missing name in the caller's own account, named",
            "GetQueueUrl",
            r#"{"QueueName":"nope","QueueOwnerAWSAccountId":"{acct}"}"#,
            Some("QueueName=nope&QueueOwnerAWSAccountId={acct}"),
            NO_QUEUE
        ),
        case!(
            "SendMessage to a missing queue",
            "SendMessage",
            r#"{"QueueUrl":"{missing}","MessageBody":"x"}"#,
            Some("QueueUrl={missing}&MessageBody=x"),
            NO_QUEUE
        ),
        case!(
            "SendMessage to text that is no URL",
            "SendMessage",
            r#"{"QueueUrl":"not a url at all","MessageBody":"x"}"#,
            Some("QueueUrl=not a url at all&MessageBody=x"),
            NO_QUEUE
        ),
        case!(
            "SendMessage to a bare queue name",
            "SendMessage",
            r#"{"QueueUrl":"nope","MessageBody":"x"}"#,
            Some("QueueUrl=nope&MessageBody=x"),
            NO_QUEUE
        ),
        case!(
            "ReceiveMessage from a URL of another host without an account",
            "ReceiveMessage",
            r#"{"QueueUrl":"https://sqs.us-east-1.amazonaws.com/nope"}"#,
            Some("QueueUrl=https://sqs.us-east-1.amazonaws.com/nope"),
            NO_QUEUE
        ),
        case!(
            "ReceiveMessage from a URL of another host",
            "ReceiveMessage",
            r#"{"QueueUrl":"https://sqs.us-east-1.amazonaws.com/{acct}/nope"}"#,
            Some("QueueUrl=https://sqs.us-east-1.amazonaws.com/{acct}/nope"),
            NO_QUEUE
        ),
        case!(
            "DeleteQueue of a URL with a path too long",
            "DeleteQueue",
            r#"{"QueueUrl":"https://localhost/{acct}/a/b"}"#,
            Some("QueueUrl=https://localhost/{acct}/a/b"),
            NO_QUEUE
        ),
        case!(
            "GetQueueAttributes of a name no queue can have",
            "GetQueueAttributes",
            r#"{"QueueUrl":"https://localhost/{acct}/bad name"}"#,
            Some("QueueUrl=https://localhost/{acct}/bad name"),
            NO_QUEUE
        ),
        case!(
            "SetQueueAttributes of a missing queue",
            "SetQueueAttributes",
            r#"{"QueueUrl":"{missing}","Attributes":{"DelaySeconds":"1"}}"#,
            Some("QueueUrl={missing}&Attribute.1.Name=DelaySeconds&Attribute.1.Value=1"),
            NO_QUEUE
        ),
        case!(
            "SendMessageBatch to a missing queue",
            "SendMessageBatch",
            r#"{"QueueUrl":"{missing}","Entries":[{"Id":"a","MessageBody":"x"}]}"#,
            Some("QueueUrl={missing}&SendMessageBatchRequestEntry.1.Id=a&SendMessageBatchRequestEntry.1.MessageBody=x"),
            NO_QUEUE
        ),
        case!(
            "PurgeQueue of a missing queue",
            "PurgeQueue",
            r#"{"QueueUrl":"{missing}"}"#,
            Some("QueueUrl={missing}"),
            NO_QUEUE
        ),
        case!(
            "ListQueueTags of a missing queue",
            "ListQueueTags",
            r#"{"QueueUrl":"{missing}"}"#,
            Some("QueueUrl={missing}"),
            NO_QUEUE
        ),
        case!(
            "TagQueue of a missing queue",
            "TagQueue",
            r#"{"QueueUrl":"{missing}","Tags":{"k":"v"}}"#,
            Some("QueueUrl={missing}&Tag.1.Key=k&Tag.1.Value=v"),
            NO_QUEUE
        ),
        case!(
            "ListDeadLetterSourceQueues of a missing queue",
            "ListDeadLetterSourceQueues",
            r#"{"QueueUrl":"{missing}"}"#,
            Some("QueueUrl={missing}"),
            NO_QUEUE
        ),
        case!(
            "ChangeMessageVisibility in a missing queue",
            "ChangeMessageVisibility",
            r#"{"QueueUrl":"{missing}","ReceiptHandle":"x","VisibilityTimeout":1}"#,
            Some("QueueUrl={missing}&ReceiptHandle=x&VisibilityTimeout=1"),
            NO_QUEUE
        ),
        case!(
            "DeleteMessage from a missing queue",
            "DeleteMessage",
            r#"{"QueueUrl":"{missing}","ReceiptHandle":"x"}"#,
            Some("QueueUrl={missing}&ReceiptHandle=x"),
            NO_QUEUE
        ),
        case!(
            "DeleteMessageBatch from a missing queue",
            "DeleteMessageBatch",
            r#"{"QueueUrl":"{missing}","Entries":[{"Id":"a","ReceiptHandle":"x"}]}"#,
            Some(
                "QueueUrl={missing}&DeleteMessageBatchRequestEntry.1.Id=a&DeleteMessageBatchRequestEntry.1.ReceiptHandle=x"
            ),
            NO_QUEUE
        ),
        case!(
            "ChangeMessageVisibilityBatch in a missing queue",
            "ChangeMessageVisibilityBatch",
            r#"{"QueueUrl":"{missing}","Entries":[{"Id":"a","ReceiptHandle":"x","VisibilityTimeout":1}]}"#,
            Some(
                "QueueUrl={missing}&ChangeMessageVisibilityBatchRequestEntry.1.Id=a&ChangeMessageVisibilityBatchRequestEntry.1.ReceiptHandle=x&ChangeMessageVisibilityBatchRequestEntry.1.VisibilityTimeout=1"
            ),
            NO_QUEUE
        ),
        case!(
            "UntagQueue of a missing queue",
            "UntagQueue",
            r#"{"QueueUrl":"{missing}","TagKeys":["k"]}"#,
            Some("QueueUrl={missing}&TagKey.1=k"),
            NO_QUEUE
        ),
        case!(
            "AddPermission on a missing queue",
            "AddPermission",
            r#"{"QueueUrl":"{missing}","Label":"l","AWSAccountIds":["111122223333"],"Actions":["SendMessage"]}"#,
            Some("QueueUrl={missing}&Label=l&AWSAccountId.1=111122223333&ActionName.1=SendMessage"),
            NO_QUEUE
        ),
        case!(
            "RemovePermission on a missing queue",
            "RemovePermission",
            r#"{"QueueUrl":"{missing}","Label":"l"}"#,
            Some("QueueUrl={missing}&Label=l"),
            NO_QUEUE
        ),
        case!(
            "DeleteQueue of a missing queue",
            "DeleteQueue",
            r#"{"QueueUrl":"{missing}"}"#,
            Some("QueueUrl={missing}"),
            NO_QUEUE
        ),
        // Another account's queue: one answer whether or not it exists (the deny names the
        // resource asked for, not what is there).
        case!(
            "SendMessage to another account's queue",
            "SendMessage",
            r#"{"QueueUrl":"{theirs}","MessageBody":"x"}"#,
            Some("QueueUrl={theirs}&MessageBody=x"),
            (
                403,
                "AccessDenied",
                "AccessDenied",
                "User: arn:aws:iam::{acct}:root is not authorized to perform: sqs:SendMessage on resource: arn:aws:sqs:local:{other}:theirs because no resource-based policy allows the sqs:SendMessage action"
            )
        ),
        case!(
            "SendMessage to another account's missing queue",
            "SendMessage",
            r#"{"QueueUrl":"{theirs}-gone","MessageBody":"x"}"#,
            Some("QueueUrl={theirs}-gone&MessageBody=x"),
            (
                403,
                "AccessDenied",
                "AccessDenied",
                "User: arn:aws:iam::{acct}:root is not authorized to perform: sqs:SendMessage on resource: arn:aws:sqs:local:{other}:theirs-gone because no resource-based policy allows the sqs:SendMessage action"
            )
        ),
        case!(
            "GetQueueUrl of another account's queue",
            "GetQueueUrl",
            r#"{"QueueName":"theirs","QueueOwnerAWSAccountId":"{other}"}"#,
            Some("QueueName=theirs&QueueOwnerAWSAccountId={other}"),
            (
                403,
                "AccessDenied",
                "AccessDenied",
                "User: arn:aws:iam::{acct}:root is not authorized to perform: sqs:GetQueueUrl on resource: arn:aws:sqs:local:{other}:theirs because no resource-based policy allows the sqs:GetQueueUrl action"
            )
        ),
        case!(
            "GetQueueUrl of another account's missing queue",
            "GetQueueUrl",
            r#"{"QueueName":"theirs-gone","QueueOwnerAWSAccountId":"{other}"}"#,
            Some("QueueName=theirs-gone&QueueOwnerAWSAccountId={other}"),
            (
                403,
                "AccessDenied",
                "AccessDenied",
                "User: arn:aws:iam::{acct}:root is not authorized to perform: sqs:GetQueueUrl on resource: arn:aws:sqs:local:{other}:theirs-gone because no resource-based policy allows the sqs:GetQueueUrl action"
            )
        ),
        // 2. Batches: an empty batch names the action called.
        case!(
            "SendMessageBatch without entries",
            "SendMessageBatch",
            r#"{"QueueUrl":"{url}","Entries":[]}"#,
            Some("QueueUrl={url}"),
            (
                400,
                "EmptyBatchRequest",
                "AWS.SimpleQueueService.EmptyBatchRequest",
                "There should be at least one SendMessageBatchRequestEntry in the request."
            )
        ),
        case!(
            "DeleteMessageBatch without entries",
            "DeleteMessageBatch",
            r#"{"QueueUrl":"{url}","Entries":[]}"#,
            Some("QueueUrl={url}"),
            (
                400,
                "EmptyBatchRequest",
                "AWS.SimpleQueueService.EmptyBatchRequest",
                "There should be at least one DeleteMessageBatchRequestEntry in the request."
            )
        ),
        case!(
            "ChangeMessageVisibilityBatch without entries",
            "ChangeMessageVisibilityBatch",
            r#"{"QueueUrl":"{url}","Entries":[]}"#,
            Some("QueueUrl={url}"),
            (
                400,
                "EmptyBatchRequest",
                "AWS.SimpleQueueService.EmptyBatchRequest",
                "There should be at least one ChangeMessageVisibilityBatchRequestEntry in the request."
            )
        ),
        // 2. Whole-batch faults fail the call.
        case!(
            "SendMessageBatch of 11 entries",
            "SendMessageBatch",
            r#"{"QueueUrl":"{url}","Entries":[{"Id":"0","MessageBody":"x"},{"Id":"1","MessageBody":"x"},{"Id":"2","MessageBody":"x"},{"Id":"3","MessageBody":"x"},{"Id":"4","MessageBody":"x"},{"Id":"5","MessageBody":"x"},{"Id":"6","MessageBody":"x"},{"Id":"7","MessageBody":"x"},{"Id":"8","MessageBody":"x"},{"Id":"9","MessageBody":"x"},{"Id":"10","MessageBody":"x"}]}"#,
            None,
            (
                400,
                "TooManyEntriesInBatchRequest",
                "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
                "Maximum number of entries per request are 10. You have sent 11."
            )
        ),
        case!(
            "DeleteMessageBatch with one id twice",
            "DeleteMessageBatch",
            r#"{"QueueUrl":"{url}","Entries":[{"Id":"a","ReceiptHandle":"x"},{"Id":"a","ReceiptHandle":"y"}]}"#,
            Some(
                "QueueUrl={url}&DeleteMessageBatchRequestEntry.1.Id=a&DeleteMessageBatchRequestEntry.1.ReceiptHandle=x&DeleteMessageBatchRequestEntry.2.Id=a&DeleteMessageBatchRequestEntry.2.ReceiptHandle=y"
            ),
            (400, "BatchEntryIdsNotDistinct", "AWS.SimpleQueueService.BatchEntryIdsNotDistinct", "Id a repeated.")
        ),
        case!(
            "SendMessageBatch with an id of a space",
            "SendMessageBatch",
            r#"{"QueueUrl":"{url}","Entries":[{"Id":"a b","MessageBody":"x"}]}"#,
            Some("QueueUrl={url}&SendMessageBatchRequestEntry.1.Id=a b&SendMessageBatchRequestEntry.1.MessageBody=x"),
            (
                400,
                "InvalidBatchEntryId",
                "AWS.SimpleQueueService.InvalidBatchEntryId",
                "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long."
            )
        ),
        // 3. AWS's texts.
        case!(
            "DeleteMessage with a receipt handle of no receive",
            "DeleteMessage",
            r#"{"QueueUrl":"{url}","ReceiptHandle":"garbage"}"#,
            Some("QueueUrl={url}&ReceiptHandle=garbage"),
            (
                404,
                "ReceiptHandleIsInvalid",
                "ReceiptHandleIsInvalid",
                "The input receipt handle \"garbage\" is not a valid receipt handle."
            )
        ),
        case!(
            "ChangeMessageVisibility with a receipt handle of no receive",
            "ChangeMessageVisibility",
            r#"{"QueueUrl":"{url}","ReceiptHandle":"garbage","VisibilityTimeout":5}"#,
            Some("QueueUrl={url}&ReceiptHandle=garbage&VisibilityTimeout=5"),
            (
                404,
                "ReceiptHandleIsInvalid",
                "ReceiptHandleIsInvalid",
                "The input receipt handle \"garbage\" is not a valid receipt handle."
            )
        ),
        case!(
            "SendMessage with an attribute of no known type",
            "SendMessage",
            r#"{"QueueUrl":"{url}","MessageBody":"x","MessageAttributes":{"a":{"DataType":"Bogus","StringValue":"v"}}}"#,
            Some(
                "QueueUrl={url}&MessageBody=x&MessageAttribute.1.Name=a&MessageAttribute.1.Value.DataType=Bogus&MessageAttribute.1.Value.StringValue=v"
            ),
            (
                400,
                "InvalidParameterValue",
                "InvalidParameterValue",
                "The message attribute 'a' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String."
            )
        ),
        case!(
            "SendMessage with a Number attribute that is no number",
            "SendMessage",
            r#"{"QueueUrl":"{url}","MessageBody":"x","MessageAttributes":{"a":{"DataType":"Number","StringValue":"abc"}}}"#,
            Some(
                "QueueUrl={url}&MessageBody=x&MessageAttribute.1.Name=a&MessageAttribute.1.Value.DataType=Number&MessageAttribute.1.Value.StringValue=abc"
            ),
            (
                400,
                "InvalidParameterValue",
                "InvalidParameterValue",
                "Can't cast the value of message (user) attribute 'a' to a number."
            )
        ),
        case!(
            "TagQueue with 51 tags",
            "TagQueue",
            r#"{"QueueUrl":"{url}","Tags":{"k0":"v","k1":"v","k2":"v","k3":"v","k4":"v","k5":"v","k6":"v","k7":"v","k8":"v","k9":"v","k10":"v","k11":"v","k12":"v","k13":"v","k14":"v","k15":"v","k16":"v","k17":"v","k18":"v","k19":"v","k20":"v","k21":"v","k22":"v","k23":"v","k24":"v","k25":"v","k26":"v","k27":"v","k28":"v","k29":"v","k30":"v","k31":"v","k32":"v","k33":"v","k34":"v","k35":"v","k36":"v","k37":"v","k38":"v","k39":"v","k40":"v","k41":"v","k42":"v","k43":"v","k44":"v","k45":"v","k46":"v","k47":"v","k48":"v","k49":"v","k50":"v"}}"#,
            None,
            (400, "InvalidParameterValue", "InvalidParameterValue", "Too many tags added for queue answers.")
        ),
        case!(
            "TagQueue with a key of 129 characters",
            "TagQueue",
            r#"{"QueueUrl":"{url}","Tags":{"{k129}":"v"}}"#,
            Some("QueueUrl={url}&Tag.1.Key={k129}&Tag.1.Value=v"),
            (
                400,
                "InvalidParameterValue",
                "InvalidParameterValue",
                "Tag keys must be between 1 and 128 characters in length."
            )
        ),
        case!(
            "UntagQueue without keys",
            "UntagQueue",
            r#"{"QueueUrl":"{url}","TagKeys":[]}"#,
            Some("QueueUrl={url}"),
            (
                400,
                "InvalidParameterValue",
                "InvalidParameterValue",
                "Tag keys must be between 1 and 128 characters in length."
            )
        ),
        case!(
            "AddPermission without accounts",
            "AddPermission",
            r#"{"QueueUrl":"{url}","Label":"l","AWSAccountIds":[],"Actions":["SendMessage"]}"#,
            Some("QueueUrl={url}&Label=l&ActionName.1=SendMessage"),
            (
                400,
                "InvalidParameterValue",
                "InvalidParameterValue",
                "Value [] for parameter PrincipalId is invalid. Reason: Unable to verify."
            )
        ),
        case!(
            "AddPermission granting an owner's action",
            "AddPermission",
            r#"{"QueueUrl":"{url}","Label":"l","AWSAccountIds":["111122223333"],"Actions":["CreateQueue"]}"#,
            Some("QueueUrl={url}&Label=l&AWSAccountId.1=111122223333&ActionName.1=CreateQueue"),
            (
                400,
                "InvalidParameterValue",
                "InvalidParameterValue",
                "Value SQS:CreateQueue for parameter ActionName is invalid. Reason: Only the queue owner is allowed to invoke this action."
            )
        ),
        case!(
            "AddPermission granting no action at all",
            "AddPermission",
            r#"{"QueueUrl":"{url}","Label":"l","AWSAccountIds":["111122223333"],"Actions":["Bogus"]}"#,
            Some("QueueUrl={url}&Label=l&AWSAccountId.1=111122223333&ActionName.1=Bogus"),
            (
                400,
                "InvalidParameterValue",
                "InvalidParameterValue",
                "Value SQS:Bogus for parameter ActionName is invalid. Reason: Please refer to the appropriate WSDL for a list of valid actions."
            )
        ),
        case!(
            "AddPermission of eight actions",
            "AddPermission",
            r#"{"QueueUrl":"{url}","Label":"l","AWSAccountIds":["111122223333"],"Actions":["ChangeMessageVisibility","DeleteMessage","GetQueueAttributes","GetQueueUrl","ListDeadLetterSourceQueues","PurgeQueue","ReceiveMessage","SendMessage"]}"#,
            None,
            (403, "OverLimit", "OverLimit", "8 Actions were found, maximum allowed is 7.")
        ),
        case!(
            "RemovePermission of a label no statement has",
            "RemovePermission",
            r#"{"QueueUrl":"{url}","Label":"zzz"}"#,
            Some("QueueUrl={url}&Label=zzz"),
            (
                400,
                "InvalidParameterValue",
                "InvalidParameterValue",
                "Value zzz for parameter Label is invalid. Reason: can't find label on existing policy."
            )
        ),
        case!(
            "SetQueueAttributes with VisibilityTimeout past 12 hours",
            "SetQueueAttributes",
            r#"{"QueueUrl":"{url}","Attributes":{"VisibilityTimeout":"43201"}}"#,
            Some("QueueUrl={url}&Attribute.1.Name=VisibilityTimeout&Attribute.1.Value=43201"),
            (
                400,
                "InvalidAttributeValue",
                "InvalidAttributeValue",
                "Invalid value for the parameter VisibilityTimeout."
            )
        ),
        case!(
            "SetQueueAttributes with MessageRetentionPeriod under a minute",
            "SetQueueAttributes",
            r#"{"QueueUrl":"{url}","Attributes":{"MessageRetentionPeriod":"59"}}"#,
            Some("QueueUrl={url}&Attribute.1.Name=MessageRetentionPeriod&Attribute.1.Value=59"),
            (
                400,
                "InvalidAttributeValue",
                "InvalidAttributeValue",
                "Invalid value for the parameter MessageRetentionPeriod."
            )
        ),
        case!(
            "CreateQueue with MessageRetentionPeriod past 14 days",
            "CreateQueue",
            r#"{"QueueName":"refused","Attributes":{"MessageRetentionPeriod":"1209601"}}"#,
            Some("QueueName=refused&Attribute.1.Name=MessageRetentionPeriod&Attribute.1.Value=1209601"),
            (
                400,
                "InvalidAttributeValue",
                "InvalidAttributeValue",
                "Invalid value for the parameter MessageRetentionPeriod."
            )
        ),
        case!(
            "SetQueueAttributes with a RedrivePolicy of maxReceiveCount 0",
            "SetQueueAttributes",
            r#"{"QueueUrl":"{url}","Attributes":{"RedrivePolicy":"{\"deadLetterTargetArn\":\"{dlq_arn}\",\"maxReceiveCount\":0}"}}"#,
            Some(
                r#"QueueUrl={url}&Attribute.1.Name=RedrivePolicy&Attribute.1.Value={"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":0}"#
            ),
            (
                400,
                "InvalidParameterValue",
                "InvalidParameterValue",
                r#"Value {"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":0} for parameter RedrivePolicy is invalid. Reason: Invalid value for maxReceiveCount: 0, valid values are from 1 to 1000 both inclusive."#
            )
        ),
        case!(
            "SetQueueAttributes with a RedrivePolicy without maxReceiveCount",
            "SetQueueAttributes",
            r#"{"QueueUrl":"{url}","Attributes":{"RedrivePolicy":"{\"deadLetterTargetArn\":\"{dlq_arn}\"}"}}"#,
            Some(
                r#"QueueUrl={url}&Attribute.1.Name=RedrivePolicy&Attribute.1.Value={"deadLetterTargetArn":"{dlq_arn}"}"#
            ),
            (
                400,
                "InvalidParameterValue",
                "InvalidParameterValue",
                r#"Value {"deadLetterTargetArn":"{dlq_arn}"} for parameter RedrivePolicy is invalid. Reason: Redrive policy does not contain mandatory attribute: maxReceiveCount."#
            )
        ),
        case!(
            "SetQueueAttributes with a RedrivePolicy naming no queue",
            "SetQueueAttributes",
            r#"{"QueueUrl":"{url}","Attributes":{"RedrivePolicy":"{\"deadLetterTargetArn\":\"{dlq_arn}-gone\",\"maxReceiveCount\":3}"}}"#,
            Some(
                r#"QueueUrl={url}&Attribute.1.Name=RedrivePolicy&Attribute.1.Value={"deadLetterTargetArn":"{dlq_arn}-gone","maxReceiveCount":3}"#
            ),
            (
                400,
                "InvalidParameterValue",
                "InvalidParameterValue",
                r#"Value {"deadLetterTargetArn":"{dlq_arn}-gone","maxReceiveCount":3} for parameter RedrivePolicy is invalid. Reason: Dead letter target does not exist."#
            )
        ),
        case!(
            "SetQueueAttributes with a RedrivePolicy whose target is no ARN",
            "SetQueueAttributes",
            r#"{"QueueUrl":"{url}","Attributes":{"RedrivePolicy":"{\"deadLetterTargetArn\":\"dlq\",\"maxReceiveCount\":3}"}}"#,
            Some(
                r#"QueueUrl={url}&Attribute.1.Name=RedrivePolicy&Attribute.1.Value={"deadLetterTargetArn":"dlq","maxReceiveCount":3}"#
            ),
            (
                400,
                "InvalidParameterValue",
                "InvalidParameterValue",
                r#"Value {"deadLetterTargetArn":"dlq","maxReceiveCount":3} for parameter RedrivePolicy is invalid. Reason: Invalid value for deadLetterTargetArn."#
            )
        ),
        case!(
            "ReceiveMessage of 11 messages",
            "ReceiveMessage",
            r#"{"QueueUrl":"{url}","MaxNumberOfMessages":11}"#,
            Some("QueueUrl={url}&MaxNumberOfMessages=11"),
            (
                400,
                "InvalidParameterValue",
                "InvalidParameterValue",
                "Value 11 for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided."
            )
        ),
        case!(
            "SendMessage with DelaySeconds past 15 minutes",
            "SendMessage",
            r#"{"QueueUrl":"{url}","MessageBody":"x","DelaySeconds":901}"#,
            Some("QueueUrl={url}&MessageBody=x&DelaySeconds=901"),
            (
                400,
                "InvalidParameterValue",
                "InvalidParameterValue",
                "Value 901 for parameter DelaySeconds is invalid. Reason: Must be between 0 and 900, if provided."
            )
        ),
        // FIFO queues (`{fifo}` is one), with AWS's texts (fifo.md §1–3).
        case!(
            "CreateQueue FifoQueue=true without the .fifo suffix",
            "CreateQueue",
            r#"{"QueueName":"plain","Attributes":{"FifoQueue":"true"}}"#,
            Some("QueueName=plain&Attribute.1.Name=FifoQueue&Attribute.1.Value=true"),
            (
                400,
                "InvalidParameterValue",
                "InvalidParameterValue",
                "Value plain for parameter QueueName is invalid. Reason: The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in length."
            )
        ),
        case!(
            "CreateQueue of a standard queue with FifoQueue=false",
            "CreateQueue",
            r#"{"QueueName":"plain","Attributes":{"FifoQueue":"false"}}"#,
            Some("QueueName=plain&Attribute.1.Name=FifoQueue&Attribute.1.Value=false"),
            (400, "InvalidAttributeName", "InvalidAttributeName", "Unknown Attribute FifoQueue.")
        ),
        case!(
            "CreateQueue of a standard queue with a DeduplicationScope",
            "CreateQueue",
            r#"{"QueueName":"plain","Attributes":{"DeduplicationScope":"queue"}}"#,
            Some("QueueName=plain&Attribute.1.Name=DeduplicationScope&Attribute.1.Value=queue"),
            (
                400,
                "InvalidAttributeName",
                "InvalidAttributeName",
                "You can specify the DeduplicationScope only when FifoQueue is set to true."
            )
        ),
        case!(
            "SetQueueAttributes FifoQueue=false on a FIFO queue",
            "SetQueueAttributes",
            r#"{"QueueUrl":"{fifo}","Attributes":{"FifoQueue":"false"}}"#,
            Some("QueueUrl={fifo}&Attribute.1.Name=FifoQueue&Attribute.1.Value=false"),
            (
                400,
                "InvalidAttributeValue",
                "InvalidAttributeValue",
                "Invalid value for the parameter FifoQueue. Reason: Modifying queue type is not supported."
            )
        ),
        case!(
            "SendMessage to a FIFO queue without a group",
            "SendMessage",
            r#"{"QueueUrl":"{fifo}","MessageBody":"x","MessageDeduplicationId":"d"}"#,
            Some("QueueUrl={fifo}&MessageBody=x&MessageDeduplicationId=d"),
            (400, "MissingParameter", "MissingParameter", "The request must contain the parameter MessageGroupId.")
        ),
        case!(
            "SendMessageBatch to a FIFO queue with an entry without a group",
            "SendMessageBatch",
            r#"{"QueueUrl":"{fifo}","Entries":[{"Id":"a","MessageBody":"x","MessageGroupId":"g","MessageDeduplicationId":"1"},{"Id":"b","MessageBody":"y","MessageDeduplicationId":"2"}]}"#,
            Some(
                "QueueUrl={fifo}&SendMessageBatchRequestEntry.1.Id=a&SendMessageBatchRequestEntry.1.MessageBody=x&SendMessageBatchRequestEntry.1.MessageGroupId=g&SendMessageBatchRequestEntry.1.MessageDeduplicationId=1&SendMessageBatchRequestEntry.2.Id=b&SendMessageBatchRequestEntry.2.MessageBody=y&SendMessageBatchRequestEntry.2.MessageDeduplicationId=2"
            ),
            (
                400,
                "InvalidParameterValue",
                "InvalidParameterValue",
                "The request must contain the parameter MessageGroupId."
            )
        ),
        case!(
            "SendMessage to a FIFO queue without a deduplication id",
            "SendMessage",
            r#"{"QueueUrl":"{fifo}","MessageBody":"x","MessageGroupId":"g"}"#,
            Some("QueueUrl={fifo}&MessageBody=x&MessageGroupId=g"),
            (
                400,
                "InvalidParameterValue",
                "InvalidParameterValue",
                "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly"
            )
        ),
        case!(
            "SendMessage to a FIFO queue with a message delay",
            "SendMessage",
            r#"{"QueueUrl":"{fifo}","MessageBody":"x","MessageGroupId":"g","MessageDeduplicationId":"d","DelaySeconds":2}"#,
            Some("QueueUrl={fifo}&MessageBody=x&MessageGroupId=g&MessageDeduplicationId=d&DelaySeconds=2"),
            (
                400,
                "InvalidParameterValue",
                "InvalidParameterValue",
                "Value 2 for parameter DelaySeconds is invalid. Reason: The request include parameter that is not valid for this queue type."
            )
        ),
        case!(
            "SendMessage to a FIFO queue with a deduplication id with a space",
            "SendMessage",
            r#"{"QueueUrl":"{fifo}","MessageBody":"x","MessageGroupId":"g","MessageDeduplicationId":"a b"}"#,
            Some("QueueUrl={fifo}&MessageBody=x&MessageGroupId=g&MessageDeduplicationId=a b"),
            (
                400,
                "InvalidParameterValue",
                "InvalidParameterValue",
                "Value a b for parameter MessageDeduplicationId is invalid. Reason: MessageDeduplicationId can only include alphanumeric and punctuation characters. 1 to 128 in length."
            )
        ),
        // 4. A KmsMasterKeyId is checked when a send uses it.
        case!(
            "SendMessage to a queue whose KmsMasterKeyId names no key",
            "SendMessage",
            r#"{"QueueUrl":"{kms}","MessageBody":"x"}"#,
            Some("QueueUrl={kms}&MessageBody=x"),
            (400, "KmsNotFound", "KMS.NotFoundException", "Alias alias/nowhere is not found.")
        ),
        case!(
            "SendMessageBatch to a queue whose KmsMasterKeyId names no key",
            "SendMessageBatch",
            r#"{"QueueUrl":"{kms}","Entries":[{"Id":"a","MessageBody":"x"}]}"#,
            Some("QueueUrl={kms}&SendMessageBatchRequestEntry.1.Id=a&SendMessageBatchRequestEntry.1.MessageBody=x"),
            (400, "KmsNotFound", "KMS.NotFoundException", "Alias alias/nowhere is not found.")
        ),
        // 5. A deployment serves one region: a signature scoped to another is refused.
        case!(
            "ListQueues signed for another region",
            "ListQueues",
            r#"{}"#,
            Some(""),
            (
                403,
                "SignatureDoesNotMatch",
                "SignatureDoesNotMatch",
                "Credential should be scoped to a valid region, not 'us-east-1'. "
            ),
            signed_for = "us-east-1"
        ),
        case!(
            "SendMessage signed for another region",
            "SendMessage",
            r#"{"QueueUrl":"{url}","MessageBody":"x"}"#,
            Some("QueueUrl={url}&MessageBody=x"),
            (
                403,
                "SignatureDoesNotMatch",
                "SignatureDoesNotMatch",
                "Credential should be scoped to a valid region, not 'eu-west-1'. "
            ),
            signed_for = "eu-west-1"
        ),
        // 11. Nesting past the bound is refused before the body is parsed, even under a
        // member nobody reads.
        case!(
            "SendMessage nested 70 levels under an unknown member",
            "SendMessage",
            r#"{"QueueUrl":"{url}","MessageBody":"x","Unknown":{deep}}"#,
            None,
            (400, "InvalidParameterValue", "InvalidParameterValue", "The request body nests deeper than 64 levels.")
        ),
    ]
}

/// A batch whose entries AWS answers one by one: the call succeeds, with these ids in
/// `Successful` and these (id, code, text) in `Failed`, each with SenderFault true.
struct EntryCase {
    what: &'static str,
    action: &'static str,
    json: &'static str,
    query: &'static str,
    successful: &'static [&'static str],
    failed: &'static [(&'static str, &'static str, &'static str)],
}

const BAD_HANDLE: &str = "The input receipt handle \"garbage\" is not a valid receipt handle.";

fn entry_cases() -> Vec<EntryCase> {
    vec![
        EntryCase {
            what: "SendMessageBatch with one entry delayed past 15 minutes",
            action: "SendMessageBatch",
            json: r#"{"QueueUrl":"{url}","Entries":[{"Id":"ok","MessageBody":"x"},{"Id":"late","MessageBody":"x","DelaySeconds":901}]}"#,
            query: "QueueUrl={url}&SendMessageBatchRequestEntry.1.Id=ok&SendMessageBatchRequestEntry.1.MessageBody=x&SendMessageBatchRequestEntry.2.Id=late&SendMessageBatchRequestEntry.2.MessageBody=x&SendMessageBatchRequestEntry.2.DelaySeconds=901",
            successful: &["ok"],
            failed: &[(
                "late",
                "InvalidParameterValue",
                "Value 901 for parameter DelaySeconds is invalid. Reason: Must be between 0 and 900, if provided.",
            )],
        },
        EntryCase {
            what: "SendMessageBatch with one entry's attribute of no known type",
            action: "SendMessageBatch",
            json: r#"{"QueueUrl":"{url}","Entries":[{"Id":"ok","MessageBody":"x"},{"Id":"typed","MessageBody":"x","MessageAttributes":{"a":{"DataType":"Bogus","StringValue":"v"}}}]}"#,
            query: "QueueUrl={url}&SendMessageBatchRequestEntry.1.Id=ok&SendMessageBatchRequestEntry.1.MessageBody=x&SendMessageBatchRequestEntry.2.Id=typed&SendMessageBatchRequestEntry.2.MessageBody=x&SendMessageBatchRequestEntry.2.MessageAttribute.1.Name=a&SendMessageBatchRequestEntry.2.MessageAttribute.1.Value.DataType=Bogus&SendMessageBatchRequestEntry.2.MessageAttribute.1.Value.StringValue=v",
            successful: &["ok"],
            failed: &[(
                "typed",
                "InvalidParameterValue",
                "The message attribute 'a' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String.",
            )],
        },
        EntryCase {
            what: "SendMessageBatch with one body of a character XML forbids",
            action: "SendMessageBatch",
            json: r#"{"QueueUrl":"{url}","Entries":[{"Id":"ok","MessageBody":"x"},{"Id":"bell","MessageBody":"\u0001"}]}"#,
            query: "QueueUrl={url}&SendMessageBatchRequestEntry.1.Id=ok&SendMessageBatchRequestEntry.1.MessageBody=x&SendMessageBatchRequestEntry.2.Id=bell&SendMessageBatchRequestEntry.2.MessageBody=\u{1}",
            successful: &["ok"],
            failed: &[(
                "bell",
                "InvalidMessageContents",
                "Invalid binary character '#x1' was found in the message body, the set of allowed characters is #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF",
            )],
        },
        EntryCase {
            what: "DeleteMessageBatch with a receipt handle of no receive beside a good one",
            action: "DeleteMessageBatch",
            json: r#"{"QueueUrl":"{url}","Entries":[{"Id":"ok","ReceiptHandle":"{handle}"},{"Id":"bad","ReceiptHandle":"garbage"}]}"#,
            query: "QueueUrl={url}&DeleteMessageBatchRequestEntry.1.Id=ok&DeleteMessageBatchRequestEntry.1.ReceiptHandle={handle}&DeleteMessageBatchRequestEntry.2.Id=bad&DeleteMessageBatchRequestEntry.2.ReceiptHandle=garbage",
            successful: &["ok"],
            failed: &[("bad", "ReceiptHandleIsInvalid", BAD_HANDLE)],
        },
        EntryCase {
            what: "ChangeMessageVisibilityBatch with a receipt handle of no receive beside a good one",
            action: "ChangeMessageVisibilityBatch",
            json: r#"{"QueueUrl":"{url}","Entries":[{"Id":"ok","ReceiptHandle":"{handle}","VisibilityTimeout":5},{"Id":"bad","ReceiptHandle":"garbage","VisibilityTimeout":5}]}"#,
            query: "QueueUrl={url}&ChangeMessageVisibilityBatchRequestEntry.1.Id=ok&ChangeMessageVisibilityBatchRequestEntry.1.ReceiptHandle={handle}&ChangeMessageVisibilityBatchRequestEntry.1.VisibilityTimeout=5&ChangeMessageVisibilityBatchRequestEntry.2.Id=bad&ChangeMessageVisibilityBatchRequestEntry.2.ReceiptHandle=garbage&ChangeMessageVisibilityBatchRequestEntry.2.VisibilityTimeout=5",
            successful: &["ok"],
            failed: &[("bad", "ReceiptHandleIsInvalid", BAD_HANDLE)],
        },
    ]
}

/// (Successful ids, Failed (id, code, text, sender fault)) of a JSON batch answer.
type Entries = (Vec<String>, Vec<(String, String, String, bool)>);

fn json_entries(r: &RawResponse) -> Option<Entries> {
    let v: serde_json::Value = serde_json::from_str(&r.body).ok()?;
    let ok = v["Successful"]
        .as_array()
        .map_or_else(Vec::new, |a| a.iter().filter_map(|e| e["Id"].as_str().map(str::to_owned)).collect());
    let failed = v["Failed"].as_array().map_or_else(Vec::new, |a| {
        a.iter()
            .map(|e| {
                let t = |k: &str| e[k].as_str().unwrap_or_default().to_owned();
                (t("Id"), t("Code"), t("Message"), e["SenderFault"] == true)
            })
            .collect()
    });
    Some((ok, failed))
}

fn xml_entries(r: &RawResponse, action: &str) -> Entries {
    let ok_tag = format!("<{action}ResultEntry>");
    let ok = r.body.split(&ok_tag).skip(1).filter_map(|part| xml_text(part, "Id")).collect();
    let failed = r
        .body
        .split("<BatchResultErrorEntry>")
        .skip(1)
        .map(|part| {
            let t = |k: &str| xml_text(part, k).unwrap_or_default();
            (t("Id"), t("Code"), t("Message"), t("SenderFault") == "true")
        })
        .collect();
    (ok, failed)
}

/// Runs `c` in JSON (`json`) or as query parameters.
async fn run_entries(raw: &RawClient, fill: &Fill, c: &EntryCase, json: bool) -> Option<String> {
    let want: Entries = (
        c.successful.iter().map(|s| s.to_string()).collect(),
        c.failed.iter().map(|(i, k, t)| (i.to_string(), k.to_string(), t.to_string(), true)).collect(),
    );
    if json {
        let r = raw.call(c.action, &fill.apply(c.json)).await;
        (r.status != 200 || json_entries(&r).as_ref() != Some(&want)).then(|| format!("JSON: {} {}", r.status, r.body))
    } else {
        let r = raw.query(c.action, &query_params(fill, c.query)).await;
        (r.status != 200 || xml_entries(&r, c.action) != want).then(|| format!("query: {} {}", r.status, r.body))
    }
}

/// The placeholders of a request, filled for this caller.
struct Fill {
    url: String,
    /// A FIFO queue of the caller's.
    fifo: String,
    /// A queue of another account, and that account.
    theirs: String,
    other: String,
    /// A receipt handle of a message received from `url` and still in flight.
    handle: String,
    kms: String,
    dlq_arn: String,
    missing: String,
    account: String,
}

impl Fill {
    fn apply(&self, template: &str) -> String {
        let deep = format!("{}0{}", "[".repeat(70), "]".repeat(70));
        template
            .replace("{url}", &self.url)
            .replace("{kms}", &self.kms)
            .replace("{fifo}", &self.fifo)
            .replace("{theirs}", &self.theirs)
            .replace("{other}", &self.other)
            .replace("{handle}", &self.handle)
            .replace("{dlq_arn}", &self.dlq_arn)
            .replace("{k129}", &"k".repeat(129))
            .replace("{missing}", &self.missing)
            .replace("{acct}", &self.account)
            .replace("{deep}", &deep)
    }
}

fn query_params(fill: &Fill, query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k.to_owned(), fill.apply(v))
        })
        .collect()
}

fn xml_text(body: &str, tag: &str) -> Option<String> {
    let start = body.find(&format!("<{tag}>"))? + tag.len() + 2;
    let end = body[start..].find(&format!("</{tag}>"))? + start;
    Some(
        body[start..end]
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}

/// What differs from the expected answer, if anything.
fn json_mismatch(c: &Case, text: &str, r: &RawResponse) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(&r.body).ok()?;
    let shape = format!("com.amazonaws.sqs#{}", c.shape);
    let header = format!("{};Sender", c.code);
    let ok = r.status == c.status
        && v["__type"] == shape.as_str()
        && v["message"] == text
        && r.header("x-amzn-query-error") == Some(header.as_str());
    (!ok).then(|| format!("JSON: {} {:?} {}", r.status, r.header("x-amzn-query-error"), r.body))
}

fn query_mismatch(c: &Case, text: &str, r: &RawResponse) -> Option<String> {
    let ok = r.status == c.status
        && xml_text(&r.body, "Code").as_deref() == Some(c.code)
        && xml_text(&r.body, "Message").as_deref() == Some(text)
        && xml_text(&r.body, "Type").as_deref() == Some("Sender");
    (!ok).then(|| format!("query: {} {}", r.status, r.body))
}

async fn run(raw: &RawClient, fill: &Fill, c: &Case) -> Vec<String> {
    let mut wrong = Vec::new();
    let text = fill.apply(c.text);
    let r = raw.call_in(c.region, c.action, &fill.apply(c.json)).await;
    wrong.extend(json_mismatch(c, &text, &r));
    if let Some(q) = c.query {
        let r = raw.query_in(c.region, c.action, &query_params(fill, q)).await;
        wrong.extend(query_mismatch(c, &text, &r));
    }
    wrong
}

#[tokio::test]
async fn every_case_is_answered_as_aws_answers_it_in_both_protocols() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    let url = sqs.create_queue().queue_name("answers").send().await.unwrap().queue_url().unwrap().to_owned();
    let kms = sqs
        .create_queue()
        .queue_name("answers-kms")
        .attributes(aws_sdk_sqs::types::QueueAttributeName::KmsMasterKeyId, "alias/nowhere")
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    let dlq = sqs.create_queue().queue_name("answers-dlq").send().await.unwrap().queue_url().unwrap().to_owned();
    let dlq_arn = format!("arn:aws:sqs:{}:{}:answers-dlq", crate::harness::REGION, a.id);
    let b = s.account().await;
    let theirs = s.sqs(&b).create_queue().queue_name("theirs").send().await.unwrap().queue_url().unwrap().to_owned();
    let fifo = sqs
        .create_queue()
        .queue_name("answers.fifo")
        .attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true")
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    let mut fill = Fill {
        url: url.clone(),
        fifo,
        theirs,
        other: b.id.clone(),
        handle: String::new(),
        kms,
        dlq_arn,
        missing: s.queue_url(&a, "nope"),
        account: a.id.clone(),
    };
    let raw = s.raw(&a);
    let mut wrong = Vec::new();
    for c in cases() {
        for w in run(&raw, &fill, &c).await {
            wrong.push(format!("{}: expected {} {} {:?}; got {w}", c.what, c.status, c.code, c.text));
        }
    }
    // Per-entry answers: each case gets a fresh message in flight for its good entry.
    for c in entry_cases() {
        for json in [true, false] {
            sqs.send_message().queue_url(&url).message_body("in flight").send().await.unwrap();
            let got = sqs.receive_message().queue_url(&url).visibility_timeout(600).send().await.unwrap();
            fill.handle = got.messages()[0].receipt_handle().unwrap().to_owned();
            if let Some(w) = run_entries(&raw, &fill, &c, json).await {
                wrong
                    .push(format!("{}: expected Successful {:?} Failed {:?}; got {w}", c.what, c.successful, c.failed));
            }
        }
    }
    // 3. GetQueueAttributes renders a RedrivePolicy as AWS does: deadLetterTargetArn first,
    // maxReceiveCount a number, however it was written.
    use aws_sdk_sqs::types::QueueAttributeName as N;
    let written = format!(r#"{{ "maxReceiveCount": "5", "deadLetterTargetArn": "{}" }}"#, fill.dlq_arn);
    sqs.set_queue_attributes().queue_url(&url).attributes(N::RedrivePolicy, written).send().await.unwrap();
    let got = sqs.get_queue_attributes().queue_url(&url).attribute_names(N::RedrivePolicy).send().await.unwrap();
    assert_eq!(
        got.attributes().unwrap()[&N::RedrivePolicy],
        format!(r#"{{"deadLetterTargetArn":"{}","maxReceiveCount":5}}"#, fill.dlq_arn)
    );
    // Nothing a refused case named came to exist.
    let listed = sqs.list_queues().send().await.unwrap();
    assert_eq!(listed.queue_urls().len(), 4);
    let _ = dlq;
    let n = cases().len() + entry_cases().len();
    assert!(wrong.is_empty(), "{} answers of {n} cases differ:\n{}", wrong.len(), wrong.join("\n"));
}

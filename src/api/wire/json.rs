//! AWS JSON 1.0 request and response shapes (member names exactly as the SQS model has them).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::api::Targeted;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateQueueInput {
    pub queue_name: Option<String>,
    pub attributes: Option<HashMap<String, String>>,
    /// Lower case in the model.
    #[serde(rename = "tags")]
    pub tags: Option<std::collections::BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetQueueUrlInput {
    pub queue_name: Option<String>,
    #[serde(rename = "QueueOwnerAWSAccountId")]
    pub queue_owner_aws_account_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListQueuesInput {
    pub queue_name_prefix: Option<String>,
    pub next_token: Option<String>,
    pub max_results: Option<i32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct QueueUrlInput {
    pub queue_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MessageAttributeValue {
    pub data_type: Option<String>,
    pub string_value: Option<String>,
    /// Base64 in JSON.
    pub binary_value: Option<String>,
    pub string_list_values: Option<Vec<String>>,
    pub binary_list_values: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SendMessageInput {
    pub queue_url: Option<String>,
    pub message_body: Option<String>,
    pub delay_seconds: Option<i32>,
    pub message_attributes: Option<HashMap<String, MessageAttributeValue>>,
    pub message_system_attributes: Option<HashMap<String, MessageAttributeValue>>,
    pub message_deduplication_id: Option<String>,
    pub message_group_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SendMessageBatchEntry {
    pub id: Option<String>,
    pub message_body: Option<String>,
    pub delay_seconds: Option<i32>,
    pub message_attributes: Option<HashMap<String, MessageAttributeValue>>,
    pub message_system_attributes: Option<HashMap<String, MessageAttributeValue>>,
    pub message_deduplication_id: Option<String>,
    pub message_group_id: Option<String>,
}

/// The input of the three batch actions: a queue and its entries.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BatchInput<E> {
    pub queue_url: Option<String>,
    pub entries: Option<Vec<E>>,
}

pub type SendMessageBatchInput = BatchInput<SendMessageBatchEntry>;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteMessageBatchEntry {
    pub id: Option<String>,
    pub receipt_handle: Option<String>,
}

pub type DeleteMessageBatchInput = BatchInput<DeleteMessageBatchEntry>;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ChangeMessageVisibilityBatchEntry {
    pub id: Option<String>,
    pub receipt_handle: Option<String>,
    pub visibility_timeout: Option<i32>,
}

pub type ChangeMessageVisibilityBatchInput = BatchInput<ChangeMessageVisibilityBatchEntry>;

#[derive(Debug, Serialize)]
pub struct BatchResultError {
    #[serde(rename = "Id")]
    pub id: String,
    #[serde(rename = "SenderFault")]
    pub sender_fault: bool,
    #[serde(rename = "Code")]
    pub code: String,
    #[serde(rename = "Message")]
    pub message: String,
}

#[derive(Debug, Serialize)]
pub struct SendBatchResultEntry {
    #[serde(rename = "Id")]
    pub id: String,
    #[serde(flatten)]
    pub result: SendMessageOutput,
}

#[derive(Debug, Serialize)]
pub struct IdEntry {
    #[serde(rename = "Id")]
    pub id: String,
}

/// Both lists are required members: sent even when empty.
#[derive(Debug, Serialize)]
pub struct BatchOutput<T> {
    #[serde(rename = "Successful")]
    pub successful: Vec<T>,
    #[serde(rename = "Failed")]
    pub failed: Vec<BatchResultError>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReceiveMessageInput {
    pub queue_url: Option<String>,
    pub attribute_names: Option<Vec<String>>,
    pub message_system_attribute_names: Option<Vec<String>>,
    pub message_attribute_names: Option<Vec<String>>,
    pub max_number_of_messages: Option<i32>,
    pub visibility_timeout: Option<i32>,
    pub wait_time_seconds: Option<i32>,
    pub receive_request_attempt_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteMessageInput {
    pub queue_url: Option<String>,
    pub receipt_handle: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListDeadLetterSourceQueuesInput {
    pub queue_url: Option<String>,
    pub next_token: Option<String>,
    pub max_results: Option<i32>,
}

#[derive(Debug, Serialize)]
pub struct ListDeadLetterSourceQueuesOutput {
    /// Lower case in the model, and required.
    #[serde(rename = "queueUrls")]
    pub queue_urls: Vec<String>,
    #[serde(rename = "NextToken", skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagQueueInput {
    pub queue_url: Option<String>,
    pub tags: Option<std::collections::BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UntagQueueInput {
    pub queue_url: Option<String>,
    pub tag_keys: Option<Vec<String>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListQueueTagsOutput {
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub tags: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetQueueAttributesInput {
    pub queue_url: Option<String>,
    pub attribute_names: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SetQueueAttributesInput {
    pub queue_url: Option<String>,
    pub attributes: Option<HashMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ChangeMessageVisibilityInput {
    pub queue_url: Option<String>,
    pub receipt_handle: Option<String>,
    pub visibility_timeout: Option<i32>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetQueueAttributesOutput {
    #[serde(skip_serializing_if = "HashMap::is_empty")]
    pub attributes: HashMap<&'static str, String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct QueueUrlOutput {
    pub queue_url: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListQueuesOutput {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub queue_urls: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct SendMessageOutput {
    #[serde(rename = "MessageId")]
    pub message_id: String,
    #[serde(rename = "MD5OfMessageBody")]
    pub md5_of_message_body: String,
    #[serde(rename = "MD5OfMessageAttributes", skip_serializing_if = "Option::is_none")]
    pub md5_of_message_attributes: Option<String>,
    #[serde(rename = "MD5OfMessageSystemAttributes", skip_serializing_if = "Option::is_none")]
    pub md5_of_message_system_attributes: Option<String>,
    #[serde(rename = "SequenceNumber", skip_serializing_if = "Option::is_none")]
    pub sequence_number: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttributeValueOut {
    pub data_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub string_value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub binary_value: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct MessageOut {
    #[serde(rename = "MessageId")]
    pub message_id: String,
    #[serde(rename = "ReceiptHandle")]
    pub receipt_handle: String,
    #[serde(rename = "MD5OfBody")]
    pub md5_of_body: String,
    #[serde(rename = "Body")]
    pub body: String,
    #[serde(rename = "Attributes", skip_serializing_if = "HashMap::is_empty")]
    pub attributes: HashMap<&'static str, String>,
    #[serde(rename = "MD5OfMessageAttributes", skip_serializing_if = "Option::is_none")]
    pub md5_of_message_attributes: Option<String>,
    #[serde(rename = "MessageAttributes", skip_serializing_if = "HashMap::is_empty")]
    pub message_attributes: HashMap<String, AttributeValueOut>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReceiveMessageOutput {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<MessageOut>,
}

/// `{}`: the answer of actions with no output.
#[derive(Debug, Serialize)]
pub struct Empty {}

impl Targeted for CreateQueueInput {
    fn queue_name(&self) -> Option<&str> {
        self.queue_name.as_deref()
    }
    /// Tagging at creation also needs `sqs:TagQueue`.
    fn has_tags(&self) -> bool {
        self.tags.as_ref().is_some_and(|t| !t.is_empty())
    }
    fn request_tags(&self) -> (Vec<(&str, &str)>, Vec<&str>) {
        let tags = self.tags.iter().flatten().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        (tags, Vec::new())
    }
}

impl Targeted for GetQueueUrlInput {
    fn queue_name(&self) -> Option<&str> {
        self.queue_name.as_deref()
    }
    fn queue_owner(&self) -> Option<&str> {
        self.queue_owner_aws_account_id.as_deref()
    }
}

macro_rules! targeted_by_url {
    ($($t:ty),*) => {$(
        impl Targeted for $t {
            fn queue_url(&self) -> Option<&str> {
                self.queue_url.as_deref()
            }
        }
    )*};
}
impl Targeted for TagQueueInput {
    fn queue_url(&self) -> Option<&str> {
        self.queue_url.as_deref()
    }
    fn request_tags(&self) -> (Vec<(&str, &str)>, Vec<&str>) {
        (self.tags.iter().flatten().map(|(k, v)| (k.as_str(), v.as_str())).collect(), Vec::new())
    }
}

impl Targeted for UntagQueueInput {
    fn queue_url(&self) -> Option<&str> {
        self.queue_url.as_deref()
    }
    fn request_tags(&self) -> (Vec<(&str, &str)>, Vec<&str>) {
        (Vec::new(), self.tag_keys.iter().flatten().map(String::as_str).collect())
    }
}

targeted_by_url!(
    QueueUrlInput,
    SendMessageInput,
    ReceiveMessageInput,
    DeleteMessageInput,
    GetQueueAttributesInput,
    SetQueueAttributesInput,
    ChangeMessageVisibilityInput,
    ListDeadLetterSourceQueuesInput
);

impl<E> Targeted for BatchInput<E> {
    fn queue_url(&self) -> Option<&str> {
        self.queue_url.as_deref()
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StartMessageMoveTaskInput {
    pub source_arn: Option<String>,
    pub destination_arn: Option<String>,
    pub max_number_of_messages_per_second: Option<i32>,
}

impl Targeted for StartMessageMoveTaskInput {
    fn source_arn(&self) -> Option<&str> {
        self.source_arn.as_deref()
    }
    fn destination_arn(&self) -> Option<&str> {
        self.destination_arn.as_deref()
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListMessageMoveTasksInput {
    pub source_arn: Option<String>,
    pub max_results: Option<i32>,
}

impl Targeted for ListMessageMoveTasksInput {
    fn source_arn(&self) -> Option<&str> {
        self.source_arn.as_deref()
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CancelMessageMoveTaskInput {
    pub task_handle: Option<String>,
}

impl Targeted for CancelMessageMoveTaskInput {
    fn task_handle(&self) -> Option<&str> {
        self.task_handle.as_deref()
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TaskHandleOutput {
    pub task_handle: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CancelMessageMoveTaskOutput {
    pub approximate_number_of_messages_moved: i64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MoveTaskEntry {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_handle: Option<String>,
    pub status: String,
    pub source_arn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_number_of_messages_per_second: Option<i32>,
    pub approximate_number_of_messages_moved: i64,
    pub approximate_number_of_messages_to_move: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    pub started_timestamp: i64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListMessageMoveTasksOutput {
    pub results: Vec<MoveTaskEntry>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AddPermissionInput {
    pub queue_url: Option<String>,
    pub label: Option<String>,
    #[serde(rename = "AWSAccountIds")]
    pub aws_account_ids: Option<Vec<String>>,
    pub actions: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RemovePermissionInput {
    pub queue_url: Option<String>,
    pub label: Option<String>,
}

targeted_by_url!(AddPermissionInput, RemovePermissionInput);

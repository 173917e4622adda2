"""FIFO calls as a boto3 program makes them, under whichever botocore runs it (current: the
JSON protocol; 1.34.89: the query protocol): create, send with group and deduplication ids,
a batch, a duplicate, ordered receive with the FIFO system attributes, a receive attempt
retried, delete. Prints one line per check; exits non-zero on the first that does not hold.
Env: SLUICE_ENDPOINT, SLUICE_CA, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY."""
import os

import boto3
import botocore

sqs = boto3.client(
    "sqs", endpoint_url=os.environ["SLUICE_ENDPOINT"], region_name="local", verify=os.environ["SLUICE_CA"]
)
print("botocore", botocore.__version__)
url = sqs.create_queue(
    QueueName="boto-orders.fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"}
)["QueueUrl"]
attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
assert attrs["FifoQueue"] == "true" and attrs["ContentBasedDeduplication"] == "true", attrs

first = sqs.send_message(QueueUrl=url, MessageBody="order 1", MessageGroupId="customer-7")
dup = sqs.send_message(QueueUrl=url, MessageBody="order 1", MessageGroupId="customer-7")
assert dup["MessageId"] == first["MessageId"] and dup["SequenceNumber"] == first["SequenceNumber"], (first, dup)
batch = sqs.send_message_batch(
    QueueUrl=url,
    Entries=[
        {"Id": "a", "MessageBody": "order 2", "MessageGroupId": "customer-7", "MessageDeduplicationId": "o2"},
        {"Id": "b", "MessageBody": "order 3", "MessageGroupId": "customer-7", "MessageDeduplicationId": "o3"},
    ],
)
seqs = [first["SequenceNumber"]] + [e["SequenceNumber"] for e in batch["Successful"]]
assert seqs == sorted(seqs) and len(set(seqs)) == 3, seqs
print("send: sequence numbers grow, a duplicate answers the first message")

try:
    sqs.send_message(QueueUrl=url, MessageBody="no group")
    raise SystemExit("a send without MessageGroupId was accepted")
except botocore.exceptions.ClientError as e:
    assert e.response["Error"]["Code"] == "MissingParameter", e.response

got = sqs.receive_message(
    QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"], ReceiveRequestAttemptId="attempt-1"
)
bodies = [m["Body"] for m in got["Messages"]]
assert bodies == ["order 1", "order 2", "order 3"], bodies
head = got["Messages"][0]["Attributes"]
assert head["MessageGroupId"] == "customer-7" and head["SequenceNumber"] == seqs[0], head
assert len(head["MessageDeduplicationId"]) == 64, head
again = sqs.receive_message(
    QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"], ReceiveRequestAttemptId="attempt-1"
)
assert [m["ReceiptHandle"] for m in again["Messages"]] == [m["ReceiptHandle"] for m in got["Messages"]]
print("receive: in order, with FIFO attributes; a retried attempt gets the same handles")

for m in got["Messages"]:
    sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
assert "Messages" not in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
print("delete: the queue is empty")

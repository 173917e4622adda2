"""A new user's boto3 session against `sluice serve` (endpoint, CA and keys from the files
serve printed): `setup POLICY_FILE` creates the queue and pastes the queue policy;
`receive` long-polls one message and prints its body."""

import sys

import boto3

sqs = boto3.client("sqs")
if sys.argv[1] == "setup":
    url = sqs.create_queue(QueueName="uploads-events")["QueueUrl"]
    with open(sys.argv[2]) as f:
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": f.read()})
    print(url)
else:
    url = sqs.get_queue_url(QueueName="uploads-events")["QueueUrl"]
    got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5, MessageAttributeNames=["All"])
    print(got["Messages"][0]["Body"])

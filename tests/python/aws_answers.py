"""What boto3 programs written against AWS assert on, against `sluice serve`: a missing
queue raises the modeled QueueDoesNotExist (by name and by a made-up URL), and a batch with
one invalid entry fails that entry alone. Prints one line per check; exits non-zero on the
first that does not hold."""

import sys

import boto3

sqs = boto3.client("sqs")


def expect_missing(what, call):
    try:
        call()
    except sqs.exceptions.QueueDoesNotExist as e:
        status = e.response["ResponseMetadata"]["HTTPStatusCode"]
        assert status == 400, f"{what}: HTTP {status}"
        print(f"{what}: QueueDoesNotExist")
        return
    sys.exit(f"{what}: no QueueDoesNotExist")


expect_missing("get_queue_url", lambda: sqs.get_queue_url(QueueName="no-such-queue"))
made_up = sqs.meta.endpoint_url + "/000000000000/no-such-queue"
expect_missing("send_message", lambda: sqs.send_message(QueueUrl=made_up, MessageBody="x"))
expect_missing("send_message to no URL", lambda: sqs.send_message(QueueUrl="no-such-queue", MessageBody="x"))

url = sqs.create_queue(QueueName="answers")["QueueUrl"]
out = sqs.send_message_batch(
    QueueUrl=url,
    Entries=[
        {"Id": "ok", "MessageBody": "fine"},
        {"Id": "late", "MessageBody": "too late", "DelaySeconds": 901},
    ],
)
ok = [e["Id"] for e in out.get("Successful", [])]
failed = [(e["Id"], e["Code"], e["SenderFault"]) for e in out.get("Failed", [])]
assert ok == ["ok"], out
assert [f[0] for f in failed] == ["late"] and failed[0][2] is True, out
print("send_message_batch:", "Successful", ok, "Failed", failed[0][0], failed[0][1])

"""A send/receive/delete round trip with boto3 1.34.89, the last release whose SQS client
spoke the query protocol. Every request it sends is checked to be form-encoded.
Env: SLUICE_ENDPOINT, SLUICE_CA, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY."""
import os
import sys

import boto3
import botocore

seen = []


def check_request(request, **kwargs):
    ctype = request.headers.get("Content-Type", b"")
    if isinstance(ctype, bytes):
        ctype = ctype.decode()
    body = request.body or b""
    if isinstance(body, str):
        body = body.encode()
    if not ctype.startswith("application/x-www-form-urlencoded") or b"Action=" not in body:
        raise AssertionError(f"not a query-protocol request: {ctype!r} {body[:80]!r}")
    if "X-Amz-Target" in request.headers:
        raise AssertionError("a JSON-protocol header was sent")
    seen.append(body.split(b"&", 1)[0].decode())


def main():
    print("botocore", botocore.__version__)
    sqs = boto3.client(
        "sqs",
        endpoint_url=os.environ["SLUICE_ENDPOINT"],
        region_name="local",
        verify=os.environ["SLUICE_CA"],
    )
    sqs.meta.events.register("before-send.sqs.*", check_request)
    url = sqs.create_queue(QueueName="boto-query", Attributes={"VisibilityTimeout": "40"})["QueueUrl"]
    body = "query protocol: \r\n & <xml> ünïcødé"
    sent = sqs.send_message(
        QueueUrl=url,
        MessageBody=body,
        MessageAttributes={"n": {"DataType": "Number", "StringValue": "7"}},
    )
    got = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"], AttributeNames=["All"])
    msgs = got["Messages"]
    assert len(msgs) == 1, got
    m = msgs[0]
    assert m["Body"] == body, repr(m["Body"])
    assert m["MD5OfBody"] == sent["MD5OfMessageBody"]
    assert m["MessageAttributes"]["n"]["StringValue"] == "7"
    assert m["Attributes"]["ApproximateReceiveCount"] == "1"
    sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    try:
        sqs.get_queue_url(QueueName="does-not-exist")
        raise AssertionError("expected an error")
    except sqs.exceptions.QueueDoesNotExist as e:
        assert e.response["Error"]["Code"] == "AWS.SimpleQueueService.NonExistentQueue", e.response
    assert seen[:4] == ["Action=CreateQueue", "Action=SendMessage", "Action=ReceiveMessage", "Action=DeleteMessage"], seen
    print("query round trip ok")


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # noqa: BLE001
        print(f"FAILED: {e!r}", file=sys.stderr)
        sys.exit(1)

"""The SDK's own role flow against `sluice serve`. `setup` (as the bootstrap root): a user
`dev` with a key, a role `worker` that trusts it and may send to queue `jobs`; prints the
user's key id and secret. `use`: with a profile that has `role_arn` and `source_profile`,
boto3 assumes the role through Sluice's STS itself, then sends and says who it is."""

import sys

import boto3

if sys.argv[1] == "setup":
    iam = boto3.client("iam")
    iam.create_user(UserName="dev")
    key = iam.create_access_key(UserName="dev")["AccessKey"]
    trust = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:user/dev"},"Action":"sts:AssumeRole"}]}'
    iam.create_role(RoleName="worker", AssumeRolePolicyDocument=trust, MaxSessionDuration=7200)
    policy = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["sqs:SendMessage","sqs:GetQueueUrl"],"Resource":"arn:aws:sqs:*:000000000000:jobs"}]}'
    iam.put_role_policy(RoleName="worker", PolicyName="send", PolicyDocument=policy)
    boto3.client("sqs").create_queue(QueueName="jobs")
    print(key["AccessKeyId"], key["SecretAccessKey"])
else:
    session = boto3.Session(profile_name="worker")
    sqs = session.client("sqs")
    url = sqs.get_queue_url(QueueName="jobs")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="sent by the role session")
    print(session.client("sts").get_caller_identity()["Arn"])
    try:
        sqs.receive_message(QueueUrl=url)
        print("receive: allowed")
    except sqs.exceptions.ClientError as e:
        print("receive:", e.response["Error"]["Code"])

// One round trip with the AWS SDK for JavaScript v3, whose SQS middleware checks
// MD5OfMessageBody on send and receive by default (it throws on a mismatch). The message
// attribute digest is recomputed here independently, with Node's own crypto.
// Env: SLUICE_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, NODE_EXTRA_CA_CERTS.
const crypto = require("node:crypto");
const { SQSClient, CreateQueueCommand, SendMessageCommand, SendMessageBatchCommand, ReceiveMessageCommand,
  DeleteMessageCommand } = require("@aws-sdk/client-sqs");

function attributesMd5(attrs) {
  const parts = [];
  const len = (b) => { const l = Buffer.alloc(4); l.writeUInt32BE(b.length); return l; };
  for (const name of Object.keys(attrs).sort()) {
    const a = attrs[name];
    const n = Buffer.from(name, "utf8"), t = Buffer.from(a.DataType, "utf8");
    parts.push(len(n), n, len(t), t);
    if (a.DataType.startsWith("Binary")) {
      const v = Buffer.from(a.BinaryValue);
      parts.push(Buffer.from([2]), len(v), v);
    } else {
      const v = Buffer.from(a.StringValue, "utf8");
      parts.push(Buffer.from([1]), len(v), v);
    }
  }
  return crypto.createHash("md5").update(Buffer.concat(parts)).digest("hex");
}

async function main() {
  const sqs = new SQSClient({ endpoint: process.env.SLUICE_ENDPOINT, region: "local" });
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: "node-roundtrip" }));
  const body = "line one\r\nligne deux – ünïcødé 😀\rend";
  const attrs = {
    "trace.id": { DataType: "String.custom", StringValue: "a\r\nb" },
    count: { DataType: "Number.int", StringValue: "42" },
    blob: { DataType: "Binary.gz", BinaryValue: Uint8Array.from([0, 1, 254, 255]) },
  };
  const sent = await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: body, MessageAttributes: attrs }));
  if (sent.MD5OfMessageAttributes !== attributesMd5(attrs)) throw new Error("send: attribute MD5 mismatch");
  const got = await sqs.send(new ReceiveMessageCommand({ QueueUrl, MessageAttributeNames: ["All"], WaitTimeSeconds: 1 }));
  const m = got.Messages[0];
  if (m.Body !== body) throw new Error("body changed in transit");
  if (m.MD5OfMessageAttributes !== attributesMd5(m.MessageAttributes)) throw new Error("receive: attribute MD5 mismatch");
  if (m.MD5OfMessageAttributes !== sent.MD5OfMessageAttributes) throw new Error("receive: digest differs from send");
  await sqs.send(new DeleteMessageCommand({ QueueUrl, ReceiptHandle: m.ReceiptHandle }));
  console.log("node round trip ok");

  // FIFO: group and deduplication ids, sequence numbers, order, a duplicate, and the MD5s the
  // SDK checks on send, batch and receive.
  const fifo = (await sqs.send(new CreateQueueCommand({
    QueueName: "node-orders.fifo", Attributes: { FifoQueue: "true" },
  }))).QueueUrl;
  const first = await sqs.send(new SendMessageCommand({
    QueueUrl: fifo, MessageBody: "order 1", MessageGroupId: "customer-7", MessageDeduplicationId: "o1",
    MessageAttributes: attrs,
  }));
  if (!/^[0-9]{20}$/.test(first.SequenceNumber)) throw new Error("no sequence number: " + first.SequenceNumber);
  const batch = await sqs.send(new SendMessageBatchCommand({ QueueUrl: fifo, Entries: [
    { Id: "a", MessageBody: "order 2", MessageGroupId: "customer-7", MessageDeduplicationId: "o2" },
    { Id: "b", MessageBody: "order 3", MessageGroupId: "customer-7", MessageDeduplicationId: "o3" },
  ] }));
  const seqs = [first.SequenceNumber, ...batch.Successful.map((e) => e.SequenceNumber)];
  if (!(seqs[0] < seqs[1] && seqs[1] < seqs[2])) throw new Error("sequence numbers do not grow: " + seqs);
  const dup = await sqs.send(new SendMessageCommand({
    QueueUrl: fifo, MessageBody: "order 1", MessageGroupId: "customer-7", MessageDeduplicationId: "o1",
  }));
  if (dup.MessageId !== first.MessageId) throw new Error("a duplicate got a new message id");
  const fifoGot = await sqs.send(new ReceiveMessageCommand({
    QueueUrl: fifo, MaxNumberOfMessages: 10, MessageAttributeNames: ["All"], MessageSystemAttributeNames: ["All"],
  }));
  const order = fifoGot.Messages.map((x) => x.Body).join(",");
  if (order !== "order 1,order 2,order 3") throw new Error("FIFO order: " + order);
  const head = fifoGot.Messages[0];
  if (head.Attributes.MessageGroupId !== "customer-7" || head.Attributes.MessageDeduplicationId !== "o1"
      || head.Attributes.SequenceNumber !== seqs[0]) throw new Error("FIFO attributes: " + JSON.stringify(head.Attributes));
  if (head.MD5OfMessageAttributes !== attributesMd5(head.MessageAttributes)) throw new Error("FIFO attribute MD5");
  console.log("node fifo ok");
  sqs.destroy();
}

main().catch((e) => { console.error(e); process.exit(1); });

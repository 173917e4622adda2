//! The legacy query protocol: form-encoded parameters in (`Action=…&QueueUrl=…`), XML out.
//! Parameters are turned into the same JSON shape the AWS JSON 1.0 protocol carries, so both
//! protocols share one action table and one set of handlers; answers are turned from that
//! shape into SQS's XML (flattened lists with singular element names).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::api::error::xml_escape;
use crate::error::SqsError;

/// Most parameters one query request may carry, and the largest list index.
const MAX_PARAMS: usize = 2_000;
const MAX_INDEX: usize = 1_000;
const MAX_DEPTH: usize = 8;

/// Members whose query values are integers in the model.
const INTEGERS: &[&str] = &[
    "DelaySeconds",
    "MaxNumberOfMessages",
    "VisibilityTimeout",
    "WaitTimeSeconds",
    "MaxResults",
    "MaxNumberOfMessagesPerSecond",
];

/// How a flattened query member maps to its JSON member.
enum Shape {
    /// `X.N` → a list.
    List(&'static str),
    /// `X.N.Name` / `X.N.Value` → a map (`Value` may itself be a structure).
    NameValue(&'static str),
    /// `X.N.Key` / `X.N.Value` → a map.
    KeyValue(&'static str),
    /// `X.N.member…` → a list of structures.
    Structures(&'static str),
}

fn shape(action: &str, name: &str) -> Option<Shape> {
    Some(match name {
        "Attribute" => Shape::NameValue("Attributes"),
        "AttributeName" => Shape::List("AttributeNames"),
        "MessageSystemAttributeName" => Shape::List("MessageSystemAttributeNames"),
        "MessageAttributeName" => Shape::List("MessageAttributeNames"),
        "MessageAttribute" => Shape::NameValue("MessageAttributes"),
        "MessageSystemAttribute" => Shape::NameValue("MessageSystemAttributes"),
        "Tag" | "Tags" if action == "CreateQueue" => Shape::KeyValue("tags"),
        "Tag" | "Tags" => Shape::KeyValue("Tags"),
        "TagKey" => Shape::List("TagKeys"),
        "AWSAccountId" => Shape::List("AWSAccountIds"),
        "ActionName" => Shape::List("Actions"),
        "SendMessageBatchRequestEntry"
        | "DeleteMessageBatchRequestEntry"
        | "ChangeMessageVisibilityBatchRequestEntry" => Shape::Structures("Entries"),
        _ => return None,
    })
}

/// A tree of flattened parameters: `A.1.B` → A → index 1 → B.
#[derive(Debug, Default)]
struct Node {
    value: Option<String>,
    children: BTreeMap<String, Node>,
}

impl Node {
    fn insert(&mut self, path: &[&str], value: String) {
        match path.split_first() {
            None => self.value = Some(value),
            Some((head, rest)) => self.children.entry((*head).to_owned()).or_default().insert(rest, value),
        }
    }

    /// Children with numeric names, in index order.
    fn indexed(&self) -> Vec<&Node> {
        let mut items: Vec<(usize, &Node)> =
            self.children.iter().filter_map(|(k, v)| k.parse::<usize>().ok().map(|i| (i, v))).collect();
        items.sort_by_key(|(i, _)| *i);
        items.into_iter().map(|(_, n)| n).collect()
    }
}

fn scalar(name: &str, v: &str) -> Value {
    if INTEGERS.contains(&name)
        && let Ok(n) = v.parse::<i64>()
    {
        return Value::from(n);
    }
    Value::String(v.to_owned())
}

/// A structure's members as JSON (used for the request and for batch entries).
fn structure(action: &str, node: &Node) -> Value {
    let mut out = Map::new();
    for (name, child) in &node.children {
        match shape(action, name) {
            Some(Shape::List(json)) => {
                let items = child.indexed().into_iter().filter_map(|n| n.value.clone().map(Value::String)).collect();
                out.insert(json.to_owned(), Value::Array(items));
            }
            Some(Shape::NameValue(json)) => {
                let mut map = Map::new();
                for item in child.indexed() {
                    let Some(key) = item.children.get("Name").and_then(|n| n.value.clone()) else { continue };
                    let value = match item.children.get("Value") {
                        Some(v) if !v.children.is_empty() => structure(action, v),
                        Some(v) => Value::String(v.value.clone().unwrap_or_default()),
                        None => Value::Null,
                    };
                    map.insert(key, value);
                }
                out.insert(json.to_owned(), Value::Object(map));
            }
            Some(Shape::KeyValue(json)) => {
                let mut map = Map::new();
                for item in child.indexed() {
                    let Some(key) = item.children.get("Key").and_then(|n| n.value.clone()) else { continue };
                    let value = item.children.get("Value").and_then(|n| n.value.clone()).unwrap_or_default();
                    map.insert(key, Value::String(value));
                }
                out.insert(json.to_owned(), Value::Object(map));
            }
            Some(Shape::Structures(json)) => {
                let items = child.indexed().into_iter().map(|n| structure(action, n)).collect();
                out.insert(json.to_owned(), Value::Array(items));
            }
            None => {
                if let Some(v) = &child.value {
                    out.insert(name.clone(), scalar(name, v));
                }
            }
        }
    }
    Value::Object(out)
}

/// Turns query parameters into `(Action, JSON input)`. Signature parameters are left out.
pub fn decode(params: &[(String, String)]) -> Result<(String, Value), SqsError> {
    if params.len() > MAX_PARAMS {
        return Err(SqsError::InvalidParameterValue("Too many parameters in the request.".into()));
    }
    let mut action = None;
    let mut root = Node::default();
    for (k, v) in params {
        match k.as_str() {
            "Action" => action = Some(v.clone()),
            "Version" => {}
            k if k.starts_with("X-Amz-") => {}
            k => {
                let path: Vec<&str> = k.split('.').collect();
                if path.len() > MAX_DEPTH
                    || path.iter().any(|p| p.parse::<usize>().is_ok_and(|i| i == 0 || i > MAX_INDEX))
                {
                    return Err(SqsError::InvalidParameterValue(format!(
                        "The parameter {} is not valid.",
                        k.chars().take(100).collect::<String>()
                    )));
                }
                root.insert(&path, v.clone());
            }
        }
    }
    let action =
        action.ok_or_else(|| SqsError::MissingAction("The request must contain the parameter Action.".into()))?;
    let input = structure(&action, &root);
    Ok((action, input))
}

/// Actions whose model has no output: their XML answer carries no `…Result` element.
const NO_RESULT: &[&str] = &[
    "DeleteQueue",
    "DeleteMessage",
    "ChangeMessageVisibility",
    "SetQueueAttributes",
    "PurgeQueue",
    "TagQueue",
    "UntagQueue",
    "AddPermission",
    "RemovePermission",
];

/// The XML element name of one item of an output list.
fn item_name(action: &str, member: &str) -> Option<&'static str> {
    Some(match (action, member) {
        (_, "QueueUrls" | "queueUrls") => "QueueUrl",
        (_, "Messages") => "Message",
        ("SendMessageBatch", "Successful") => "SendMessageBatchResultEntry",
        ("DeleteMessageBatch", "Successful") => "DeleteMessageBatchResultEntry",
        ("ChangeMessageVisibilityBatch", "Successful") => "ChangeMessageVisibilityBatchResultEntry",
        (_, "Failed") => "BatchResultErrorEntry",
        (_, "Results") => "ListMessageMoveTasksResultEntry",
        _ => return None,
    })
}

fn write_value(out: &mut String, v: &Value) {
    match v {
        Value::String(s) => out.push_str(&xml_escape(s)),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::Null => {}
        Value::Array(_) | Value::Object(_) => {}
    }
}

fn write_members(out: &mut String, action: &str, obj: &Map<String, Value>) {
    for (name, v) in obj {
        match (name.as_str(), v) {
            (_, Value::Array(items)) => {
                let tag = item_name(action, name).unwrap_or("member");
                for item in items {
                    write_element(out, action, tag, item);
                }
            }
            ("Attributes", Value::Object(map)) => {
                for (k, val) in map {
                    out.push_str("<Attribute><Name>");
                    out.push_str(&xml_escape(k));
                    out.push_str("</Name><Value>");
                    write_value(out, val);
                    out.push_str("</Value></Attribute>");
                }
            }
            ("Tags", Value::Object(map)) => {
                for (k, val) in map {
                    out.push_str("<Tag><Key>");
                    out.push_str(&xml_escape(k));
                    out.push_str("</Key><Value>");
                    write_value(out, val);
                    out.push_str("</Value></Tag>");
                }
            }
            ("MessageAttributes", Value::Object(map)) => {
                for (k, val) in map {
                    out.push_str("<MessageAttribute><Name>");
                    out.push_str(&xml_escape(k));
                    out.push_str("</Name>");
                    write_element(out, action, "Value", val);
                    out.push_str("</MessageAttribute>");
                }
            }
            _ => write_element(out, action, name, v),
        }
    }
}

fn write_element(out: &mut String, action: &str, tag: &str, v: &Value) {
    out.push('<');
    out.push_str(tag);
    out.push('>');
    match v {
        Value::Object(obj) => write_members(out, action, obj),
        other => write_value(out, other),
    }
    out.push_str("</");
    out.push_str(tag);
    out.push('>');
}

/// The XML answer of a successful query-protocol call.
pub fn encode(action: &str, output: &Value, request_id: &str) -> String {
    let mut out = String::with_capacity(256);
    out.push_str("<?xml version=\"1.0\"?><");
    out.push_str(action);
    out.push_str("Response xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\">");
    if !NO_RESULT.contains(&action) {
        out.push('<');
        out.push_str(action);
        out.push_str("Result>");
        if let Value::Object(obj) = output {
            write_members(&mut out, action, obj);
        }
        out.push_str("</");
        out.push_str(action);
        out.push_str("Result>");
    }
    out.push_str("<ResponseMetadata><RequestId>");
    out.push_str(&xml_escape(request_id));
    out.push_str("</RequestId></ResponseMetadata></");
    out.push_str(action);
    out.push_str("Response>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn flattened_members_become_the_json_shape() {
        let (action, input) = decode(&params(&[
            ("Action", "SendMessage"),
            ("Version", "2012-11-05"),
            ("QueueUrl", "https://h/123456789012/q"),
            ("MessageBody", "hi"),
            ("DelaySeconds", "5"),
            ("MessageAttribute.1.Name", "city"),
            ("MessageAttribute.1.Value.DataType", "String"),
            ("MessageAttribute.1.Value.StringValue", "Any"),
            ("MessageAttribute.2.Name", "blob"),
            ("MessageAttribute.2.Value.DataType", "Binary"),
            ("MessageAttribute.2.Value.BinaryValue", "AQID"),
        ]))
        .unwrap();
        assert_eq!(action, "SendMessage");
        assert_eq!(
            input,
            json!({
                "QueueUrl": "https://h/123456789012/q",
                "MessageBody": "hi",
                "DelaySeconds": 5,
                "MessageAttributes": {
                    "city": {"DataType": "String", "StringValue": "Any"},
                    "blob": {"DataType": "Binary", "BinaryValue": "AQID"}
                }
            })
        );
    }

    #[test]
    fn lists_maps_tags_and_batch_entries_decode() {
        let (_, input) = decode(&params(&[
            ("Action", "CreateQueue"),
            ("QueueName", "q"),
            ("Attribute.1.Name", "DelaySeconds"),
            ("Attribute.1.Value", "3"),
            ("Tag.1.Key", "team"),
            ("Tag.1.Value", "a"),
        ]))
        .unwrap();
        assert_eq!(input, json!({"QueueName": "q", "Attributes": {"DelaySeconds": "3"}, "tags": {"team": "a"}}));
        let (_, input) = decode(&params(&[
            ("Action", "DeleteMessageBatch"),
            ("DeleteMessageBatchRequestEntry.2.Id", "b"),
            ("DeleteMessageBatchRequestEntry.2.ReceiptHandle", "h2"),
            ("DeleteMessageBatchRequestEntry.1.Id", "a"),
            ("DeleteMessageBatchRequestEntry.1.ReceiptHandle", "h1"),
            ("AttributeName.1", "All"),
        ]))
        .unwrap();
        assert_eq!(
            input,
            json!({"Entries": [{"Id": "a", "ReceiptHandle": "h1"}, {"Id": "b", "ReceiptHandle": "h2"}], "AttributeNames": ["All"]})
        );
    }

    #[test]
    fn missing_action_and_absurd_indexes_are_refused() {
        assert!(matches!(decode(&params(&[("QueueName", "q")])).unwrap_err(), SqsError::MissingAction(_)));
        assert!(decode(&params(&[("Action", "X"), ("AttributeName.0", "a")])).is_err());
        assert!(decode(&params(&[("Action", "X"), ("AttributeName.99999", "a")])).is_err());
    }

    #[test]
    fn outputs_encode_as_sqs_xml_with_singular_flattened_names() {
        let out = json!({"Messages": [{
            "MessageId": "m", "ReceiptHandle": "h", "MD5OfBody": "x", "Body": "a\r<b>&",
            "Attributes": {"SentTimestamp": "1"},
            "MessageAttributes": {"c": {"DataType": "String", "StringValue": "v"}}
        }]});
        let xml = encode("ReceiveMessage", &out, "rid");
        let message = concat!(
            "<Message>",
            "<Attribute><Name>SentTimestamp</Name><Value>1</Value></Attribute>",
            "<Body>a&#xD;&lt;b&gt;&amp;</Body><MD5OfBody>x</MD5OfBody>",
            "<MessageAttribute><Name>c</Name><Value><DataType>String</DataType><StringValue>v</StringValue></Value></MessageAttribute>",
            "<MessageId>m</MessageId><ReceiptHandle>h</ReceiptHandle>",
            "</Message>"
        );
        assert_eq!(
            xml,
            format!(
                r#"<?xml version="1.0"?><ReceiveMessageResponse xmlns="http://queue.amazonaws.com/doc/2012-11-05/"><ReceiveMessageResult>{message}</ReceiveMessageResult><ResponseMetadata><RequestId>rid</RequestId></ResponseMetadata></ReceiveMessageResponse>"#
            )
        );
        let xml = encode("ListQueues", &json!({"QueueUrls": ["u1", "u2"]}), "r");
        assert!(xml.contains("<ListQueuesResult><QueueUrl>u1</QueueUrl><QueueUrl>u2</QueueUrl></ListQueuesResult>"));
        let xml = encode("DeleteMessage", &json!({}), "r");
        assert!(!xml.contains("Result"));
        let xml = encode("SendMessageBatch", &json!({"Successful": [{"Id": "a"}], "Failed": []}), "r");
        assert!(xml.contains("<SendMessageBatchResultEntry><Id>a</Id></SendMessageBatchResultEntry>"));
    }
}

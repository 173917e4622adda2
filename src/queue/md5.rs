//! The MD5 digests SQS returns (MD5OfMessageBody, MD5OfMessageAttributes).

use md5::{Digest, Md5};

use super::message::{MessageAttributes, encode_attributes};

/// Lower-case hex MD5 of the body's UTF-8 bytes.
pub fn of_body(body: &str) -> String {
    hex::encode(Md5::digest(body.as_bytes()))
}

/// MD5 over message attributes as SQS defines it: sorted by name; for each, length-prefixed
/// name and data type, a transport byte (1 string/number, 2 binary) and the length-prefixed
/// value — exactly the layout `encode_attributes` writes. `None` when there are no attributes.
pub fn of_attribute_map(attrs: &MessageAttributes) -> Option<String> {
    if attrs.is_empty() {
        return None;
    }
    Some(hex::encode(Md5::digest(encode_attributes(attrs))))
}

/// MD5OfMessageSystemAttributes for an AWSTraceHeader value.
pub fn of_trace_header(value: &str) -> Option<String> {
    let mut m = MessageAttributes::new();
    m.insert(
        "AWSTraceHeader".into(),
        super::message::AttributeValue {
            data_type: "String".into(),
            value: super::message::Value::String(value.into()),
        },
    );
    of_attribute_map(&m)
}

#[cfg(test)]
mod tests {
    use super::super::message::{AttributeValue, Value};
    use super::*;

    fn attr(dt: &str, v: Value) -> AttributeValue {
        AttributeValue { data_type: dt.into(), value: v }
    }

    #[test]
    fn body_md5_matches_reference_examples() {
        assert_eq!(of_body("hello"), "5d41402abc4b2a76b9719d911017c592");
        assert_eq!(of_body("héllo €"), "6a1950b864488746748ba6312d3ce712");
    }

    #[test]
    fn attribute_md5_matches_reference_example_a() {
        let mut m = MessageAttributes::new();
        m.insert("a".into(), attr("String", Value::String("b".into())));
        assert_eq!(of_attribute_map(&m).unwrap(), "bef8bf215374a0a228d67533b1a488be");
    }

    #[test]
    fn attribute_md5_matches_reference_example_b_in_any_order() {
        let mut m = MessageAttributes::new();
        m.insert("count".into(), attr("Number", Value::String("42".into())));
        m.insert("city".into(), attr("String", Value::String("Any City".into())));
        m.insert("blob".into(), attr("Binary.gz", Value::Binary(vec![1, 2, 3])));
        assert_eq!(of_attribute_map(&m).unwrap(), "92f8c1cdb08bda33c2bebec6be7950bb");
    }

    #[test]
    fn system_attribute_md5_matches_reference_example_c() {
        let mut m = MessageAttributes::new();
        m.insert(
            "AWSTraceHeader".into(),
            attr(
                "String",
                Value::String("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".into()),
            ),
        );
        assert_eq!(of_attribute_map(&m).unwrap(), "5ae4d5d7636402d80f4eb6d213245a88");
    }

    #[test]
    fn trace_header_md5_matches_reference_example_c() {
        assert_eq!(
            of_trace_header("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1").unwrap(),
            "5ae4d5d7636402d80f4eb6d213245a88"
        );
    }

    #[test]
    fn no_attributes_means_no_md5() {
        assert_eq!(of_attribute_map(&MessageAttributes::new()), None);
    }
}

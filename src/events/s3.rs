//! S3 event notifications: MinIO's webhook format in, AWS's S3 event message format out.
//!
//! MinIO posts `{"EventName", "Key", "Records": [record]}` where each record differs from
//! AWS's in a few fields (eventVersion 2.0, eventSource `minio:s3`, eventName with an `s3:`
//! prefix, extra MinIO-only fields). Each record becomes one SQS message body
//! `{"Records":[record]}` exactly as S3 would deliver it: eventVersion 2.1, eventSource
//! `aws:s3`, eventName without the prefix, the object key URL-encoded (as MinIO already
//! sends it), and MinIO's own additions dropped.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::EventError;

/// Most records accepted in one notification.
pub const MAX_RECORDS: usize = 100;

/// One record, ready to enqueue.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub bucket: String,
    /// The bucket's ARN, the `aws:SourceArn` the delivery is authorized with.
    pub source_arn: String,
    /// Identifies the event across retries of the same delivery: the S3 request id, the
    /// bucket, the object key and the sequencer.
    pub dedup_key: String,
    /// The SQS message body.
    pub body: String,
}

#[derive(Deserialize)]
struct Notification {
    #[serde(rename = "Records")]
    records: Vec<Value>,
}

fn text<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k)).and_then(Value::as_str)
}

/// Converts a webhook body: MinIO's notification (`Records`), or S3's own test message
/// (`"Event": "s3:TestEvent"`), which a store or bridge posts when a notification is
/// configured and which is delivered in S3's test-event shape. `now` stands in for a
/// missing `Time`.
pub fn parse(body: &[u8], region: &str, now: chrono::DateTime<chrono::Utc>) -> Result<Vec<Record>, EventError> {
    #[derive(Deserialize)]
    struct Test {
        #[serde(rename = "Event")]
        event: String,
        #[serde(rename = "Bucket")]
        bucket: String,
        #[serde(rename = "RequestId", default)]
        request_id: String,
        #[serde(rename = "HostId", default)]
        host_id: String,
        #[serde(rename = "Time")]
        time: Option<String>,
    }
    if !crate::bounds::json_depth_within(body, crate::bounds::MAX_JSON_DEPTH) {
        return Err(EventError::Malformed(format!("nested deeper than {} levels", crate::bounds::MAX_JSON_DEPTH)));
    }
    let v: Value = serde_json::from_slice(body).map_err(|e| EventError::Malformed(e.to_string()))?;
    if v.get("Event").is_none() {
        return from_minio(body, region);
    }
    let t: Test = serde_json::from_value(v).map_err(|e| EventError::Malformed(e.to_string()))?;
    if t.event != "s3:TestEvent" {
        return Err(EventError::Malformed(format!(
            "'{}' is not an event Sluice delivers",
            t.event.chars().take(64).collect::<String>()
        )));
    }
    if t.bucket.is_empty() || t.bucket.len() > 63 || t.request_id.len() > 128 || t.host_id.len() > 256 {
        return Err(EventError::Malformed("Bucket, RequestId or HostId is out of bounds".into()));
    }
    let time = match &t.time {
        Some(s) => chrono::DateTime::parse_from_rfc3339(s)
            .map_err(|_| EventError::Malformed(format!("Time '{s}' is not an RFC 3339 time")))?
            .to_utc(),
        None => now,
    };
    Ok(vec![Record {
        source_arn: format!("arn:aws:s3:::{}", t.bucket),
        dedup_key: format!("s3:TestEvent\n{}\n{}\n{}", t.bucket, t.request_id, time.timestamp_millis()),
        body: test_event(&t.bucket, time, &t.request_id, &t.host_id),
        bucket: t.bucket,
    }])
}

/// Converts a MinIO webhook body; `region` is used when the record carries none.
pub fn from_minio(body: &[u8], region: &str) -> Result<Vec<Record>, EventError> {
    let n: Notification = serde_json::from_slice(body).map_err(|e| EventError::Malformed(e.to_string()))?;
    if n.records.len() > MAX_RECORDS {
        return Err(EventError::TooManyRecords(n.records.len()));
    }
    if n.records.is_empty() {
        return Err(EventError::Malformed("no Records".into()));
    }
    n.records
        .iter()
        .enumerate()
        .map(|(i, r)| record(r, region).map_err(|reason| EventError::BadRecord { index: i, reason }))
        .collect()
}

fn record(r: &Value, default_region: &str) -> Result<Record, String> {
    let bucket = text(r, &["s3", "bucket", "name"]).ok_or("s3.bucket.name is missing")?;
    // Only a registered bucket (validated at registration) is ever authorized; here only
    // bound the input.
    if bucket.is_empty() || bucket.len() > 63 {
        return Err("s3.bucket.name must be 1 to 63 characters".into());
    }
    let key = text(r, &["s3", "object", "key"]).ok_or("s3.object.key is missing")?;
    if percent_encoding::percent_decode_str(key).decode_utf8().is_err() {
        return Err("s3.object.key is not URL-encoded UTF-8".into());
    }
    let event_name = text(r, &["eventName"]).ok_or("eventName is missing")?;
    let event_name = event_name.strip_prefix("s3:").unwrap_or(event_name);
    if !event_name.contains(':') || event_name.len() > 128 {
        return Err(format!("'{event_name}' is not an S3 event name"));
    }
    let event_time = text(r, &["eventTime"]).ok_or("eventTime is missing")?;
    let event_time = chrono::DateTime::parse_from_rfc3339(event_time)
        .map_err(|_| format!("eventTime '{event_time}' is not an RFC 3339 time"))?
        .with_timezone(&chrono::Utc)
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string();
    let region = [text(r, &["awsRegion"]), text(r, &["requestParameters", "region"])]
        .into_iter()
        .flatten()
        .find(|s| !s.is_empty())
        .unwrap_or(default_region);
    let request_id = text(r, &["responseElements", "x-amz-request-id"]).unwrap_or("");
    let sequencer = text(r, &["s3", "object", "sequencer"]).unwrap_or("");

    let mut object = Map::new();
    object.insert("key".into(), json!(key));
    if let Some(size) = r.pointer("/s3/object/size").and_then(Value::as_u64) {
        object.insert("size".into(), json!(size));
    }
    for (field, name) in [("eTag", "eTag"), ("versionId", "versionId"), ("sequencer", "sequencer")] {
        if let Some(v) = text(r, &["s3", "object", field]).filter(|v| !v.is_empty()) {
            object.insert(name.into(), json!(v));
        }
    }
    let mut response = Map::new();
    for k in ["x-amz-request-id", "x-amz-id-2"] {
        if let Some(v) = text(r, &["responseElements", k]) {
            response.insert(k.into(), json!(v));
        }
    }
    let out = json!({"Records": [{
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": region,
        "eventTime": event_time,
        "eventName": event_name,
        "userIdentity": {"principalId": text(r, &["userIdentity", "principalId"]).unwrap_or("")},
        "requestParameters": {"sourceIPAddress": text(r, &["requestParameters", "sourceIPAddress"]).unwrap_or("")},
        "responseElements": response,
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": text(r, &["s3", "configurationId"]).unwrap_or(""),
            "bucket": {
                "name": bucket,
                "ownerIdentity": {"principalId": text(r, &["s3", "bucket", "ownerIdentity", "principalId"]).unwrap_or("")},
                "arn": format!("arn:aws:s3:::{bucket}"),
            },
            "object": object,
        },
    }]});
    Ok(Record {
        bucket: bucket.to_owned(),
        source_arn: format!("arn:aws:s3:::{bucket}"),
        dedup_key: format!("{request_id}\n{bucket}\n{key}\n{sequencer}"),
        body: out.to_string(),
    })
}

/// The message S3 sends when a notification configuration is saved (not wrapped in Records).
pub fn test_event(bucket: &str, time: chrono::DateTime<chrono::Utc>, request_id: &str, host_id: &str) -> String {
    json!({
        "Service": "Amazon S3",
        "Event": "s3:TestEvent",
        "Time": time.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        "Bucket": bucket,
        "RequestId": request_id,
        "HostId": host_id,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A MinIO webhook body as `internal/event` builds it (one record).
    fn minio(key_escaped: &str, event: &str) -> String {
        json!({
            "EventName": event,
            "Key": format!("example-uploads-bucket/{}", key_escaped.replace('+', " ")),
            "Records": [{
                "eventVersion": "2.0",
                "eventSource": "minio:s3",
                "awsRegion": "",
                "eventTime": "2026-11-25T09:40:01.123Z",
                "eventName": event,
                "userIdentity": {"principalId": "minioadmin"},
                "requestParameters": {"principalId": "minioadmin", "region": "", "sourceIPAddress": "10.0.0.7"},
                "responseElements": {
                    "x-amz-id-2": "dd9025bab4ad464b049177c95eb6ebf374d3b3fd1af9251148b658df7ac2e3e8",
                    "x-amz-request-id": "187A1B2C3D4E5F60",
                    "x-minio-deployment-id": "0f1e2d3c-aaaa-bbbb-cccc-000000000000",
                    "x-minio-origin-endpoint": "http://10.0.0.5:9000"
                },
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "Config",
                    "bucket": {
                        "name": "example-uploads-bucket",
                        "ownerIdentity": {"principalId": "minioadmin"},
                        "arn": "arn:aws:s3:::example-uploads-bucket"
                    },
                    "object": {
                        "key": key_escaped,
                        "size": 1024,
                        "eTag": "d41d8cd98f00b204e9800998ecf8427e",
                        "contentType": "image/jpeg",
                        "userMetadata": {"content-type": "image/jpeg"},
                        "sequencer": "187A1B2C3D4E5F61"
                    }
                },
                "source": {"host": "10.0.0.7", "port": "", "userAgent": "MinIO (linux; amd64) minio-go/v7.0.70"}
            }]
        })
        .to_string()
    }

    #[test]
    fn a_minio_record_becomes_the_message_s3_would_send() {
        let recs = from_minio(minio("red+flower.jpg", "s3:ObjectCreated:Put").as_bytes(), "local").unwrap();
        assert_eq!(recs.len(), 1);
        let r = &recs[0];
        assert_eq!(r.bucket, "example-uploads-bucket");
        assert_eq!(r.source_arn, "arn:aws:s3:::example-uploads-bucket");
        let v: Value = serde_json::from_str(&r.body).unwrap();
        let rec = &v["Records"][0];
        assert_eq!(v["Records"].as_array().unwrap().len(), 1);
        assert_eq!(rec["eventVersion"], "2.1");
        assert_eq!(rec["eventSource"], "aws:s3");
        assert_eq!(rec["awsRegion"], "local", "MinIO leaves it empty");
        assert_eq!(rec["eventTime"], "2026-11-25T09:40:01.123Z");
        assert_eq!(rec["eventName"], "ObjectCreated:Put", "no s3: prefix");
        assert_eq!(rec["userIdentity"], json!({"principalId": "minioadmin"}));
        assert_eq!(rec["requestParameters"], json!({"sourceIPAddress": "10.0.0.7"}));
        assert_eq!(
            rec["responseElements"],
            json!({"x-amz-request-id": "187A1B2C3D4E5F60",
                   "x-amz-id-2": "dd9025bab4ad464b049177c95eb6ebf374d3b3fd1af9251148b658df7ac2e3e8"})
        );
        assert_eq!(rec["s3"]["s3SchemaVersion"], "1.0");
        assert_eq!(rec["s3"]["configurationId"], "Config");
        assert_eq!(
            rec["s3"]["bucket"],
            json!({"name": "example-uploads-bucket", "ownerIdentity": {"principalId": "minioadmin"},
                   "arn": "arn:aws:s3:::example-uploads-bucket"})
        );
        assert_eq!(
            rec["s3"]["object"],
            json!({"key": "red+flower.jpg", "size": 1024, "eTag": "d41d8cd98f00b204e9800998ecf8427e",
                   "sequencer": "187A1B2C3D4E5F61"}),
            "URL-encoded key; MinIO's contentType and userMetadata dropped"
        );
        assert!(rec.get("source").is_none(), "MinIO's source block is dropped");
        let fields: Vec<&String> = rec.as_object().unwrap().keys().collect();
        assert_eq!(fields.len(), 9, "{fields:?}");
    }

    #[test]
    fn the_dedup_key_names_the_request_the_object_and_the_sequencer() {
        let a = from_minio(minio("a.txt", "s3:ObjectCreated:Put").as_bytes(), "local").unwrap();
        let again = from_minio(minio("a.txt", "s3:ObjectCreated:Put").as_bytes(), "local").unwrap();
        let b = from_minio(minio("b.txt", "s3:ObjectCreated:Put").as_bytes(), "local").unwrap();
        assert_eq!(a[0].dedup_key, again[0].dedup_key);
        assert_ne!(a[0].dedup_key, b[0].dedup_key);
    }

    #[test]
    fn malformed_notifications_are_refused_with_the_place() {
        assert!(matches!(from_minio(b"not json", "local"), Err(EventError::Malformed(_))));
        assert!(matches!(from_minio(br#"{"Records":[]}"#, "local"), Err(EventError::Malformed(_))));
        let many = json!({"Records": vec![json!({}); MAX_RECORDS + 1]}).to_string();
        assert_eq!(from_minio(many.as_bytes(), "local"), Err(EventError::TooManyRecords(MAX_RECORDS + 1)));
        let bad_bucket =
            minio("k", "s3:ObjectCreated:Put").replace("\"name\":\"example-uploads-bucket\"", "\"name\":\"\"");
        assert!(matches!(from_minio(bad_bucket.as_bytes(), "local"), Err(EventError::BadRecord { index: 0, .. })));
        let bad_key = minio("%ff", "s3:ObjectCreated:Put");
        assert!(matches!(from_minio(bad_key.as_bytes(), "local"), Err(EventError::BadRecord { .. })));
        let bad_time = minio("k", "s3:ObjectCreated:Put").replace("2026-11-25T09:40:01.123Z", "yesterday");
        assert!(matches!(from_minio(bad_time.as_bytes(), "local"), Err(EventError::BadRecord { .. })));
        let bad_name = minio("k", "Put");
        assert!(matches!(from_minio(bad_name.as_bytes(), "local"), Err(EventError::BadRecord { .. })));
    }

    #[test]
    fn a_posted_test_event_is_delivered_in_s3s_shape() {
        let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let body = br#"{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2014-10-13T15:57:02.089Z","Bucket":"bucketname","RequestId":"5582815E1AEA5ADF","HostId":"8cLeGAmw"}"#;
        let recs = parse(body, "local", now).unwrap();
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0].bucket, "bucketname");
        assert_eq!(recs[0].source_arn, "arn:aws:s3:::bucketname");
        let v: Value = serde_json::from_str(&recs[0].body).unwrap();
        assert_eq!(v["Event"], "s3:TestEvent");
        assert_eq!(v["Time"], "2014-10-13T15:57:02.089Z");
        assert!(matches!(parse(br#"{"Event":"s3:Other","Bucket":"b"}"#, "local", now), Err(EventError::Malformed(_))));
        // A MinIO body goes the MinIO way.
        assert_eq!(parse(minio("k", "s3:ObjectCreated:Put").as_bytes(), "local", now).unwrap().len(), 1);
    }

    #[test]
    fn the_test_event_has_s3s_shape() {
        let t = chrono::DateTime::parse_from_rfc3339("2014-10-13T15:57:02.089Z").unwrap().with_timezone(&chrono::Utc);
        let v: Value = serde_json::from_str(&test_event("bucketname", t, "5582815E1AEA5ADF", "8cLeGAmw")).unwrap();
        assert_eq!(
            v,
            json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2014-10-13T15:57:02.089Z",
                   "Bucket": "bucketname", "RequestId": "5582815E1AEA5ADF", "HostId": "8cLeGAmw"})
        );
    }
}

//! Signature Version 4, as a server verifies it. Pure: the caller supplies the request as
//! received, the secret, and the current time.
//!
//! Both forms are understood: the `Authorization` header and presigned query parameters.
//! The payload hash is always computed from the body actually received; an
//! `x-amz-content-sha256` header must agree with it, so a captured signature cannot be
//! replayed over another body.
//!
//! This file parses a signature and checks its scope and time; `canonical` computes and
//! checks it (the canonical request, the string to sign, the signing key).

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};

mod canonical;

pub use canonical::{canonical_request, payload_hash, query_pairs, signing_key, string_to_sign, verify};

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The clock skew SQS allows in both directions.
pub const MAX_SKEW: TimeDelta = TimeDelta::minutes(15);
/// The longest lifetime of a presigned request (7 days), as AWS allows.
const MAX_EXPIRES: i64 = 604_800;
/// Bounds on what the parser accepts, so nothing unbounded is processed.
const MAX_SIGNED_HEADERS: usize = 64;

/// Why a signature was not accepted. The `api` layer maps each to AWS's error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigV4Error {
    #[error("Request is missing Authentication Token")]
    Missing,
    #[error("{0}")]
    Incomplete(String),
    #[error("Credential should be scoped to correct service: '{expected}'.")]
    WrongService { expected: String },
    /// AWS's text, trailing space included (SDKs and tests compare it whole).
    #[error("Credential should be scoped to a valid region, not '{given}'. ")]
    WrongRegion { given: String },
    #[error("{0}")]
    BadDate(String),
    #[error("Signature expired: {request} is now earlier than {earliest} ({now} - 15 min.)")]
    TooOld { request: String, earliest: String, now: String },
    #[error("Signature not yet current: {request} is still later than {latest} ({now} + 15 min.)")]
    TooNew { request: String, latest: String, now: String },
    #[error("Request has expired")]
    PresignExpired,
    #[error(
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
    )]
    Mismatch,
    #[error("The provided 'x-amz-content-sha256' header does not match what was computed.")]
    PayloadHashMismatch,
    #[error("UNSIGNED-PAYLOAD is not accepted by this service; sign the request body.")]
    UnsignedPayload,
    #[error("There were headers present in the request which were not signed: {0}")]
    HeadersNotSigned(String),
}

/// The request as it reached the server.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub method: &'a str,
    /// The path as received (without the query string).
    pub path: &'a str,
    /// The raw query string (without '?'), possibly empty.
    pub query: &'a str,
    /// Header names and values as received; a name may repeat.
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

impl Request<'_> {
    fn header_values<'b>(&'b self, name: &'b str) -> impl Iterator<Item = &'b str> + 'b {
        self.headers.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    fn header<'b>(&'b self, name: &'b str) -> Option<&'b str> {
        self.header_values(name).next()
    }

    fn query_param(&self, name: &str) -> Option<String> {
        query_pairs(self.query).find(|(k, _)| k == name).map(|(_, v)| v)
    }
}

/// Which form carried the signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Header,
    Query,
}

/// A parsed signature: who claims to sign, for which scope, with what.
#[derive(Debug, Clone)]
pub struct Signature {
    pub form: Form,
    pub access_key_id: String,
    /// `yyyymmdd` from the credential scope.
    pub scope_date: String,
    pub region: String,
    pub service: String,
    pub signed_headers: Vec<String>,
    pub signature: Vec<u8>,
    /// `X-Amz-Date` as sent (`yyyymmddTHHMMSSZ`) and parsed.
    pub amz_date: String,
    pub time: DateTime<Utc>,
    /// Presigned requests only.
    pub expires: Option<i64>,
    pub security_token: Option<String>,
}

impl Signature {
    pub fn scope(&self) -> String {
        format!("{}/{}/{}/aws4_request", self.scope_date, self.region, self.service)
    }
}

/// Parses the signature of a request, from the `Authorization` header or presigned query
/// parameters. Checks the structure, not the cryptography: this includes that every header
/// that chooses what the request does is covered by the signature.
pub fn parse(req: &Request<'_>) -> Result<Signature, SigV4Error> {
    let sig = if let Some(auth) = req.header("authorization") {
        parse_header(req, auth)?
    } else if req.query_param("X-Amz-Signature").is_some() || req.query_param("X-Amz-Algorithm").is_some() {
        parse_query(req)?
    } else {
        return Err(SigV4Error::Missing);
    };
    check_signed_headers(req, &sig)?;
    Ok(sig)
}

/// Headers a presigning SDK leaves out of the signature and Sluice never reads (the AWS SDKs
/// do not sign `x-amz-user-agent` in a presigned request).
const UNSIGNED_IN_QUERY_FORM: &[&str] = &["x-amz-user-agent"];

/// Refuses a request that carries `x-amz-target`, `content-type` or any `x-amz-*` header
/// the signature does not cover: the action and the protocol come from those headers, so an
/// unsigned one would let a holder of a presigned URL, or a replayer of a captured request,
/// choose what the signer's rights are used for.
fn check_signed_headers(req: &Request<'_>, sig: &Signature) -> Result<(), SigV4Error> {
    let mut unsigned: Vec<String> = Vec::new();
    for (name, _) in req.headers {
        let lower = name.to_ascii_lowercase();
        let binding = lower == "content-type" || lower.starts_with("x-amz-");
        let exempt = sig.form == Form::Query && UNSIGNED_IN_QUERY_FORM.contains(&lower.as_str());
        if binding && !exempt && !sig.signed_headers.contains(&lower) && !unsigned.contains(&lower) {
            unsigned.push(lower);
        }
    }
    if unsigned.is_empty() {
        return Ok(());
    }
    unsigned.sort();
    let mut shown = unsigned.join(", ");
    shown.truncate(256);
    Err(SigV4Error::HeadersNotSigned(shown))
}

fn parse_header(req: &Request<'_>, auth: &str) -> Result<Signature, SigV4Error> {
    let rest = auth
        .strip_prefix(ALGORITHM)
        .filter(|r| r.starts_with(' '))
        .ok_or_else(|| SigV4Error::Incomplete(format!("Authorization header requires the {ALGORITHM} algorithm.")))?;
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("Credential=") {
            credential = Some(v);
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed_headers = Some(v);
        } else if let Some(v) = part.strip_prefix("Signature=") {
            signature = Some(v);
        }
    }
    let missing = |what: &str| {
        SigV4Error::Incomplete(format!(
            "Authorization header requires '{what}' parameter. Authorization={}",
            redact(auth)
        ))
    };
    let credential = credential.ok_or_else(|| missing("Credential"))?;
    let signed_headers = signed_headers.ok_or_else(|| missing("SignedHeaders"))?;
    let signature = signature.ok_or_else(|| missing("Signature"))?;
    let amz_date = req.header("x-amz-date").map(str::trim).ok_or_else(|| {
        SigV4Error::Incomplete(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.".into(),
        )
    })?;
    build(
        Form::Header,
        credential,
        signed_headers,
        signature,
        amz_date,
        None,
        req.header("x-amz-security-token").map(str::to_owned),
    )
}

fn parse_query(req: &Request<'_>) -> Result<Signature, SigV4Error> {
    let get = |name: &str| {
        req.query_param(name)
            .ok_or_else(|| SigV4Error::Incomplete(format!("AWS query-string parameters must include '{name}'.")))
    };
    if get("X-Amz-Algorithm")? != ALGORITHM {
        return Err(SigV4Error::Incomplete(format!("X-Amz-Algorithm must be {ALGORITHM}.")));
    }
    let expires: i64 = get("X-Amz-Expires")?
        .parse()
        .ok()
        .filter(|e| (1..=MAX_EXPIRES).contains(e))
        .ok_or_else(|| SigV4Error::Incomplete("X-Amz-Expires must be between 1 and 604800 seconds.".into()))?;
    build(
        Form::Query,
        &get("X-Amz-Credential")?,
        &get("X-Amz-SignedHeaders")?,
        &get("X-Amz-Signature")?,
        &get("X-Amz-Date")?,
        Some(expires),
        req.query_param("X-Amz-Security-Token"),
    )
}

fn build(
    form: Form,
    credential: &str,
    signed_headers: &str,
    signature: &str,
    amz_date: &str,
    expires: Option<i64>,
    security_token: Option<String>,
) -> Result<Signature, SigV4Error> {
    let parts: Vec<&str> = credential.split('/').collect();
    let [key, date, region, service, terminator] = parts[..] else {
        return Err(SigV4Error::Incomplete(format!(
            "Credential should have exactly 5 parts (access key, date, region, service, aws4_request), got '{}'.",
            parts.len()
        )));
    };
    if terminator != "aws4_request" {
        return Err(SigV4Error::Incomplete(
            "Credential should be scoped with a valid terminator: 'aws4_request'.".into(),
        ));
    }
    if key.is_empty() || key.len() > 128 || region.is_empty() || region.len() > 64 {
        return Err(SigV4Error::Incomplete("Credential has an empty or overlong access key id or region.".into()));
    }
    let signed: Vec<String> = signed_headers.split(';').map(str::to_owned).collect();
    if signed.len() > MAX_SIGNED_HEADERS
        || signed.iter().any(|h| h.is_empty() || h.bytes().any(|b| b.is_ascii_uppercase()))
    {
        return Err(SigV4Error::Incomplete(
            "SignedHeaders must be a list of lower-case header names separated by ';'.".into(),
        ));
    }
    if !signed.iter().any(|h| h == "host") {
        return Err(SigV4Error::Incomplete("'Host' must be a 'SignedHeader' in the AWS Authorization.".into()));
    }
    if form == Form::Header && !signed.iter().any(|h| h == "x-amz-date") {
        return Err(SigV4Error::Incomplete("'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization.".into()));
    }
    let signature = match hex::decode(signature) {
        Ok(s) if s.len() == 32 => s,
        _ => return Err(SigV4Error::Mismatch),
    };
    let time = NaiveDateTime::parse_from_str(amz_date, "%Y%m%dT%H%M%SZ")
        .map_err(|_| SigV4Error::BadDate(format!("Invalid X-Amz-Date '{amz_date}'; expected yyyyMMddTHHmmssZ.")))?
        .and_utc();
    if date.len() != 8 || !amz_date.starts_with(date) {
        return Err(SigV4Error::BadDate(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{date}' != '{}'",
            amz_date.get(..8).unwrap_or(amz_date)
        )));
    }
    Ok(Signature {
        form,
        access_key_id: key.to_owned(),
        scope_date: date.to_owned(),
        region: region.to_owned(),
        service: service.to_owned(),
        signed_headers: signed,
        signature,
        amz_date: amz_date.to_owned(),
        time,
        expires,
        security_token,
    })
}

/// Checks scope and time: the service and the region must be those given (a deployment
/// serves one region, as an AWS endpoint does), and the request time must be within 15
/// minutes of `now` (header form), or the presigned URL must not have expired.
pub fn check_scope_and_time(
    sig: &Signature,
    service: &str,
    region: &str,
    now: DateTime<Utc>,
) -> Result<(), SigV4Error> {
    if sig.service != service {
        return Err(SigV4Error::WrongService { expected: service.to_owned() });
    }
    if sig.region != region {
        return Err(SigV4Error::WrongRegion { given: sig.region.clone() });
    }
    let fmt = |t: DateTime<Utc>| t.format("%Y%m%dT%H%M%SZ").to_string();
    if sig.time > now + MAX_SKEW {
        return Err(SigV4Error::TooNew { request: sig.amz_date.clone(), latest: fmt(now + MAX_SKEW), now: fmt(now) });
    }
    match sig.expires {
        Some(expires) if now > sig.time + TimeDelta::seconds(expires) => Err(SigV4Error::PresignExpired),
        None if sig.time < now - MAX_SKEW => {
            Err(SigV4Error::TooOld { request: sig.amz_date.clone(), earliest: fmt(now - MAX_SKEW), now: fmt(now) })
        }
        _ => Ok(()),
    }
}

/// An Authorization header with its signature cut, for error messages.
fn redact(auth: &str) -> String {
    match auth.find("Signature=") {
        Some(i) => format!("{}Signature=…", &auth[..i]),
        None => auth.chars().take(200).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};
    use std::path::{Path, PathBuf};

    fn suite_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sigv4-test-suite")
    }

    /// A request parsed from the suite's text form.
    struct Raw {
        method: String,
        path: String,
        query: String,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    }

    impl Raw {
        fn parse(text: &str) -> Raw {
            let (head, body) = text.split_once("\n\n").unwrap_or((text, ""));
            let mut lines = head.lines();
            let request_line = lines.next().unwrap();
            let (method, rest) = request_line.split_once(' ').unwrap();
            let target = rest.strip_suffix(" HTTP/1.1").unwrap();
            let (path, query) = target.split_once('?').unwrap_or((target, ""));
            let mut headers: Vec<(String, String)> = Vec::new();
            for line in lines {
                if line.starts_with(' ') || line.starts_with('\t') {
                    let last = headers.last_mut().unwrap();
                    last.1.push(' ');
                    last.1.push_str(line.trim());
                } else {
                    let (n, v) = line.split_once(':').unwrap();
                    headers.push((n.to_owned(), v.to_owned()));
                }
            }
            Raw {
                method: method.to_owned(),
                path: path.to_owned(),
                query: query.to_owned(),
                headers,
                body: body.as_bytes().to_vec(),
            }
        }

        fn request(&self) -> Request<'_> {
            Request {
                method: &self.method,
                path: &self.path,
                query: &self.query,
                headers: &self.headers,
                body: &self.body,
            }
        }
    }

    fn read(dir: &Path, name: &str) -> Option<String> {
        std::fs::read_to_string(dir.join(name)).ok()
    }

    /// Runs one form of one case: parse the signed request as a server receives it, rebuild
    /// the canonical request and the string to sign, and verify the signature.
    fn run_case(dir: &Path, form: &str) -> bool {
        let Some(signed) = read(dir, &format!("{form}-signed-request.txt")) else { return false };
        let ctx: serde_json::Value = serde_json::from_str(&read(dir, "context.json").unwrap()).unwrap();
        let secret = ctx["credentials"]["secret_access_key"].as_str().unwrap();
        let normalize = ctx["normalize"].as_bool().unwrap();
        let now = chrono::DateTime::parse_from_rfc3339(ctx["timestamp"].as_str().unwrap()).unwrap().to_utc();
        let mut raw = Raw::parse(&signed);
        if ctx["omit_session_token"].as_bool() == Some(true) {
            // The suite's signer appended the token after signing (a convention of some
            // services); SQS signs it, and Sluice refuses an unsigned `x-amz-*` header (see
            // `an_unsigned_action_protocol_or_amz_header_is_refused`). Verify the request as
            // it was signed.
            raw.query =
                raw.query.split('&').filter(|p| !p.starts_with("X-Amz-Security-Token=")).collect::<Vec<_>>().join("&");
            raw.headers.retain(|(n, _)| !n.eq_ignore_ascii_case("x-amz-security-token"));
        }
        let req = raw.request();
        let name = dir.file_name().unwrap().to_string_lossy();
        let sig = parse(&req).unwrap_or_else(|e| panic!("{name} {form}: parse: {e}"));
        check_scope_and_time(&sig, ctx["service"].as_str().unwrap(), &sig.region, now).unwrap();
        let expected_canonical = read(dir, &format!("{form}-canonical-request.txt")).unwrap();
        let hash = payload_hash(&req).unwrap();
        let canonical = canonical_request(&req, &sig, &hash, normalize);
        assert_eq!(canonical, expected_canonical, "{name} {form}: canonical request");
        let sts = string_to_sign(&sig, &canonical);
        assert_eq!(sts, read(dir, &format!("{form}-string-to-sign.txt")).unwrap(), "{name} {form}: string to sign");
        assert_eq!(
            hex::encode(&sig.signature),
            read(dir, &format!("{form}-signature.txt")).unwrap().trim(),
            "{name} {form}: signature"
        );
        verify(&req, &sig, secret.as_bytes(), normalize).unwrap_or_else(|e| panic!("{name} {form}: verify: {e}"));
        assert_eq!(
            verify(&req, &sig, b"not-the-secret", normalize),
            Err(SigV4Error::Mismatch),
            "{name} {form}: wrong secret must fail"
        );
        true
    }

    #[test]
    fn every_case_of_the_aws_sigv4_test_suite_verifies_in_header_and_query_form() {
        let mut header_cases = 0;
        let mut query_cases = 0;
        let mut dirs: Vec<_> =
            std::fs::read_dir(suite_dir()).unwrap().flatten().filter(|e| e.path().is_dir()).collect();
        dirs.sort_by_key(|e| e.path());
        for entry in dirs {
            if run_case(&entry.path(), "header") {
                header_cases += 1;
            }
            if run_case(&entry.path(), "query") {
                query_cases += 1;
            }
        }
        assert!(header_cases >= 30, "only {header_cases} header cases ran");
        assert!(query_cases >= 30, "only {query_cases} query cases ran");
    }

    fn sqs_json_example() -> Raw {
        // The reference's self-computed SQS JSON vector (sqs-api.md §9.4, example 4).
        let text = "POST / HTTP/1.1\nContent-Type:application/x-amz-json-1.0\nHost:localhost:9324\nX-Amz-Date:20240101T000000Z\nX-Amz-Target:AmazonSQS.GetQueueUrl\nAuthorization:AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-east-1/sqs/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=494909536bf84a9e2aac5f2894e27adbd5cd352c23802281b95061298acc84a9\n\n{\"QueueName\":\"my-queue\"}";
        Raw::parse(text)
    }

    const SECRET: &[u8] = b"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

    #[test]
    fn sqs_json_request_verifies_and_a_swapped_body_does_not() {
        let raw = sqs_json_example();
        let sig = parse(&raw.request()).unwrap();
        verify(&raw.request(), &sig, SECRET, true).unwrap();
        let mut swapped = sqs_json_example();
        swapped.body = br#"{"QueueName":"other-queue"}"#.to_vec();
        assert_eq!(verify(&swapped.request(), &sig, SECRET, true), Err(SigV4Error::Mismatch));
    }

    #[test]
    fn content_sha256_header_must_match_the_body_and_unsigned_payload_is_refused() {
        let mut raw = sqs_json_example();
        raw.headers.push(("X-Amz-Content-Sha256".into(), hex::encode(Sha256::digest(b"other"))));
        assert_eq!(payload_hash(&raw.request()), Err(SigV4Error::PayloadHashMismatch));
        raw.headers.last_mut().unwrap().1 = "UNSIGNED-PAYLOAD".into();
        assert_eq!(payload_hash(&raw.request()), Err(SigV4Error::UnsignedPayload));
    }

    #[test]
    fn clock_skew_of_fifteen_minutes_is_allowed_and_more_is_refused() {
        let raw = sqs_json_example();
        let sig = parse(&raw.request()).unwrap();
        let t = sig.time;
        assert!(check_scope_and_time(&sig, "sqs", "us-east-1", t + TimeDelta::minutes(15)).is_ok());
        assert!(check_scope_and_time(&sig, "sqs", "us-east-1", t - TimeDelta::minutes(15)).is_ok());
        let err = check_scope_and_time(&sig, "sqs", "us-east-1", t + TimeDelta::minutes(16)).unwrap_err();
        assert!(matches!(err, SigV4Error::TooOld { .. }));
        assert!(err.to_string().starts_with("Signature expired: 20240101T000000Z is now earlier than"));
        assert!(matches!(
            check_scope_and_time(&sig, "sqs", "us-east-1", t - TimeDelta::minutes(16)),
            Err(SigV4Error::TooNew { .. })
        ));
        assert!(matches!(check_scope_and_time(&sig, "iam", "us-east-1", t), Err(SigV4Error::WrongService { .. })));
    }

    #[test]
    fn a_signature_scoped_to_another_region_is_refused_with_awss_text() {
        let raw = sqs_json_example();
        let sig = parse(&raw.request()).unwrap();
        assert!(check_scope_and_time(&sig, "sqs", "us-east-1", sig.time).is_ok());
        let err = check_scope_and_time(&sig, "sqs", "local", sig.time).unwrap_err();
        assert_eq!(err, SigV4Error::WrongRegion { given: "us-east-1".into() });
        assert_eq!(err.to_string(), "Credential should be scoped to a valid region, not 'us-east-1'. ");
    }

    #[test]
    fn an_unsigned_action_protocol_or_amz_header_is_refused() {
        // The example signs content-type, host, x-amz-date and x-amz-target.
        let signed = sqs_json_example();
        assert!(parse(&signed.request()).is_ok());
        for (name, value) in [
            ("X-Amz-Security-Token", "token"),
            ("x-amz-content-sha256", "0"),
            ("X-Amz-Anything", "x"),
            ("x-amz-user-agent", "aws-sdk"),
        ] {
            let mut r = sqs_json_example();
            r.headers.push((name.into(), value.into()));
            match parse(&r.request()) {
                Err(SigV4Error::HeadersNotSigned(h)) => assert_eq!(h, name.to_ascii_lowercase()),
                other => panic!("{name}: {other:?}"),
            }
        }
        // A request signed without its action or protocol header, sent with both.
        let mut r = sqs_json_example();
        let auth = r.headers.iter_mut().find(|(n, _)| n == "Authorization").unwrap();
        auth.1 =
            auth.1.replace("SignedHeaders=content-type;host;x-amz-date;x-amz-target", "SignedHeaders=host;x-amz-date");
        assert_eq!(parse(&r.request()).unwrap_err(), SigV4Error::HeadersNotSigned("content-type, x-amz-target".into()));
        // Headers that choose nothing (user-agent, x-amzn-trace-id) may stay unsigned.
        let mut r = sqs_json_example();
        r.headers.push(("User-Agent".into(), "x".into()));
        r.headers.push(("X-Amzn-Trace-Id".into(), "Root=1".into()));
        assert!(parse(&r.request()).is_ok());
    }

    #[test]
    fn a_presigned_request_may_leave_only_the_sdk_user_agent_unsigned() {
        let query = "Action=ListQueues&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20240101%2Fus-east-1%2Fsqs%2Faws4_request&X-Amz-Date=20240101T000000Z&X-Amz-Expires=300&X-Amz-SignedHeaders=host&X-Amz-Signature=494909536bf84a9e2aac5f2894e27adbd5cd352c23802281b95061298acc84a9";
        let parse_with =
            |headers: &[(String, String)]| parse(&Request { method: "POST", path: "/", query, headers, body: b"" });
        let mut headers = vec![("Host".to_owned(), "localhost".to_owned()), ("x-amz-user-agent".into(), "sdk".into())];
        assert!(parse_with(&headers).is_ok());
        headers.push(("X-Amz-Target".into(), "AmazonSQS.PurgeQueue".into()));
        headers.push(("Content-Type".into(), "application/x-amz-json-1.0".into()));
        assert_eq!(
            parse_with(&headers).unwrap_err(),
            SigV4Error::HeadersNotSigned("content-type, x-amz-target".into())
        );
    }

    #[test]
    fn structural_problems_are_reported_as_incomplete_or_missing() {
        let base = sqs_json_example();
        let with_auth = |auth: &str| {
            let mut r = sqs_json_example();
            r.headers.retain(|(n, _)| n != "Authorization");
            r.headers.push(("Authorization".into(), auth.into()));
            r
        };
        let mut none = sqs_json_example();
        none.headers.retain(|(n, _)| n != "Authorization");
        assert_eq!(parse(&none.request()).unwrap_err(), SigV4Error::Missing);
        for bad in [
            "AWS4-HMAC-SHA256 SignedHeaders=host;x-amz-date, Signature=00",
            "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/sqs/aws4_request, Signature=00",
            "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/sqs/aws4_request, SignedHeaders=host;x-amz-date",
            "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/sqs, SignedHeaders=host;x-amz-date, Signature=00",
            "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/sqs/aws4_request, SignedHeaders=x-amz-date, Signature=00",
            "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=00",
            "AWS3 Credential=AKID/20240101/us-east-1/sqs/aws4_request",
        ] {
            assert!(matches!(parse(&with_auth(bad).request()), Err(SigV4Error::Incomplete(_))), "{bad}");
        }
        let wrong_date = with_auth(
            "AWS4-HMAC-SHA256 Credential=AKID/20231231/us-east-1/sqs/aws4_request, SignedHeaders=host;x-amz-date, Signature=494909536bf84a9e2aac5f2894e27adbd5cd352c23802281b95061298acc84a9",
        );
        assert!(matches!(parse(&wrong_date.request()), Err(SigV4Error::BadDate(_))));
        assert!(parse(&base.request()).is_ok());
    }
}

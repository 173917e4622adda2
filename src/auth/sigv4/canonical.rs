//! The signature itself, step by step as AWS documents it: the payload hash, the canonical
//! request (URI, query and headers), the string to sign, the signing key, and the
//! constant-time comparison.

use hmac::{Hmac, KeyInit, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use sha2::{Digest, Sha256};

use super::{ALGORITHM, Form, Request, SigV4Error, Signature};

/// RFC 3986 unreserved characters stay; everything else is percent-encoded.
const STRICT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');
/// The same, keeping '/' (for paths).
const PATH: &AsciiSet = &STRICT.remove(b'/');

type HmacSha256 = Hmac<Sha256>;

/// Hex SHA-256 of the body; refuses a disagreeing or `UNSIGNED-PAYLOAD` content-hash header.
pub fn payload_hash(req: &Request<'_>) -> Result<String, SigV4Error> {
    let computed = hex::encode(Sha256::digest(req.body));
    match req.header("x-amz-content-sha256").map(str::trim) {
        None => Ok(computed),
        Some("UNSIGNED-PAYLOAD") | Some("STREAMING-UNSIGNED-PAYLOAD-TRAILER") => Err(SigV4Error::UnsignedPayload),
        Some(claimed) if claimed.eq_ignore_ascii_case(&computed) => Ok(computed),
        Some(_) => Err(SigV4Error::PayloadHashMismatch),
    }
}

/// The canonical request (§ "Create a canonical request" of the SigV4 documentation).
pub fn canonical_request(req: &Request<'_>, sig: &Signature, payload_hash: &str, normalize: bool) -> String {
    let mut out = String::with_capacity(256 + req.query.len());
    out.push_str(req.method);
    out.push('\n');
    out.push_str(&canonical_uri(req.path, normalize));
    out.push('\n');
    out.push_str(&canonical_query(req.query, sig.form == Form::Query));
    out.push('\n');
    for name in &sig.signed_headers {
        out.push_str(name);
        out.push(':');
        let mut first = true;
        for value in req.header_values(name) {
            if !first {
                out.push(',');
            }
            first = false;
            let mut words = value.split_whitespace();
            if let Some(w) = words.next() {
                out.push_str(w);
                for w in words {
                    out.push(' ');
                    out.push_str(w);
                }
            }
        }
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&sig.signed_headers.join(";"));
    out.push('\n');
    out.push_str(payload_hash);
    out
}

/// The string to sign for a canonical request.
pub fn string_to_sign(sig: &Signature, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{}\n{}\n{}",
        sig.amz_date,
        sig.scope(),
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    )
}

/// The signing key for a scope: HMAC chain over date, region, service and "aws4_request".
pub fn signing_key(secret: &[u8], sig: &Signature) -> zeroize::Zeroizing<Vec<u8>> {
    let mut k = zeroize::Zeroizing::new(Vec::with_capacity(4 + secret.len()));
    k.extend_from_slice(b"AWS4");
    k.extend_from_slice(secret);
    let mut key = k;
    for part in [sig.scope_date.as_str(), sig.region.as_str(), sig.service.as_str(), "aws4_request"] {
        key = zeroize::Zeroizing::new(hmac(&key, part.as_bytes()).to_vec());
    }
    key
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac =
        <HmacSha256 as KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Verifies the signature with `secret`, in constant time. Structure, scope and time are
/// checked by `parse` and `check_scope_and_time`, which the caller runs first.
pub fn verify(req: &Request<'_>, sig: &Signature, secret: &[u8], normalize: bool) -> Result<(), SigV4Error> {
    let payload_hash = payload_hash(req)?;
    let canonical = canonical_request(req, sig, &payload_hash, normalize);
    let sts = string_to_sign(sig, &canonical);
    let key = signing_key(secret, sig);
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(&key).map_err(|_| SigV4Error::Mismatch)?;
    mac.update(sts.as_bytes());
    mac.verify_slice(&sig.signature).map_err(|_| SigV4Error::Mismatch)
}

fn canonical_uri(path: &str, normalize: bool) -> String {
    let path = if path.is_empty() { "/" } else { path };
    if !normalize {
        return utf8_percent_encode(path, PATH).to_string();
    }
    let mut segments: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(path.len() + 8);
    for seg in &segments {
        out.push('/');
        out.extend(utf8_percent_encode(seg, STRICT));
    }
    let last = path.rsplit('/').next().unwrap_or("");
    if out.is_empty() || path.ends_with('/') || last == "." || last == ".." {
        out.push('/');
    }
    out
}

/// Splits a raw query string into decoded pairs, exactly as the request parser reads it
/// (`application/x-www-form-urlencoded`: a `+` is a space). The signature must cover the values
/// the request is served with: were `+` a literal plus here and a space there, `a+b` and
/// `a%2Bb` would share one signature and mean two different things.
pub fn query_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    query.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (form_decode(k), form_decode(v))
    })
}

/// One form-encoded name or value: `+` is a space, then percent-decoding (invalid UTF-8 is
/// replaced, as the request parser replaces it).
fn form_decode(s: &str) -> String {
    if s.contains('+') {
        let spaced = s.replace('+', " ");
        percent_decode_str(&spaced).decode_utf8_lossy().into_owned()
    } else {
        percent_decode_str(s).decode_utf8_lossy().into_owned()
    }
}

fn canonical_query(query: &str, presigned: bool) -> String {
    let mut pairs: Vec<(String, String)> = query_pairs(query)
        .filter(|(k, _)| !(presigned && k == "X-Amz-Signature"))
        .map(|(k, v)| (utf8_percent_encode(&k, STRICT).to_string(), utf8_percent_encode(&v, STRICT).to_string()))
        .collect();
    pairs.sort();
    let mut out = String::with_capacity(query.len() + 16);
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plus_in_the_query_is_a_space_for_the_signature_as_for_the_request() {
        let pairs: Vec<_> = query_pairs("MessageBody=a+b&c%2Bd=e%2Bf").collect();
        assert_eq!(pairs, vec![("MessageBody".into(), "a b".into()), ("c+d".into(), "e+f".into())]);
        assert_eq!(canonical_query("m=a+b", false), canonical_query("m=a%20b", false));
        assert_ne!(canonical_query("m=a+b", false), canonical_query("m=a%2Bb", false));
        assert_eq!(canonical_query("m=a%2Bb", false), "m=a%2Bb");
    }
}

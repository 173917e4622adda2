//! Bearer tokens for service integrations: compact JWTs signed with Ed25519.
//!
//! Verification is strict and offline: the algorithm is pinned to EdDSA (`alg: none`, HMAC
//! with the public key as secret and every other algorithm are refused before any signature
//! check); `kid` picks one of Sluice's own verification keys (a token naming an unknown `kid`
//! is refused; `jku`, `x5u` and any other header that points at a key elsewhere are ignored,
//! nothing is fetched); `iss`, `aud`, `sub`, `nbf` and `exp` are required; the lifetime is
//! bounded. Times are checked against the caller-supplied clock so tests can move it.

use std::collections::HashMap;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// The only signing algorithm Sluice issues and accepts.
pub const ALGORITHM: Algorithm = Algorithm::EdDSA;
/// The longest lifetime a deployment may allow a token (`exp - nbf`), in seconds: 90 days.
pub const MAX_LIFETIME_SECONDS: i64 = 90 * 24 * 3600;
/// The longest lifetime allowed unless the deployment says otherwise: 30 days.
pub const DEFAULT_MAX_LIFETIME_SECONDS: i64 = 30 * 24 * 3600;
/// Allowed clock skew for `nbf`, in seconds.
pub const NOT_BEFORE_LEEWAY_SECONDS: i64 = 30;
/// Longest token looked at (bounded before any parsing).
pub const MAX_TOKEN_BYTES: usize = 4096;

/// Why a token was refused. The messages say what a caller can fix; none reveals a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("The bearer token is malformed.")]
    Malformed,
    #[error("The bearer token is signed with an algorithm Sluice does not accept (only EdDSA).")]
    WrongAlgorithm,
    #[error("The bearer token names a signing key Sluice does not know.")]
    UnknownKey,
    #[error("The bearer token's signature is invalid.")]
    BadSignature,
    #[error("The bearer token was issued for another issuer.")]
    WrongIssuer,
    #[error("The bearer token was issued for another audience.")]
    WrongAudience,
    #[error("The bearer token has expired.")]
    Expired,
    #[error("The bearer token is not valid yet.")]
    NotYetValid,
    #[error("The bearer token's lifetime exceeds the maximum.")]
    LifetimeTooLong,
    #[error("signing failed: {0}")]
    Signing(String),
}

/// What a token says: which integration of which account, speaking as which service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    /// The integration's id.
    pub sub: String,
    /// The registering account.
    pub acct: String,
    /// The service principal the integration speaks as (`s3.amazonaws.com`, …).
    pub svc: String,
    /// A unique id of this token (for revoking one token during rotation).
    pub jti: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
}

/// A signing key: Ed25519, PKCS#8 PEM (zeroized on drop), with its key id.
pub struct SigningKey {
    pub kid: String,
    private_pem: Zeroizing<String>,
    /// The SubjectPublicKeyInfo PEM of the key, for verification.
    pub public_pem: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("kid", &self.kid).finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A fresh Ed25519 key.
    pub fn generate(kid: impl Into<String>) -> Result<Self, TokenError> {
        let pair =
            rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).map_err(|e| TokenError::Signing(e.to_string()))?;
        Ok(Self {
            kid: kid.into(),
            private_pem: Zeroizing::new(pair.serialize_pem()),
            public_pem: pair.public_key_pem(),
        })
    }

    /// A key restored from storage (the private PEM as unsealed).
    pub fn from_parts(kid: String, private_pem: Zeroizing<String>, public_pem: String) -> Self {
        Self { kid, private_pem, public_pem }
    }

    /// The private PEM, for sealing into storage.
    pub fn private_pem(&self) -> &str {
        &self.private_pem
    }

    /// Signs `claims` after checking their lifetime.
    pub fn sign(&self, claims: &Claims) -> Result<String, TokenError> {
        if claims.exp <= claims.nbf || claims.exp - claims.nbf > MAX_LIFETIME_SECONDS {
            return Err(TokenError::LifetimeTooLong);
        }
        let key =
            EncodingKey::from_ed_pem(self.private_pem.as_bytes()).map_err(|e| TokenError::Signing(e.to_string()))?;
        let header = Header { kid: Some(self.kid.clone()), ..Header::new(ALGORITHM) };
        jsonwebtoken::encode(&header, claims, &key).map_err(|e| TokenError::Signing(e.to_string()))
    }
}

/// For a header that does not parse: WrongAlgorithm when it names an `alg` other than
/// EdDSA (such as `none`), Malformed otherwise.
fn alg_or_malformed(token: &str) -> TokenError {
    use base64::Engine;
    let Some(first) = token.split('.').next() else { return TokenError::Malformed };
    let Ok(bytes) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(first) else {
        return TokenError::Malformed;
    };
    match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(v) if v.get("alg").and_then(|a| a.as_str()).is_some_and(|a| a != "EdDSA") => TokenError::WrongAlgorithm,
        _ => TokenError::Malformed,
    }
}

/// The `kid` a token's header names (None for a token too long or without a readable
/// header). Only used to look one of Sluice's own keys up; nothing is fetched.
pub fn key_id(token: &str) -> Option<String> {
    if token.is_empty() || token.len() > MAX_TOKEN_BYTES {
        return None;
    }
    jsonwebtoken::decode_header(token).ok()?.kid.filter(|k| !k.is_empty() && k.len() <= 64)
}

/// What a token claims, read without checking its signature: only to name a token an
/// operator wants revoked (a revocation grants nothing, and is filed under the account the
/// operator names). None for anything that is not a readable token.
pub fn unverified_claims(token: &str) -> Option<Claims> {
    use base64::Engine;
    if token.len() > MAX_TOKEN_BYTES {
        return None;
    }
    let mut parts = token.split('.');
    let (_, payload, _, None) = (parts.next()?, parts.next()?, parts.next()?, parts.next()) else { return None };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The issuer and audience of integration tokens.
pub const TOKEN_ISSUER: &str = "sluice";
pub const TOKEN_AUDIENCE: &str = "sluice-integrations";

/// The verification keys Sluice accepts, by `kid`, and the issuer and audience it expects.
pub struct Verifier {
    /// kid → (key, the account whose tokens it signs).
    keys: HashMap<String, (DecodingKey, String)>,
    validation: Validation,
    /// The longest lifetime accepted (`exp - nbf`, seconds).
    max_lifetime: i64,
}

impl Verifier {
    pub fn new(issuer: &str, audience: &str) -> Self {
        let mut validation = Validation::new(ALGORITHM);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["iss", "aud", "sub", "nbf", "exp"]);
        // Times are checked against the injected clock in `verify`.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        Self { keys: HashMap::new(), validation, max_lifetime: MAX_LIFETIME_SECONDS }
    }

    /// Refuses tokens that live longer than `seconds` (at most `MAX_LIFETIME_SECONDS`), so a
    /// lower cap applies to tokens issued before it was set too.
    pub fn with_max_lifetime(mut self, seconds: i64) -> Self {
        self.max_lifetime = seconds.min(MAX_LIFETIME_SECONDS);
        self
    }

    /// Adds a verification key (SubjectPublicKeyInfo PEM of an Ed25519 key) that signs the
    /// tokens of `account` only.
    pub fn add_key(&mut self, kid: &str, public_pem: &str, account: &str) -> Result<(), TokenError> {
        let key = DecodingKey::from_ed_pem(public_pem.as_bytes()).map_err(|_| TokenError::Malformed)?;
        self.keys.insert(kid.to_owned(), (key, account.to_owned()));
        Ok(())
    }

    /// Verifies `token` at time `now` (seconds since the epoch); returns its claims.
    pub fn verify(&self, token: &str, now: i64) -> Result<Claims, TokenError> {
        if token.is_empty() || token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::Malformed);
        }
        // Headers the library cannot read include algorithms it does not know (`none`).
        let header = jsonwebtoken::decode_header(token).map_err(|_| alg_or_malformed(token))?;
        if header.alg != ALGORITHM {
            return Err(TokenError::WrongAlgorithm);
        }
        let (key, owner) = header.kid.as_deref().and_then(|k| self.keys.get(k)).ok_or(TokenError::UnknownKey)?;
        let data = jsonwebtoken::decode::<Claims>(token, key, &self.validation).map_err(|e| match e.kind() {
            ErrorKind::InvalidSignature => TokenError::BadSignature,
            ErrorKind::InvalidIssuer => TokenError::WrongIssuer,
            ErrorKind::InvalidAudience => TokenError::WrongAudience,
            ErrorKind::InvalidAlgorithm => TokenError::WrongAlgorithm,
            _ => TokenError::Malformed,
        })?;
        let c = data.claims;
        if &c.acct != owner {
            // A key of one account never vouches for another.
            return Err(TokenError::UnknownKey);
        }
        if c.exp - c.nbf > self.max_lifetime {
            return Err(TokenError::LifetimeTooLong);
        }
        if now >= c.exp {
            return Err(TokenError::Expired);
        }
        if c.nbf > now + NOT_BEFORE_LEEWAY_SECONDS {
            return Err(TokenError::NotYetValid);
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    const ISS: &str = "sluice";
    const AUD: &str = "sluice-integrations";
    const NOW: i64 = 1_800_000_000;

    fn claims() -> Claims {
        Claims {
            iss: ISS.into(),
            aud: AUD.into(),
            sub: "int-1".into(),
            acct: "111122223333".into(),
            svc: "s3.amazonaws.com".into(),
            jti: "t-1".into(),
            iat: NOW,
            nbf: NOW,
            exp: NOW + 3600,
        }
    }

    fn setup() -> (SigningKey, Verifier) {
        let key = SigningKey::generate("k1").unwrap();
        let mut v = Verifier::new(ISS, AUD);
        v.add_key(&key.kid, &key.public_pem, "111122223333").unwrap();
        (key, v)
    }

    fn b64(v: &serde_json::Value) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    }

    #[test]
    fn a_token_round_trips_and_carries_its_claims() {
        let (key, v) = setup();
        let token = key.sign(&claims()).unwrap();
        assert_eq!(v.verify(&token, NOW + 10).unwrap(), claims());
    }

    #[test]
    fn expired_and_not_yet_valid_tokens_are_refused() {
        let (key, v) = setup();
        let token = key.sign(&claims()).unwrap();
        assert_eq!(v.verify(&token, NOW + 3600), Err(TokenError::Expired));
        assert_eq!(v.verify(&token, NOW - NOT_BEFORE_LEEWAY_SECONDS), Ok(claims()), "within the skew");
        assert_eq!(v.verify(&token, NOW - NOT_BEFORE_LEEWAY_SECONDS - 1), Err(TokenError::NotYetValid));
    }

    #[test]
    fn other_issuers_and_audiences_are_refused() {
        let (key, v) = setup();
        let iss = key.sign(&Claims { iss: "someone-else".into(), ..claims() }).unwrap();
        assert_eq!(v.verify(&iss, NOW), Err(TokenError::WrongIssuer));
        let aud = key.sign(&Claims { aud: "another-service".into(), ..claims() }).unwrap();
        assert_eq!(v.verify(&aud, NOW), Err(TokenError::WrongAudience));
    }

    #[test]
    fn alg_none_and_hmac_with_the_public_key_are_refused() {
        let (key, v) = setup();
        let body = b64(&serde_json::to_value(claims()).unwrap());
        let none = format!("{}.{body}.", b64(&serde_json::json!({"alg": "none", "kid": "k1"})));
        assert_eq!(v.verify(&none, NOW), Err(TokenError::WrongAlgorithm));
        // The classic confusion: HS256 keyed with the (public) verification key.
        let hs = jsonwebtoken::encode(
            &Header { kid: Some("k1".into()), ..Header::new(Algorithm::HS256) },
            &claims(),
            &EncodingKey::from_secret(key.public_pem.as_bytes()),
        )
        .unwrap();
        assert_eq!(v.verify(&hs, NOW), Err(TokenError::WrongAlgorithm));
    }

    #[test]
    fn unknown_kids_other_keys_and_tampering_are_refused() {
        let (key, v) = setup();
        let stranger = SigningKey::generate("k2").unwrap();
        assert_eq!(v.verify(&stranger.sign(&claims()).unwrap(), NOW), Err(TokenError::UnknownKey));
        // Another key presenting our kid.
        let impostor = SigningKey::generate("k1").unwrap();
        assert_eq!(v.verify(&impostor.sign(&claims()).unwrap(), NOW), Err(TokenError::BadSignature));
        // A claim changed after signing.
        let token = key.sign(&claims()).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        let forged = b64(&serde_json::to_value(Claims { acct: "444455556666".into(), ..claims() }).unwrap());
        assert_eq!(v.verify(&format!("{}.{forged}.{}", parts[0], parts[2]), NOW), Err(TokenError::BadSignature));
        // No kid at all.
        let header = b64(&serde_json::json!({"alg": "EdDSA"}));
        assert_eq!(v.verify(&format!("{header}.{}.{}", parts[1], parts[2]), NOW), Err(TokenError::UnknownKey));
    }

    #[test]
    fn a_key_vouches_only_for_its_own_account() {
        let (key, v) = setup();
        let other = key.sign(&Claims { acct: "444455556666".into(), ..claims() }).unwrap();
        assert_eq!(v.verify(&other, NOW), Err(TokenError::UnknownKey));
    }

    #[test]
    fn key_urls_in_the_header_are_ignored() {
        let (key, v) = setup();
        // A jku/x5u header added by an attacker changes the signed header: the signature no
        // longer matches, and nothing is fetched either way.
        let token = key.sign(&claims()).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        let header = b64(&serde_json::json!({"alg": "EdDSA", "kid": "k1", "jku": "https://attacker.example/keys"}));
        assert_eq!(v.verify(&format!("{header}.{}.{}", parts[1], parts[2]), NOW), Err(TokenError::BadSignature));
    }

    #[test]
    fn missing_claims_garbage_and_overlong_tokens_are_refused() {
        let (key, v) = setup();
        for bad in ["", "x", "a.b.c", &"a".repeat(MAX_TOKEN_BYTES + 1)] {
            assert_eq!(v.verify(bad, NOW), Err(TokenError::Malformed), "{bad:.20}");
        }
        let mut no_exp = serde_json::to_value(claims()).unwrap();
        no_exp.as_object_mut().unwrap().remove("exp");
        let token = jsonwebtoken::encode(
            &Header { kid: Some("k1".into()), ..Header::new(ALGORITHM) },
            &no_exp,
            &EncodingKey::from_ed_pem(key.private_pem().as_bytes()).unwrap(),
        )
        .unwrap();
        assert_eq!(v.verify(&token, NOW), Err(TokenError::Malformed));
    }

    #[test]
    fn lifetimes_beyond_the_maximum_are_neither_issued_nor_accepted() {
        let (key, v) = setup();
        let long = Claims { exp: NOW + MAX_LIFETIME_SECONDS + 1, ..claims() };
        assert_eq!(key.sign(&long), Err(TokenError::LifetimeTooLong));
        let token = jsonwebtoken::encode(
            &Header { kid: Some("k1".into()), ..Header::new(ALGORITHM) },
            &long,
            &EncodingKey::from_ed_pem(key.private_pem().as_bytes()).unwrap(),
        )
        .unwrap();
        assert_eq!(v.verify(&token, NOW), Err(TokenError::LifetimeTooLong));
    }

    #[test]
    fn a_deployments_lower_cap_refuses_longer_tokens_issued_before_it() {
        let (key, v) = setup();
        let month = Claims { exp: NOW + DEFAULT_MAX_LIFETIME_SECONDS + 1, ..claims() };
        let token = key.sign(&month).unwrap();
        assert!(v.verify(&token, NOW).is_ok(), "within the 90-day bound");
        let capped = v.with_max_lifetime(DEFAULT_MAX_LIFETIME_SECONDS);
        assert_eq!(capped.verify(&token, NOW), Err(TokenError::LifetimeTooLong));
        assert!(capped.verify(&key.sign(&claims()).unwrap(), NOW).is_ok());
    }

    #[test]
    fn unverified_claims_name_a_token_and_refuse_junk() {
        let (key, _) = setup();
        let token = key.sign(&claims()).unwrap();
        assert_eq!(unverified_claims(&token), Some(claims()));
        for junk in ["", "a.b", "a.b.c", "a.b.c.d", &"x".repeat(5000)] {
            assert_eq!(unverified_claims(junk), None, "{junk}");
        }
    }

    #[test]
    fn a_rotated_key_set_accepts_old_and_new_tokens_until_the_old_key_is_dropped() {
        let (old, mut v) = setup();
        let new = SigningKey::generate("k2").unwrap();
        v.add_key(&new.kid, &new.public_pem, "111122223333").unwrap();
        let (t_old, t_new) = (old.sign(&claims()).unwrap(), new.sign(&claims()).unwrap());
        assert!(v.verify(&t_old, NOW).is_ok() && v.verify(&t_new, NOW).is_ok());
        let mut after = Verifier::new(ISS, AUD);
        after.add_key(&new.kid, &new.public_pem, "111122223333").unwrap();
        assert_eq!(after.verify(&t_old, NOW), Err(TokenError::UnknownKey));
        assert!(after.verify(&t_new, NOW).is_ok());
    }
}

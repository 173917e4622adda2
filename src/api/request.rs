//! What the stages read of an HTTP request: headers, the bearer token, the body (bounded),
//! the client's address (through trusted proxies) and the global condition keys.

use actix_web::{HttpRequest, web};
use futures_util::StreamExt;

use super::{ApiState, SqsError};

pub(crate) fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// The most of a body read for a request whose (address, access key) pair keeps failing to
/// authenticate (see `auth::failures`): enough for any ordinary SQS call.
pub(crate) const PRE_AUTH_BODY_LIMIT: usize = 64 * 1024;

/// Reads the body, refusing it past `limit` (by Content-Length up front, or while reading).
pub(crate) async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<web::Bytes, SqsError> {
    let too_large = || SqsError::RequestEntityTooLarge(format!("The request body exceeds the limit of {limit} bytes."));
    let declared = header(req, "content-length").and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let mut body = web::BytesMut::with_capacity(declared.unwrap_or(0).min(limit));
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| SqsError::InvalidParameterValue(format!("Could not read the request body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// The client's address: the peer's, unless the peer is a trusted proxy; then the nearest
/// address of `X-Forwarded-For` (read from the right) that is not itself a trusted proxy.
///
/// Addresses are canonical: an IPv4 client of a dual-stack (`[::]`) listener, which the socket
/// reports as `::ffff:a.b.c.d`, is `a.b.c.d`, so `aws:SourceIp` conditions and
/// `trusted_proxies` written with IPv4 addresses match it.
pub(crate) fn client_ip(req: &HttpRequest, trusted: &[ipnet::IpNet]) -> Option<std::net::IpAddr> {
    let peer = req.peer_addr()?.ip().to_canonical();
    let is_trusted = |ip: &std::net::IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let mut client = peer;
    let forwarded: Vec<&str> =
        req.headers().get_all("x-forwarded-for").filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).collect();
    for hop in forwarded.iter().rev().take(32) {
        let Ok(ip) = hop.trim().parse::<std::net::IpAddr>().map(|ip| ip.to_canonical()) else { break };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    Some(client)
}

/// The global condition keys of a request.
pub(crate) fn request_context(
    p: &crate::auth::Principal,
    req: &HttpRequest,
    state: &ApiState,
) -> crate::policy::context::Context {
    let region = state.region.as_str();
    let mut ctx = crate::policy::context::Context::new();
    let now = state.clock.now();
    ctx.set("aws:SecureTransport", "true")
        .set("aws:CurrentTime", now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .set("aws:EpochTime", now.timestamp().to_string())
        .set("aws:RequestedRegion", region);
    if let Some(svc) = &p.service {
        // A service delivering for a source of the registering account: no principal
        // account, ARN or source IP (the source's ARN is added per delivery).
        ctx.set("aws:PrincipalIsAWSService", "true")
            .set("aws:PrincipalServiceName", svc.service.clone())
            .set("aws:SourceAccount", svc.account_id.clone())
            .set("aws:SourceOwner", svc.account_id.clone());
        return ctx;
    }
    let kind = match p.kind {
        crate::auth::principal::Kind::User => "User",
        crate::auth::principal::Kind::AssumedRole => "AssumedRole",
        _ => "Account",
    };
    // For a role session, aws:PrincipalArn is the role's ARN, not the session's.
    let principal_arn = p.role.as_ref().map_or(p.arn.as_str(), |r| r.role_arn.as_str());
    ctx.set("aws:PrincipalAccount", p.account_id.clone())
        .set("aws:PrincipalArn", principal_arn.to_owned())
        .set("aws:PrincipalType", kind)
        .set("aws:PrincipalIsAWSService", "false")
        .set("aws:userid", p.sender_id());
    if let Some(r) = &p.role {
        ctx.set("aws:RoleSessionName", r.session_name.clone());
    }
    if let Some(name) = &p.user_name {
        ctx.set("aws:username", name.clone());
    }
    if let Some(ip) = client_ip(req, &state.trusted_proxies) {
        ctx.set("aws:SourceIp", ip.to_string());
    }
    ctx
}

/// The bearer token of a request, if it carries one.
pub(crate) fn bearer(req: &HttpRequest) -> Option<&str> {
    let v = header(req, "authorization")?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

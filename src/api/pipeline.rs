//! One request, stage by stage: authenticate (credentials before the body, then the
//! signature over it) → decode (protocol and action: a row of `table`) → admit (the
//! account's request rate) → authorize and run (the row's checks decided by the gate, then its
//! handler, within the account's share of the database) → audit (management changes).
//! IAM and STS calls take the same stages through `api::iam`.

use std::collections::HashMap;
use std::time::Instant;

use actix_web::{HttpRequest, web};

use super::request::{PRE_AUTH_BODY_LIMIT, bearer, client_ip, header, read_body, request_context};
use super::{ApiState, Call, Input, Output, Protocol, SqsError};
use crate::auth::sigv4;

/// What the log line and the metrics say of a request: its action and account, as far as
/// the stages got.
#[derive(Debug, Default)]
pub struct Seen {
    pub action: &'static str,
    pub account: String,
}

/// An authenticated request: who, for which service, and its body.
struct Authenticated {
    principal: crate::auth::Principal,
    service: crate::auth::Service,
    body: web::Bytes,
}

/// Runs one request through the stages.
pub async fn handle(
    req: &HttpRequest,
    payload: web::Payload,
    state: &ApiState,
    proto: Protocol,
    request_id: &str,
    seen: &mut Seen,
) -> Result<Output, SqsError> {
    seen.action = "-";
    let who = authenticate(req, payload, state).await?;
    seen.account = who.principal.account_id.clone();
    if who.service != crate::auth::Service::Sqs {
        seen.action = "iam/sts";
        admit(state, &seen.account, "iam/sts").await?;
        let iam = super::boxed(|| iam_or_sts(req, &who.body, state, &who.principal, who.service, proto, request_id));
        return iam.await;
    }
    let (spec, input) = decode(req, &who.body, proto)?;
    seen.action = spec.name;
    admit(state, &seen.account, spec.name).await?;
    authorize_and_run(req, state, &who.principal, spec, input, proto, request_id).await
}

/// Who is calling: a bearer token, or a signature whose credentials are looked up from the
/// head before any of the body is read, then checked over the body in constant time.
#[tracing::instrument(level = "debug", skip_all)]
async fn authenticate(req: &HttpRequest, payload: web::Payload, state: &ApiState) -> Result<Authenticated, SqsError> {
    let mut headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    if !headers.iter().any(|(n, _)| n == "host") {
        // HTTP/2 carries the host as :authority.
        if let Some(a) = req.uri().authority() {
            headers.push(("host".into(), a.to_string()));
        }
    }
    let head = sigv4::Request {
        method: req.method().as_str(),
        path: req.uri().path(),
        query: req.uri().query().unwrap_or(""),
        headers: &headers,
        body: &[],
    };

    // Authenticate first: nothing is served to an unauthenticated caller, and nothing of the
    // body is read before the credentials it is signed with are known to exist.
    let peer = client_ip(req, &state.trusted_proxies);
    let (caller, limit) = match bearer(req) {
        Some(token) => match state.auth.authenticate_bearer(token).await {
            Ok(p) => (Caller::Bearer(p), state.max_request_bytes),
            Err(e) => return Err(e.into()),
        },
        None => match state.auth.begin(&head).await {
            Ok(p) => {
                let now = Instant::now();
                let suspect = peer.is_some_and(|ip| state.failed_auth.suspect(ip, p.access_key_id(), now));
                let limit =
                    if suspect { PRE_AUTH_BODY_LIMIT.min(state.max_request_bytes) } else { state.max_request_bytes };
                (Caller::Signed(p), limit)
            }
            Err(e) => return Err(e.into()),
        },
    };
    let body = match tokio::time::timeout(state.request_timeout, read_body(req, payload, limit)).await {
        Ok(Ok(b)) => b,
        Ok(Err(SqsError::RequestEntityTooLarge(_))) if limit < state.max_request_bytes => {
            return Err(SqsError::RequestThrottled(format!(
                "Too many failed authentications with this access key from this address: request bodies over {limit} bytes are refused until they stop."
            )));
        }
        Ok(Err(e)) => return Err(e),
        Err(_) => return Err(SqsError::RequestTimeout("The request body was not received in time.".into())),
    };
    let sreq = sigv4::Request { body: &body, ..head };
    let (principal, service) = match caller {
        Caller::Bearer(p) => (p, crate::auth::Service::Sqs),
        Caller::Signed(pending) => {
            let key = pending.access_key_id().to_owned();
            match state.auth.finish(pending, &sreq) {
                Ok(done) => {
                    if let Some(ip) = peer {
                        state.failed_auth.succeeded(ip, &key);
                    }
                    done
                }
                Err(e) => {
                    if let Some(ip) = peer {
                        state.failed_auth.failed(ip, &key, Instant::now());
                    }
                    return Err(e.into());
                }
            }
        }
    };
    Ok(Authenticated { principal, service, body })
}

/// The protocol's input and the action it names: a row of the table, or InvalidAction
/// before anything else happens.
#[tracing::instrument(level = "debug", skip_all)]
fn decode<'a>(
    req: &HttpRequest,
    body: &'a [u8],
    proto: Protocol,
) -> Result<(&'static super::table::Action, Input<'a>), SqsError> {
    let (name, input) = match proto {
        Protocol::Query => {
            let params = query_params(req, body)?;
            let (name, value) = super::wire::query::decode(&params)?;
            (name, Input::Query(value))
        }
        Protocol::Json => {
            if req.method() != actix_web::http::Method::POST {
                return Err(SqsError::InvalidAction("AWS JSON requests must use POST.".into()));
            }
            let target = header(req, "x-amz-target").unwrap_or("");
            let Some(name) = target.strip_prefix("AmazonSQS.") else {
                let e = if target.is_empty() {
                    SqsError::MissingAction("The request must contain an X-Amz-Target header naming the action.".into())
                } else {
                    SqsError::InvalidAction("The X-Amz-Target header must be AmazonSQS.<Action>.".into())
                };
                return Err(e);
            };
            if !crate::bounds::json_depth_within(body, crate::bounds::MAX_JSON_DEPTH) {
                return Err(SqsError::InvalidParameterValue(format!(
                    "The request body nests deeper than {} levels.",
                    crate::bounds::MAX_JSON_DEPTH
                )));
            }
            (name.to_owned(), Input::Json(body))
        }
    };
    let spec =
        super::table::find(super::table::Service::Sqs, &name).ok_or_else(|| super::table::unknown("sqs", &name))?;
    Ok((spec, input))
}

/// The row's checks decided by the gate and its handler run (`api::dispatch`), within the
/// account's share of concurrent work; a management change is then audited.
#[tracing::instrument(level = "debug", skip_all, fields(action = spec.name))]
async fn authorize_and_run(
    req: &HttpRequest,
    state: &ApiState,
    principal: &crate::auth::Principal,
    spec: &'static super::table::Action,
    input: Input<'_>,
    proto: Protocol,
    request_id: &str,
) -> Result<Output, SqsError> {
    let topic = topic_delivery(req, principal, spec.name)?;
    let (identity, session_policy) = policies_of(state, principal).await?;
    let mut context = request_context(principal, req, state);
    if let Some(t) = &topic {
        context.set("aws:SourceArn", t.topic_arn.clone());
    }
    // One account's requests take turns beyond its share, so its load cannot hold every
    // database connection. Receives are bounded by the long-poll limits instead (a long poll
    // holds no connection while it waits).
    let _turn =
        if spec.name == "ReceiveMessage" { None } else { Some(state.quotas.admit_work(&principal.account_id).await?) };
    let call = Call {
        state,
        principal,
        spec,
        path: req.uri().path(),
        protocol: proto,
        identity,
        session_policy,
        context,
        topic,
    };
    let audited = AUDITED_SQS.contains(&spec.name).then(|| match &input {
        Input::Json(body) => serde_json::from_slice(body).unwrap_or(serde_json::Value::Null),
        Input::Query(v) => v.clone(),
    });
    let output = super::dispatch(&call, input).await?;
    if let Some(params) = audited {
        audit(state, audit_entry(req, state, principal, &format!("sqs:{}", spec.name), request_id, &params)).await?;
    }
    Ok(output)
}

/// Admits a request of `account` under its request rate for the action's family (per
/// instance); a throttled request is `RequestThrottled`, which the SDKs retry with backoff.
#[tracing::instrument(level = "debug", skip_all)]
pub(crate) async fn admit(state: &ApiState, account: &str, action: &str) -> Result<(), SqsError> {
    let quotas = &state.quotas;
    let (limits, _) = quotas.of(account).await?;
    let family = crate::queue::quotas::family(action);
    if quotas.admit(account, family, limits.requests_per_second) {
        Ok(())
    } else {
        Err(SqsError::RequestThrottled(format!(
            "Rate exceeded: the account's {family} requests are limited to {} a second.",
            limits.requests_per_second
        )))
    }
}

/// SQS actions that change something an operator may have to account for.
const AUDITED_SQS: &[&str] = &[
    "CreateQueue",
    "DeleteQueue",
    "SetQueueAttributes",
    "AddPermission",
    "RemovePermission",
    "TagQueue",
    "UntagQueue",
    "PurgeQueue",
    "StartMessageMoveTask",
    "CancelMessageMoveTask",
];

/// Request parameters recorded in the audit trail: names and ids, never secrets.
const AUDITED_PARAMS: &[&str] = &[
    "UserName",
    "NewUserName",
    "GroupName",
    "RoleName",
    "PolicyName",
    "PolicyArn",
    "VersionId",
    "AccessKeyId",
    "Status",
    "Path",
    "IntegrationId",
    "TokenId",
    "Service",
    "RoleArn",
    "RoleSessionName",
    "DurationSeconds",
    "QueueUrl",
    "QueueName",
    "QueueOwnerAWSAccountId",
    "Label",
    "SourceArn",
    "DestinationArn",
    "TaskHandle",
];

/// The audit entry of a successful management call: the named resources and, for attribute
/// and tag changes, the names changed (values may be large; names say what changed).
fn audit_entry(
    req: &HttpRequest,
    state: &ApiState,
    p: &crate::auth::Principal,
    action: &str,
    request_id: &str,
    params: &serde_json::Value,
) -> crate::store::audit::AuditEntry {
    let mut detail = serde_json::Map::new();
    for k in AUDITED_PARAMS {
        if let Some(v) = params.get(*k).and_then(|v| v.as_str()) {
            detail.insert((*k).to_owned(), serde_json::Value::String(v.chars().take(512).collect()));
        }
    }
    for k in ["Attributes", "Tags"] {
        if let Some(obj) = params.get(k).and_then(|v| v.as_object()) {
            detail.insert(format!("{k}Changed"), serde_json::json!(obj.keys().collect::<Vec<_>>()));
        }
    }
    if let Some(keys) = params.get("TagKeys") {
        detail.insert("TagKeys".into(), keys.clone());
    }
    let resource =
        ["QueueUrl", "QueueName", "RoleName", "UserName", "GroupName", "PolicyArn", "IntegrationId", "RoleArn"]
            .iter()
            .find_map(|k| detail.get(*k).and_then(|v| v.as_str()).map(str::to_owned))
            .unwrap_or_else(|| "*".into());
    crate::store::audit::AuditEntry {
        at: state.clock.now(),
        account_id: Some(p.account_id.clone()),
        actor: p.arn.clone(),
        action: action.to_owned(),
        resource,
        source_ip: client_ip(req, &state.trusted_proxies).map(|ip| ip.to_string()),
        request_id: Some(request_id.to_owned()),
        detail: serde_json::Value::Object(detail),
    }
}

/// Records a successful management call; failing to record it fails the call (the audit
/// trail is durable, not best effort).
#[tracing::instrument(level = "debug", skip_all)]
async fn audit(state: &ApiState, entry: crate::store::audit::AuditEntry) -> Result<(), SqsError> {
    state.tenancy.record(&entry).await.map_err(|e| SqsError::internal(&e))
}

/// What a service integration may do on the SQS API: a topic integration sends (and only
/// sends) for one of its topics; a storage integration delivers through its event endpoint
/// alone, so nothing it sends can pass for an arbitrary message.
fn topic_delivery(
    req: &HttpRequest,
    p: &crate::auth::Principal,
    action: &str,
) -> Result<Option<std::sync::Arc<crate::events::sns::Delivery>>, SqsError> {
    let Some(svc) = &p.service else { return Ok(None) };
    if svc.service != "sns.amazonaws.com" {
        return Err(SqsError::AccessDenied(format!(
            "A {} integration delivers through its event endpoint only.",
            svc.service
        )));
    }
    if action != "SendMessage" && action != "SendMessageBatch" {
        return Err(SqsError::AccessDenied(format!(
            "A service integration may only send messages; {action} is not allowed."
        )));
    }
    let topic = match header(req, "x-sluice-source-arn") {
        Some(t) => t,
        None if svc.sources.len() == 1 => svc.sources[0].as_str(),
        None => {
            return Err(SqsError::MissingParameter(
                "The integration claims several topics: the X-Sluice-Source-Arn header must name one.".into(),
            ));
        }
    };
    if !svc.sources.iter().any(|s| s == topic) {
        let shown: String = topic.chars().take(256).collect();
        return Err(SqsError::AccessDenied(format!("The integration may not deliver for the topic {shown}.")));
    }
    let subject = header(req, "x-sluice-sns-subject").map(str::to_owned);
    if let Some(s) = &subject {
        crate::events::sns::check_subject(s)?;
    }
    let raw = match header(req, "x-sluice-raw-delivery") {
        None => false,
        Some(v) if v.eq_ignore_ascii_case("true") => true,
        Some(v) if v.eq_ignore_ascii_case("false") => false,
        Some(_) => {
            return Err(SqsError::InvalidParameterValue("X-Sluice-Raw-Delivery must be true or false.".into()));
        }
    };
    Ok(Some(std::sync::Arc::new(crate::events::sns::Delivery { topic_arn: topic.to_owned(), subject, raw })))
}

/// The query parameters of a request: the URL's and, for a form body, the body's.
fn query_params(req: &HttpRequest, body: &[u8]) -> Result<Vec<(String, String)>, SqsError> {
    // The URL's parameters are decoded by the same function the signature was checked with.
    let mut params: Vec<(String, String)> = sigv4::query_pairs(req.uri().query().unwrap_or("")).collect();
    if header(req, "content-type").is_some_and(|c| c.starts_with("application/x-www-form-urlencoded")) {
        let form: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
            .map_err(|_| SqsError::MalformedQueryString("The request body is not a valid form.".into()))?;
        params.extend(form);
    }
    Ok(params)
}

type Policies = std::sync::Arc<Vec<crate::policy::document::Policy>>;

/// The identity policies of a caller (its user's or role's) and a role session's policy.
async fn policies_of(state: &ApiState, p: &crate::auth::Principal) -> Result<(Policies, Option<Policies>), SqsError> {
    let identity = match p.policy_owner() {
        Some(id) => state.policies.identity(id).await?,
        None => std::sync::Arc::new(Vec::new()),
    };
    let session = match p.role.as_ref().and_then(|r| r.session_policy.as_deref()) {
        Some(text) => Some(state.policies.session(&p.access_key_id, text).await?),
        None => None,
    };
    Ok((identity, session))
}

/// IAM and STS calls (query protocol only).
#[tracing::instrument(level = "debug", skip_all)]
async fn iam_or_sts(
    req: &HttpRequest,
    body: &[u8],
    state: &ApiState,
    principal: &crate::auth::Principal,
    service: crate::auth::Service,
    proto: Protocol,
    request_id: &str,
) -> Result<Output, SqsError> {
    if proto == Protocol::Json {
        return Err(SqsError::SignatureDoesNotMatch("Credential should be scoped to correct service: 'sqs'.".into()));
    }
    let params: HashMap<String, String> = query_params(req, body)?.into_iter().collect();
    if params.len() > 200 {
        return Err(SqsError::InvalidParameterValue("Too many parameters in the request.".into()));
    }
    // Every value may be echoed in an XML answer (an entity's description, a name in an
    // error): characters XML 1.0 cannot carry are refused before anything is done.
    if let Some((name, _)) = params.iter().find(|(_, v)| !v.chars().all(crate::queue::message::allowed_char)) {
        let mut field: String = name.chars().take(64).collect();
        if let Some(first) = field.get(..1) {
            field = first.to_ascii_lowercase() + &field[1..];
        }
        return Err(SqsError::ValidationError(format!(
            "1 validation error detected: Value at '{field}' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\u0009\\u000A\\u000D\\u0020-\\uD7FF\\uE000-\\uFFFD\\u10000-\\u10FFFF]*"
        )));
    }
    let action = params
        .get("Action")
        .cloned()
        .ok_or_else(|| SqsError::MissingAction("The request must contain the parameter Action.".into()))?;
    if service == crate::auth::Service::Iam && principal.temporary && principal.role.is_none() {
        // As on AWS: a user's session token (without MFA) cannot call IAM.
        return Err(SqsError::AccessDenied("IAM calls need long-term or role credentials.".into()));
    }
    let (identity, session) = policies_of(state, principal).await?;
    let context = request_context(principal, req, state);
    let call = super::iam::IamCall {
        state,
        principal,
        identity: &identity,
        session_policy: session.as_deref().and_then(|v| v.first()),
        context: &context,
        params,
    };
    let audited = match service {
        crate::auth::Service::Iam => !action.starts_with("Get") && !action.starts_with("List"),
        _ => action == "AssumeRole" || action == "GetSessionToken",
    };
    let params_json = if audited {
        serde_json::Value::Object(call.params.iter().map(|(k, v)| (k.clone(), v.clone().into())).collect())
    } else {
        serde_json::Value::Null
    };
    // Only a row of the table is served; anything else is refused before any handler runs.
    let (table_service, label) = match service {
        crate::auth::Service::Iam => (super::table::Service::Iam, "IAM"),
        _ => (super::table::Service::Sts, "STS"),
    };
    let row = super::table::find(table_service, &action).ok_or_else(|| super::table::unknown(label, &action))?;
    let (ns, run) = match row.run {
        super::table::Run::Iam(run) => (super::iam::IAM_NS, run),
        super::table::Run::Sts(run) => (super::iam::STS_NS, run),
        super::table::Run::Sqs(_) => return Err(SqsError::internal(&"an SQS row on the IAM path")),
    };
    let xml = super::iam::respond(ns, row.name, run(&call).await?, request_id);
    if audited {
        let prefix = if service == crate::auth::Service::Iam { "iam" } else { "sts" };
        audit(state, audit_entry(req, state, principal, &format!("{prefix}:{action}"), request_id, &params_json))
            .await?;
    }
    Ok(Output::Xml(xml))
}

/// Who a request says it is, before its body is read.
enum Caller {
    /// A service integration, its token verified.
    Bearer(crate::auth::Principal),
    /// A signed request whose key is known; the signature is checked over the body next.
    Signed(crate::auth::Pending),
}

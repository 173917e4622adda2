//! The wire: decoding requests (AWS JSON 1.0 and the query protocol), routing by action
//! through the action table (`table`), and encoding answers and errors.
//!
//! Authorization cannot be forgotten: every action of every service is one row of `table`,
//! with the checks the gate must decide. The dispatcher decodes the input, resolves what the
//! row names, has `policy::gate` decide every check, and only then calls the handler, which
//! takes the gate's `Authorized<…>` proof as an argument; a handler cannot make one.

pub mod error;
pub mod events;
pub mod http;
pub mod iam;
pub mod pipeline;
pub mod request;
pub mod sqs;
pub mod sts;
pub mod table;
pub mod wire;

use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::auth::{Authenticator, Principal};
pub use crate::error::SqsError;
use crate::policy::{self, Authorized};
use crate::queue::{AccountId, QueueName, QueueRef, QueueService};

/// An SQS action's run: decode, resolve, decide, handle — one boxed future (see `boxed`).
pub type BoxedRun = for<'a> fn(
    &'a Call<'a>,
    Input<'a>,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Output, SqsError>> + 'a>>;

/// What the API layer needs from the rest of the service.
#[derive(Debug, Clone)]
pub struct ApiState {
    pub auth: Authenticator,
    pub tenancy: crate::tenancy::Tenancy,
    pub queues: Arc<QueueService>,
    pub region: String,
    pub max_request_bytes: usize,
    pub request_timeout: std::time::Duration,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Proxies whose X-Forwarded-For is believed.
    pub trusted_proxies: Arc<Vec<ipnet::IpNet>>,
    /// Failed authentications per (address, access key id).
    pub failed_auth: Arc<crate::auth::failures::FailedAuth>,
    /// The service's time: condition keys (`aws:CurrentTime`), the audit trail.
    pub clock: Arc<dyn crate::clock::Clock>,
    /// Identity, session and queue policies, loaded and cached for the gate.
    pub policies: Arc<crate::auth::policies::Policies>,
    /// Tenant limits (admission of requests).
    pub quotas: Arc<crate::queue::quotas::Quotas>,
    /// Message move tasks (their handles, and the move-task actions).
    pub moves: Arc<crate::queue::moves::Mover>,
}

/// Which wire protocol a request speaks; answers use the same one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// AWS JSON 1.0 (`X-Amz-Target: AmazonSQS.<Action>`).
    Json,
    /// The query protocol (form parameters in, XML out).
    Query,
}

/// A decoded request input.
#[derive(Debug)]
pub enum Input<'a> {
    Json(&'a [u8]),
    /// Query parameters, already in the JSON shape (see `query`).
    Query(serde_json::Value),
}

/// A handler's answer: JSON text, or the JSON shape for the XML encoder.
#[derive(Debug)]
pub enum Output {
    Json(String),
    Value(serde_json::Value),
    /// XML already rendered (the IAM and STS query APIs).
    Xml(String),
}

/// The caller and the request path, as every handler sees them.
#[derive(Debug)]
pub struct Call<'a> {
    pub state: &'a ApiState,
    pub principal: &'a Principal,
    pub spec: &'static table::Action,
    pub path: &'a str,
    pub protocol: Protocol,
    /// The caller's identity policies (empty for an account root).
    pub identity: Arc<Vec<policy::document::Policy>>,
    /// A role session's session policy (a list of one).
    pub session_policy: Option<Arc<Vec<policy::document::Policy>>>,
    /// The request's condition keys (global keys; request tags are added per action).
    pub context: policy::context::Context,
    /// For a topic integration: the topic it delivers for, and how messages are wrapped.
    pub topic: Option<Arc<crate::events::sns::Delivery>>,
}

impl Call<'_> {
    /// Encodes an answer for the request's protocol.
    pub fn reply<T: Serialize>(&self, v: &T) -> Result<Output, SqsError> {
        let failed = |e: serde_json::Error| SqsError::internal(&format!("encoding failed: {e}"));
        match self.protocol {
            Protocol::Json => serde_json::to_string(v).map(Output::Json).map_err(failed),
            Protocol::Query => serde_json::to_value(v).map(Output::Value).map_err(failed),
        }
    }
}

/// Where an input names its queue; the dispatcher reads it according to the action's
/// `Target` before calling the handler.
pub trait Targeted {
    fn queue_url(&self) -> Option<&str> {
        None
    }
    fn queue_name(&self) -> Option<&str> {
        None
    }
    fn queue_owner(&self) -> Option<&str> {
        None
    }
    /// Whether the request tags what it makes (CreateQueue with tags also needs
    /// `sqs:TagQueue`).
    fn has_tags(&self) -> bool {
        false
    }
    fn source_arn(&self) -> Option<&str> {
        None
    }
    /// A second queue the action writes to, needing `sqs:SendMessage` there.
    fn destination_arn(&self) -> Option<&str> {
        None
    }
    fn task_handle(&self) -> Option<&str> {
        None
    }
    /// Tags the request carries (`aws:RequestTag/…`), and tag keys it names (`aws:TagKeys`).
    fn request_tags(&self) -> (Vec<(&str, &str)>, Vec<&str>) {
        (Vec::new(), Vec::new())
    }
}

/// Asks the gate whether `p` may perform `action` on `resource` (owned by `owner`; none
/// for account-level actions, with the resource's policy when it has one), with its identity
/// policies, its session policy and the request's context. For callers outside the table's
/// SQS rows: the IAM and STS handlers (on the entity they resolved) and the event sink.
#[allow(clippy::too_many_arguments)]
pub(crate) fn decide<T>(
    p: &Principal,
    identity: &[policy::document::Policy],
    session_policy: Option<&policy::document::Policy>,
    resource_policy: Option<&policy::document::Policy>,
    context: &policy::context::Context,
    action: &str,
    resource: &str,
    owner: Option<&str>,
    target: T,
) -> Result<Authorized<T>, SqsError> {
    let identity: Vec<&policy::document::Policy> = identity.iter().collect();
    let check = policy::Check { action, resource, owner, resource_policy };
    Ok(policy::authorize(&p.caller(session_policy), &identity, context, &[check], target)?)
}

/// The dispatcher's side of the gate: the target an SQS row names, resolved from the request
/// without looking it up, and every check of the row decided on it.
mod gate {
    use super::table::{On, Target, When};
    use super::*;

    fn caller_account(call: &Call<'_>) -> Result<AccountId, SqsError> {
        AccountId::parse(&call.principal.account_id).ok_or_else(|| SqsError::internal(&"invalid caller account"))
    }

    /// The queue an SQS action targets, authorized for every check of its row, and the call
    /// with the request's tags and the queue's tags in its context. The decision uses the
    /// account in the reference alone, before anyone looks the queue up, so a refusal reveals
    /// nothing about its existence.
    pub(super) async fn decide<'a>(
        call: &Call<'a>,
        input: &impl Targeted,
    ) -> Result<(Call<'a>, Authorized<QueueRef>), SqsError> {
        let r = resolve(call, input)?;
        let owner = r.account.clone();
        let mut call = with_tags(call, input);
        add_resource_tags(&mut call, &r).await?;
        let queue_policy = call.state.policies.queue(&r).await?;
        let arn = call.state.queues.queue_arn(&r);
        let destination = match input.destination_arn() {
            Some(dest) => Some(
                crate::domain::QueueArn::parse(dest)
                    .ok_or_else(|| SqsError::InvalidAddress(format!("The address {dest} is not valid.")))?,
            ),
            None => None,
        };
        let tagged = input.has_tags();
        let mut checks = Vec::with_capacity(call.spec.checks.len());
        for c in call.spec.checks {
            if c.when == When::Tagged && !tagged {
                continue;
            }
            match c.on {
                On::Target => checks.push(policy::Check {
                    action: c.action,
                    resource: arn.as_str(),
                    owner: Some(owner.as_str()),
                    resource_policy: queue_policy.as_deref(),
                }),
                // A destination is decided on its own ARN (its policy is not read here).
                On::Destination => {
                    if let Some(d) = &destination {
                        checks.push(policy::Check {
                            action: c.action,
                            resource: d.as_str(),
                            owner: Some(d.queue().account.as_str()),
                            resource_policy: None,
                        });
                    }
                }
            }
        }
        let identity: Vec<&policy::document::Policy> = call.identity.iter().collect();
        let session = call.session_policy.as_deref().and_then(|v| v.first());
        let caller = call.principal.caller(session);
        let proof = policy::authorize(&caller, &identity, &call.context, &checks, r)?;
        Ok((call, proof))
    }

    /// The queue an action names (no lookup: nothing about its existence is learned).
    fn resolve(call: &Call<'_>, input: &impl Targeted) -> Result<QueueRef, SqsError> {
        Ok(match call.spec.target {
            Target::QueueUrl => match input.queue_url() {
                Some(url) => QueueRef::from_url(url)?,
                // Clients that post to the queue URL may leave the member out.
                None if call.path.len() > 1 => QueueRef::from_url(call.path)?,
                None => return Err(SqsError::missing("QueueUrl")),
            },
            Target::QueueName => {
                let name = input.queue_name().ok_or_else(|| SqsError::missing("QueueName"))?;
                let name = QueueName::parse(name)?;
                let account = match input.queue_owner() {
                    Some(o) => AccountId::parse(o).ok_or_else(|| {
                        SqsError::InvalidParameterValue(format!(
                            "Value {o} for parameter QueueOwnerAWSAccountId is invalid."
                        ))
                    })?,
                    None => caller_account(call)?,
                };
                QueueRef { account, name }
            }
            Target::SourceArn => {
                let arn = input.source_arn().ok_or_else(|| SqsError::missing("SourceArn"))?;
                crate::domain::QueueArn::parse(arn)
                    .map(|a| a.queue().clone())
                    .ok_or_else(|| SqsError::InvalidAddress(format!("The address {arn} is not valid.")))?
            }
            Target::TaskHandle => {
                let handle = input.task_handle().ok_or_else(|| SqsError::missing("TaskHandle"))?;
                let handle = crate::domain::TaskHandle::parse(handle)?;
                // Only a handle this deployment issued names a queue (MACed, no lookup).
                call.state
                    .moves
                    .check_handle(&handle)
                    .map(|(_, arn)| arn.queue().clone())
                    .ok_or_else(|| SqsError::ResourceNotFoundException("The task handle is not valid.".into()))?
            }
            Target::Account | Target::Entity => return Err(SqsError::internal(&"action table: not a queue action")),
        })
    }

    /// Account-level actions (`Resource: *` in the caller's account).
    pub(super) fn account(call: &Call<'_>) -> Result<Authorized<AccountId>, SqsError> {
        let account = caller_account(call)?;
        decide_checks(call, account)
    }

    fn decide_checks<T>(call: &Call<'_>, target: T) -> Result<Authorized<T>, SqsError> {
        let checks: Vec<policy::Check<'_>> = call
            .spec
            .checks
            .iter()
            .map(|c| policy::Check { action: c.action, resource: "*", owner: None, resource_policy: None })
            .collect();
        let identity: Vec<&policy::document::Policy> = call.identity.iter().collect();
        let session = call.session_policy.as_deref().and_then(|v| v.first());
        Ok(policy::authorize(&call.principal.caller(session), &identity, &call.context, &checks, target)?)
    }
}

/// Decodes an input (an empty JSON body is `{}`).
pub fn decode<T: DeserializeOwned + Default>(input: &Input<'_>) -> Result<T, SqsError> {
    let bad = |e: serde_json::Error| {
        SqsError::InvalidParameterValue(format!("The request is not valid for this action: {e}"))
    };
    match input {
        Input::Json(body) if body.iter().all(u8::is_ascii_whitespace) => Ok(T::default()),
        Input::Json(body) => serde_json::from_slice(body).map_err(bad),
        Input::Query(v) => T::deserialize(v).map_err(bad),
    }
}

/// The call with the input's request tags in its context (a copy only when there are tags).
fn with_tags<'a>(call: &Call<'a>, input: &impl Targeted) -> Call<'a> {
    let (tags, keys) = input.request_tags();
    let mut context = call.context.clone();
    if !tags.is_empty() || !keys.is_empty() {
        for (k, v) in &tags {
            context.set(&format!("aws:RequestTag/{k}"), *v);
        }
        let mut all: Vec<String> = tags.iter().map(|(k, _)| (*k).to_owned()).collect();
        all.extend(keys.iter().map(|k| (*k).to_owned()));
        context.set_many("aws:TagKeys", all);
    }
    Call {
        state: call.state,
        principal: call.principal,
        spec: call.spec,
        path: call.path,
        protocol: call.protocol,
        identity: call.identity.clone(),
        session_policy: call.session_policy.clone(),
        context,
        topic: call.topic.clone(),
    }
}

/// `aws:ResourceTag/…` keys of the target queue, read only when the caller's policies use
/// them and the queue is in the caller's own account.
async fn add_resource_tags(call: &mut Call<'_>, r: &QueueRef) -> Result<(), SqsError> {
    let wanted = call.identity.iter().any(|p| p.mentions_key_prefix("aws:resourcetag/"));
    if !wanted || r.account.as_str() != call.principal.account_id {
        return Ok(());
    }
    for (k, v) in call.state.queues.tags_if_exists(r).await? {
        call.context.set(&format!("aws:ResourceTag/{k}"), v);
    }
    Ok(())
}

/// The future `make` returns, on the heap. Each action runs boxed: inline, the dispatcher's
/// future (and every future that awaits it) would hold room for every action's state (the
/// compiler does not overlap them), and each request would copy that size about as it is
/// moved and boxed on its way to the runtime. The future is made here, outside any async body,
/// because one made inside an async body keeps its room there even once moved into a box.
pub(crate) fn boxed<'a, T, F: std::future::Future<Output = T> + 'a>(make: impl FnOnce() -> F) -> std::pin::Pin<Box<F>> {
    Box::pin(make())
}

/// Runs one authenticated SQS call through its row.
pub async fn dispatch(call: &Call<'_>, body: Input<'_>) -> Result<Output, SqsError> {
    match call.spec.run {
        table::Run::Sqs(run) => run(call, body).await,
        table::Run::Iam(_) | table::Run::Sts(_) => Err(SqsError::internal(&"an IAM or STS row on the SQS path")),
    }
}

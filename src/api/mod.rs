//! The wire: decoding requests (AWS JSON 1.0), routing by action through the action table,
//! and encoding answers and errors.
//!
//! Authorization cannot be forgotten: every action is described once in `ACTIONS` with the
//! IAM action it needs and where its resource comes from. The dispatcher decodes the input,
//! asks the policy gate for the resource the table names, and only then calls the handler,
//! which takes the gate's `Authorized<…>` proof as an argument; handlers never call the gate.

pub mod actions;
pub mod error;
pub mod events;
pub mod http;
pub mod iam;
pub mod json;
pub mod query;

use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::auth::{Authenticator, Principal};
pub use crate::error::SqsError;
use crate::policy::eval::{Caller, PrincipalKind};
use crate::policy::{self, Authorized};
use crate::queue::{AccountId, QueueName, QueueRef, QueueService};

/// Where an action's resource comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The queue named by `QueueUrl` (or the request path).
    QueueUrl,
    /// The queue named by `QueueName` in the caller's account (or `QueueOwnerAWSAccountId`).
    QueueName,
    /// The caller's account (`Resource: *`).
    Account,
    /// The queue named by `SourceArn` (move tasks); a `DestinationArn` is checked too.
    SourceArn,
    /// The source queue of the task named by `TaskHandle`.
    TaskHandle,
}

/// One row of the action table.
#[derive(Debug)]
pub struct ActionSpec {
    pub name: &'static str,
    pub iam_action: &'static str,
    pub target: Target,
    /// Actions of SQS that this version does not provide answer `UnsupportedOperation`.
    pub implemented: bool,
}

const fn spec(name: &'static str, iam_action: &'static str, target: Target, implemented: bool) -> ActionSpec {
    ActionSpec { name, iam_action, target, implemented }
}

/// Every SQS action, with the check it needs.
pub const ACTIONS: &[ActionSpec] = &[
    spec("CreateQueue", "sqs:CreateQueue", Target::QueueName, true),
    spec("GetQueueUrl", "sqs:GetQueueUrl", Target::QueueName, true),
    spec("ListQueues", "sqs:ListQueues", Target::Account, true),
    spec("DeleteQueue", "sqs:DeleteQueue", Target::QueueUrl, true),
    spec("SendMessage", "sqs:SendMessage", Target::QueueUrl, true),
    spec("ReceiveMessage", "sqs:ReceiveMessage", Target::QueueUrl, true),
    spec("DeleteMessage", "sqs:DeleteMessage", Target::QueueUrl, true),
    spec("GetQueueAttributes", "sqs:GetQueueAttributes", Target::QueueUrl, true),
    spec("SetQueueAttributes", "sqs:SetQueueAttributes", Target::QueueUrl, true),
    spec("PurgeQueue", "sqs:PurgeQueue", Target::QueueUrl, true),
    spec("ChangeMessageVisibility", "sqs:ChangeMessageVisibility", Target::QueueUrl, true),
    spec("ChangeMessageVisibilityBatch", "sqs:ChangeMessageVisibility", Target::QueueUrl, true),
    spec("SendMessageBatch", "sqs:SendMessage", Target::QueueUrl, true),
    spec("DeleteMessageBatch", "sqs:DeleteMessage", Target::QueueUrl, true),
    spec("ListDeadLetterSourceQueues", "sqs:ListDeadLetterSourceQueues", Target::QueueUrl, true),
    spec("TagQueue", "sqs:TagQueue", Target::QueueUrl, true),
    spec("UntagQueue", "sqs:UntagQueue", Target::QueueUrl, true),
    spec("ListQueueTags", "sqs:ListQueueTags", Target::QueueUrl, true),
    spec("AddPermission", "sqs:AddPermission", Target::QueueUrl, true),
    spec("RemovePermission", "sqs:RemovePermission", Target::QueueUrl, true),
    spec("StartMessageMoveTask", "sqs:StartMessageMoveTask", Target::SourceArn, true),
    spec("CancelMessageMoveTask", "sqs:CancelMessageMoveTask", Target::TaskHandle, true),
    spec("ListMessageMoveTasks", "sqs:ListMessageMoveTasks", Target::SourceArn, true),
];

/// Looks an action up by its wire name.
pub fn action(name: &str) -> Option<&'static ActionSpec> {
    ACTIONS.iter().find(|a| a.name == name)
}

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
    pub spec: &'static ActionSpec,
    pub path: &'a str,
    pub protocol: Protocol,
    /// The caller's identity policies (empty for an account root).
    pub identity: Arc<Vec<policy::document::Policy>>,
    /// A role session's session policy (a list of one).
    pub session_policy: Option<Arc<Vec<policy::document::Policy>>>,
    /// The request's condition keys (global keys; request tags are added per action).
    pub context: policy::context::Context,
    /// The target queue's ARN and policy, once the dispatcher has read it.
    pub queue_policy_of: Option<(String, Option<Arc<policy::document::Policy>>)>,
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
    /// IAM actions this input needs besides the action's own (e.g. tags on CreateQueue).
    fn extra_actions(&self) -> &'static [&'static str] {
        &[]
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

/// Asks the engine whether `p` may perform `action` on `resource` (owned by `owner`; none
/// for account-level actions), with its identity policies and the request's context.
#[allow(clippy::too_many_arguments)]
pub(crate) fn decide<T>(
    p: &Principal,
    identity: &[policy::document::Policy],
    session_policy: Option<&policy::document::Policy>,
    queue_policy: Option<&policy::document::Policy>,
    context: &policy::context::Context,
    action: &str,
    resource: &str,
    owner: Option<&str>,
    target: T,
) -> Result<Authorized<T>, SqsError> {
    let (kind, account) = match p.kind {
        crate::auth::principal::Kind::Root => (PrincipalKind::Root, Some(p.account_id.as_str())),
        crate::auth::principal::Kind::User => (PrincipalKind::User, Some(p.account_id.as_str())),
        crate::auth::principal::Kind::AssumedRole => (PrincipalKind::AssumedRole, Some(p.account_id.as_str())),
        // A service principal belongs to no account: only a queue policy can allow it.
        crate::auth::principal::Kind::Service => (PrincipalKind::Service, None),
    };
    let req = policy::eval::Request {
        caller: Caller {
            kind,
            account,
            arn: &p.arn,
            role_arn: p.role.as_ref().map(|r| r.role_arn.as_str()),
            session_policy,
        },
        action,
        resource,
        resource_owner: owner,
        context,
    };
    let identity: Vec<&policy::document::Policy> = identity.iter().collect();
    // The owning account's root can always repair its queue's policy: a Deny in it cannot
    // lock the root out of SetQueueAttributes and RemovePermission. Only the root, as on AWS:
    // the account's users and roles stay bound by the queue policy's Denies.
    let repair = kind == PrincipalKind::Root
        && owner == Some(p.account_id.as_str())
        && (action.eq_ignore_ascii_case("sqs:SetQueueAttributes")
            || action.eq_ignore_ascii_case("sqs:RemovePermission"));
    let queue_policy = if repair { None } else { queue_policy };
    Ok(policy::authorize(&req, &identity, queue_policy, target)?)
}

/// The gate calls, made by the dispatcher only.
mod gate {
    use super::*;

    /// Asks the engine whether the caller may perform `action` on `resource` (owned by
    /// `owner`; none for account-level actions).
    fn decide<T>(
        call: &Call<'_>,
        action: &str,
        resource: &str,
        owner: Option<&str>,
        target: T,
    ) -> Result<Authorized<T>, SqsError> {
        let same_queue = call.queue_policy_of.as_ref().is_some_and(|(arn, _)| arn == resource);
        let qp = if same_queue { call.queue_policy_of.as_ref().and_then(|(_, p)| p.as_deref()) } else { None };
        super::decide(
            call.principal,
            &call.identity,
            call.session_policy.as_deref().and_then(|v| v.first()),
            qp,
            &call.context,
            action,
            resource,
            owner,
            target,
        )
    }

    fn caller_account(call: &Call<'_>) -> Result<AccountId, SqsError> {
        AccountId::parse(&call.principal.account_id).ok_or_else(|| SqsError::internal(&"invalid caller account"))
    }

    /// The queue an action targets, authorized. The decision uses the account in the
    /// reference alone, before anyone looks the queue up, so a refusal reveals nothing about
    /// its existence.
    pub(super) fn queue(call: &Call<'_>, input: &impl Targeted) -> Result<Authorized<QueueRef>, SqsError> {
        let r = resolve(call, input)?;
        authorize_queue(call, input, r)
    }

    /// The queue an action names (no lookup: nothing about its existence is learned).
    pub(super) fn resolve(call: &Call<'_>, input: &impl Targeted) -> Result<QueueRef, SqsError> {
        Ok(match call.spec.target {
            Target::QueueUrl => match input.queue_url() {
                Some(url) => QueueRef::from_url(url)?,
                // Clients that post to the queue URL may leave the member out.
                None if call.path.len() > 1 => QueueRef::from_url(call.path)?,
                None => {
                    return Err(SqsError::missing("QueueUrl"));
                }
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
                    .queues
                    .moves()
                    .check_handle(&handle)
                    .map(|(_, arn)| arn.queue().clone())
                    .ok_or_else(|| SqsError::ResourceNotFoundException("The task handle is not valid.".into()))?
            }
            Target::Account => return Err(SqsError::internal(&"action table: not a queue action")),
        })
    }

    /// Decides every check the action needs on the queue (and on a destination).
    pub(super) fn authorize_queue(
        call: &Call<'_>,
        input: &impl Targeted,
        r: QueueRef,
    ) -> Result<Authorized<QueueRef>, SqsError> {
        if let Some(dest) = input.destination_arn() {
            let d = crate::domain::QueueArn::parse(dest)
                .map(|a| a.queue().clone())
                .ok_or_else(|| SqsError::InvalidAddress(format!("The address {dest} is not valid.")))?;
            let d_arn = call.state.queues.queue_arn(&d);
            decide(call, "sqs:SendMessage", d_arn.as_str(), Some(d.account.as_str()), ())?;
        }
        let arn = call.state.queues.queue_arn(&r);
        let arn = arn.as_str();
        let account = r.account.as_str().to_owned();
        for extra in input.extra_actions() {
            decide(call, extra, arn, Some(&account), ())?;
        }
        decide(call, call.spec.iam_action, arn, Some(&account), r)
    }

    /// Account-level actions (`Resource: *` in the caller's account).
    pub(super) fn account(call: &Call<'_>) -> Result<Authorized<AccountId>, SqsError> {
        let account = caller_account(call)?;
        decide(call, call.spec.iam_action, "*", None, account)
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
        queue_policy_of: call.queue_policy_of.clone(),
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

/// Runs one authenticated call.
pub async fn dispatch(call: &Call<'_>, body: Input<'_>) -> Result<Output, SqsError> {
    use actions::{messages, moves, queues};
    if !call.spec.implemented {
        // Authorized like any other action first, so a caller without the permission learns
        // nothing more than AccessDenied.
        if call.spec.target == Target::QueueUrl {
            let input: json::QueueUrlInput = decode(&body)?;
            gate::queue(call, &input)?;
        }
        return Err(SqsError::UnsupportedOperation(format!(
            "{} is not supported by this Sluice version.",
            call.spec.name
        )));
    }
    // Decode, authorize, and only then hand the proof to the handler. Each action runs boxed
    // (see `boxed`).
    macro_rules! on_queue {
        ($handler:path) => {{
            boxed(|| async move {
                let input = decode(&body)?;
                let r = gate::resolve(call, &input)?;
                let mut tagged = with_tags(call, &input);
                add_resource_tags(&mut tagged, &r).await?;
                let qp = tagged.state.queues.queue_policy(&r).await?;
                tagged.queue_policy_of = Some((tagged.state.queues.queue_arn(&r).to_string(), qp));
                let call = &tagged;
                let target = gate::authorize_queue(call, &input, r)?;
                $handler(call, target, input).await
            })
            .await
        }};
    }
    macro_rules! on_account {
        ($handler:path) => {{
            boxed(|| async move {
                let input = decode(&body)?;
                let target = gate::account(call)?;
                $handler(call, target, input).await
            })
            .await
        }};
    }
    match call.spec.name {
        "CreateQueue" => on_queue!(queues::create_queue),
        "GetQueueUrl" => on_queue!(queues::get_queue_url),
        "ListQueues" => on_account!(queues::list_queues),
        "DeleteQueue" => on_queue!(queues::delete_queue),
        "SendMessage" => on_queue!(messages::send_message),
        "ReceiveMessage" => on_queue!(messages::receive_message),
        "DeleteMessage" => on_queue!(messages::delete_message),
        "ChangeMessageVisibility" => on_queue!(messages::change_message_visibility),
        "SendMessageBatch" => on_queue!(messages::send_message_batch),
        "DeleteMessageBatch" => on_queue!(messages::delete_message_batch),
        "ChangeMessageVisibilityBatch" => on_queue!(messages::change_message_visibility_batch),
        "GetQueueAttributes" => on_queue!(queues::get_queue_attributes),
        "SetQueueAttributes" => on_queue!(queues::set_queue_attributes),
        "PurgeQueue" => on_queue!(queues::purge_queue),
        "TagQueue" => on_queue!(queues::tag_queue),
        "AddPermission" => on_queue!(queues::add_permission),
        "RemovePermission" => on_queue!(queues::remove_permission),
        "ListDeadLetterSourceQueues" => on_queue!(queues::list_dead_letter_source_queues),
        "StartMessageMoveTask" => on_queue!(moves::start_message_move_task),
        "ListMessageMoveTasks" => on_queue!(moves::list_message_move_tasks),
        "CancelMessageMoveTask" => on_queue!(moves::cancel_message_move_task),
        "UntagQueue" => on_queue!(queues::untag_queue),
        "ListQueueTags" => on_queue!(queues::list_queue_tags),
        other => Err(SqsError::UnsupportedOperation(format!("{other} is not supported by this Sluice version."))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_table_names_every_sqs_action_once() {
        assert_eq!(ACTIONS.len(), 23);
        let mut names: Vec<_> = ACTIONS.iter().map(|a| a.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 23);
        for a in ACTIONS {
            assert!(a.iam_action.starts_with("sqs:"), "{}", a.name);
        }
        assert_eq!(action("SendMessageBatch").unwrap().iam_action, "sqs:SendMessage");
        assert_eq!(action("ListQueues").unwrap().target, Target::Account);
    }
}

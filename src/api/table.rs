//! The action table: one row for every action of every service this endpoint speaks — SQS,
//! IAM and STS — naming what the gate must decide and the handler that runs after it. An
//! action that is not a row is refused (`InvalidAction`) before anything else happens.
//!
//! An SQS row lists its checks: IAM actions on the queue it names (by `QueueUrl`,
//! `QueueName`, `SourceArn` or `TaskHandle`) or on the account, and on a destination queue.
//! The dispatcher resolves them from the request, the gate decides them all, and only then is
//! the handler called, with the gate's proof. IAM and STS rows route to the query APIs of
//! `api::iam`, whose handlers resolve the entity a request names and decide on its stored
//! ARN through the same gate.

use super::iam::targets::UserName::{Given, OrCaller as Caller};
use super::iam::targets::{self, MUST_SPECIFY_USER};
use super::iam::{IamCall, IamRun, groups, integrations, policies, roles, users};
use super::sqs::{messages, moves, queues};
use super::{BoxedRun, Call, Input, SqsError, decode, gate, sts};

/// "Root keys are managed with `sluice admin account`."
const ROOT_KEYS: &str = "Root keys are managed with `sluice admin account`.";

/// The services on this endpoint (the signature's scope routes a request to one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Sqs,
    Iam,
    Sts,
}

/// How an SQS action names the queue it acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The queue named by `QueueUrl` (or the request path).
    QueueUrl,
    /// The queue named by `QueueName` in the caller's account (or `QueueOwnerAWSAccountId`).
    QueueName,
    /// The queue named by `SourceArn` (move tasks).
    SourceArn,
    /// The source queue of the move task named by `TaskHandle`.
    TaskHandle,
    /// The caller's account (`Resource: *`).
    Account,
    /// An IAM or STS row: the entity it names (`api::iam::targets`, `api::sts`).
    Entity,
}

/// What a check is decided on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum On {
    /// The action's own target (its queue, or the account).
    Target,
    /// The queue named by `DestinationArn`, when the request names one.
    Destination,
}

/// When a check applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    Always,
    /// When the request carries tags (tagging at creation).
    Tagged,
}

/// One check: an IAM action the caller needs.
#[derive(Debug)]
pub struct Check {
    pub action: &'static str,
    pub on: On,
    pub when: When,
}

/// What runs once the action is routed.
#[derive(Clone, Copy)]
pub enum Run {
    /// An SQS action: decode, resolve, decide every check, then the handler with the proof.
    Sqs(BoxedRun),
    /// An IAM action: resolve and decide (`api::iam::targets`), then the handler.
    Iam(IamRun),
    /// An STS action (`api::sts`).
    Sts(IamRun),
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Run::Sqs(_) => "Sqs",
            Run::Iam(_) => "Iam",
            Run::Sts(_) => "Sts",
        })
    }
}

/// One row.
#[derive(Debug)]
pub struct Action {
    pub service: Service,
    pub name: &'static str,
    pub target: Target,
    /// Decided in order; the first refusal is answered.
    pub checks: &'static [Check],
    pub run: Run,
}

impl Action {
    /// The IAM action of the action's own check (`sqs:SendMessage` for SendMessageBatch).
    pub fn iam_action(&self) -> &'static str {
        self.checks.iter().rev().find(|c| c.on == On::Target && c.when == When::Always).map_or("", |c| c.action)
    }
}

const fn check(action: &'static str) -> Check {
    Check { action, on: On::Target, when: When::Always }
}

/// An SQS action on a queue (or on the account): `gate::queue` or `gate::account` decides,
/// then `$handler(call, proof, input)` runs. Each runs boxed (see `super::boxed`).
macro_rules! sqs {
    ($name:literal, $target:ident, [$($check:expr),+ $(,)?], $handler:path) => {
        Action {
            service: Service::Sqs,
            name: $name,
            target: Target::$target,
            checks: &[$($check),+],
            run: Run::Sqs(|call: &Call<'_>, body: Input<'_>| {
                Box::pin(async move {
                    let input = decode(&body)?;
                    let (call, proof) = gate::decide(call, &input).await?;
                    $handler(&call, proof, input).await
                })
            }),
        }
    };
}

macro_rules! on_account {
    ($name:literal, $action:literal, $handler:path) => {
        Action {
            service: Service::Sqs,
            name: $name,
            target: Target::Account,
            checks: &[check($action)],
            run: Run::Sqs(|call: &Call<'_>, body: Input<'_>| {
                Box::pin(async move {
                    let input = decode(&body)?;
                    let proof = gate::account(call)?;
                    $handler(call, proof, input).await
                })
            }),
        }
    };
}

/// Every SQS action.
pub const SQS: &[Action] = &[
    sqs!(
        "CreateQueue",
        QueueName,
        [Check { action: "sqs:TagQueue", on: On::Target, when: When::Tagged }, check("sqs:CreateQueue"),],
        queues::create_queue
    ),
    sqs!("GetQueueUrl", QueueName, [check("sqs:GetQueueUrl")], queues::get_queue_url),
    on_account!("ListQueues", "sqs:ListQueues", queues::list_queues),
    sqs!("DeleteQueue", QueueUrl, [check("sqs:DeleteQueue")], queues::delete_queue),
    sqs!("SendMessage", QueueUrl, [check("sqs:SendMessage")], messages::send_message),
    sqs!("ReceiveMessage", QueueUrl, [check("sqs:ReceiveMessage")], messages::receive_message),
    sqs!("DeleteMessage", QueueUrl, [check("sqs:DeleteMessage")], messages::delete_message),
    sqs!("GetQueueAttributes", QueueUrl, [check("sqs:GetQueueAttributes")], queues::get_queue_attributes),
    sqs!("SetQueueAttributes", QueueUrl, [check("sqs:SetQueueAttributes")], queues::set_queue_attributes),
    sqs!("PurgeQueue", QueueUrl, [check("sqs:PurgeQueue")], queues::purge_queue),
    sqs!(
        "ChangeMessageVisibility",
        QueueUrl,
        [check("sqs:ChangeMessageVisibility")],
        messages::change_message_visibility
    ),
    sqs!(
        "ChangeMessageVisibilityBatch",
        QueueUrl,
        [check("sqs:ChangeMessageVisibility")],
        messages::change_message_visibility_batch
    ),
    sqs!("SendMessageBatch", QueueUrl, [check("sqs:SendMessage")], messages::send_message_batch),
    sqs!("DeleteMessageBatch", QueueUrl, [check("sqs:DeleteMessage")], messages::delete_message_batch),
    sqs!(
        "ListDeadLetterSourceQueues",
        QueueUrl,
        [check("sqs:ListDeadLetterSourceQueues")],
        queues::list_dead_letter_source_queues
    ),
    sqs!("TagQueue", QueueUrl, [check("sqs:TagQueue")], queues::tag_queue),
    sqs!("UntagQueue", QueueUrl, [check("sqs:UntagQueue")], queues::untag_queue),
    sqs!("ListQueueTags", QueueUrl, [check("sqs:ListQueueTags")], queues::list_queue_tags),
    sqs!("AddPermission", QueueUrl, [check("sqs:AddPermission")], queues::add_permission),
    sqs!("RemovePermission", QueueUrl, [check("sqs:RemovePermission")], queues::remove_permission),
    // Moving messages out sends them to the destination, and reads and deletes them at the
    // source.
    sqs!(
        "StartMessageMoveTask",
        SourceArn,
        [
            Check { action: "sqs:SendMessage", on: On::Destination, when: When::Always },
            check("sqs:ReceiveMessage"),
            check("sqs:DeleteMessage"),
            check("sqs:GetQueueAttributes"),
            check("sqs:StartMessageMoveTask"),
        ],
        moves::start_message_move_task
    ),
    sqs!("CancelMessageMoveTask", TaskHandle, [check("sqs:CancelMessageMoveTask")], moves::cancel_message_move_task),
    sqs!("ListMessageMoveTasks", SourceArn, [check("sqs:ListMessageMoveTasks")], moves::list_message_move_tasks),
];

/// An IAM (or STS) row: `|call, action| RESOLVE` resolves what the row acts on and has the gate
/// decide `action` on it (`api::iam::targets`); then `$handler(call, proof)` runs.
macro_rules! iam {
    ($service:ident, $prefix:literal, $name:literal, |$call:ident, $action:ident| $resolve:expr, $handler:path) => {
        Action {
            service: Service::$service,
            name: $name,
            target: Target::Entity,
            checks: &[check(concat!($prefix, $name))],
            run: Run::$service(|$call: &IamCall<'_>| {
                Box::pin(async move {
                    let $action = concat!($prefix, $name);
                    let proof = $resolve?;
                    $handler($call, proof).await
                })
            }),
        }
    };
}

/// Every IAM action (and Sluice's integration admin calls on the IAM endpoint).
pub const IAM: &[Action] = &[
    // Users.
    iam!(Iam, "iam:", "CreateUser", |c, a| targets::new_entity(c, a, "user", "UserName", &[]), users::create_user),
    iam!(Iam, "iam:", "GetUser", |c, a| targets::user(c, a, Caller(MUST_SPECIFY_USER), &[]).await, users::get_user),
    iam!(Iam, "iam:", "ListUsers", |c, a| targets::listing(c, a, "user"), users::list_users),
    iam!(Iam, "iam:", "DeleteUser", |c, a| targets::user(c, a, Given, &[]).await, users::delete_user),
    iam!(Iam, "iam:", "UpdateUser", |c, a| targets::renamed_user(c, a).await, users::update_user),
    iam!(
        Iam,
        "iam:",
        "CreateAccessKey",
        |c, a| targets::user(c, a, Caller(ROOT_KEYS), &[]).await,
        users::create_access_key
    ),
    iam!(
        Iam,
        "iam:",
        "ListAccessKeys",
        |c, a| targets::user(c, a, Caller(MUST_SPECIFY_USER), &[]).await,
        users::list_access_keys
    ),
    iam!(
        Iam,
        "iam:",
        "UpdateAccessKey",
        |c, a| targets::user(c, a, Caller(MUST_SPECIFY_USER), &["AccessKeyId"]).await,
        users::update_access_key
    ),
    iam!(
        Iam,
        "iam:",
        "DeleteAccessKey",
        |c, a| targets::user(c, a, Caller(MUST_SPECIFY_USER), &["AccessKeyId"]).await,
        users::delete_access_key
    ),
    iam!(Iam, "iam:", "GetAccessKeyLastUsed", |c, a| targets::access_key(c, a).await, users::get_access_key_last_used),
    iam!(Iam, "iam:", "PutUserPolicy", |c, a| targets::user(c, a, Given, &[]).await, users::put_user_policy),
    iam!(
        Iam,
        "iam:",
        "GetUserPolicy",
        |c, a| targets::user(c, a, Given, &["PolicyName"]).await,
        users::get_user_policy
    ),
    iam!(Iam, "iam:", "ListUserPolicies", |c, a| targets::user(c, a, Given, &[]).await, users::list_user_policies),
    iam!(Iam, "iam:", "DeleteUserPolicy", |c, a| targets::user(c, a, Given, &[]).await, users::delete_user_policy),
    iam!(
        Iam,
        "iam:",
        "AttachUserPolicy",
        |c, a| targets::user(c, a, Given, &["PolicyArn"]).await,
        users::attach_user_policy
    ),
    iam!(
        Iam,
        "iam:",
        "DetachUserPolicy",
        |c, a| targets::user(c, a, Given, &["PolicyArn"]).await,
        users::detach_user_policy
    ),
    iam!(
        Iam,
        "iam:",
        "ListAttachedUserPolicies",
        |c, a| targets::user(c, a, Given, &[]).await,
        users::list_attached_user_policies
    ),
    iam!(Iam, "iam:", "ListGroupsForUser", |c, a| targets::user(c, a, Given, &[]).await, users::list_groups_for_user),
    // Groups.
    iam!(Iam, "iam:", "CreateGroup", |c, a| targets::new_entity(c, a, "group", "GroupName", &[]), groups::create_group),
    iam!(Iam, "iam:", "GetGroup", |c, a| targets::group(c, a, &[]).await, groups::get_group),
    iam!(Iam, "iam:", "ListGroups", |c, a| targets::listing(c, a, "group"), groups::list_groups),
    iam!(Iam, "iam:", "DeleteGroup", |c, a| targets::group(c, a, &[]).await, groups::delete_group),
    iam!(Iam, "iam:", "AddUserToGroup", |c, a| targets::group(c, a, &["UserName"]).await, groups::add_user_to_group),
    iam!(
        Iam,
        "iam:",
        "RemoveUserFromGroup",
        |c, a| targets::group(c, a, &["UserName"]).await,
        groups::remove_user_from_group
    ),
    iam!(Iam, "iam:", "PutGroupPolicy", |c, a| targets::group(c, a, &[]).await, groups::put_group_policy),
    iam!(Iam, "iam:", "GetGroupPolicy", |c, a| targets::group(c, a, &[]).await, groups::get_group_policy),
    iam!(Iam, "iam:", "ListGroupPolicies", |c, a| targets::group(c, a, &[]).await, groups::list_group_policies),
    iam!(Iam, "iam:", "DeleteGroupPolicy", |c, a| targets::group(c, a, &[]).await, groups::delete_group_policy),
    iam!(
        Iam,
        "iam:",
        "AttachGroupPolicy",
        |c, a| targets::group(c, a, &["PolicyArn"]).await,
        groups::attach_group_policy
    ),
    iam!(
        Iam,
        "iam:",
        "DetachGroupPolicy",
        |c, a| targets::group(c, a, &["PolicyArn"]).await,
        groups::detach_group_policy
    ),
    iam!(
        Iam,
        "iam:",
        "ListAttachedGroupPolicies",
        |c, a| targets::group(c, a, &[]).await,
        groups::list_attached_group_policies
    ),
    // Managed policies.
    iam!(
        Iam,
        "iam:",
        "CreatePolicy",
        |c, a| targets::new_entity(c, a, "policy", "PolicyName", &[]),
        policies::create_policy
    ),
    iam!(Iam, "iam:", "GetPolicy", |c, a| targets::policy(c, a).await, policies::get_policy),
    iam!(Iam, "iam:", "ListPolicies", |c, a| targets::listing(c, a, "policy"), policies::list_policies),
    iam!(Iam, "iam:", "DeletePolicy", |c, a| targets::policy(c, a).await, policies::delete_policy),
    iam!(Iam, "iam:", "CreatePolicyVersion", |c, a| targets::policy(c, a).await, policies::create_policy_version),
    iam!(
        Iam,
        "iam:",
        "SetDefaultPolicyVersion",
        |c, a| targets::policy(c, a).await,
        policies::set_default_policy_version
    ),
    iam!(Iam, "iam:", "GetPolicyVersion", |c, a| targets::policy(c, a).await, policies::get_policy_version),
    iam!(Iam, "iam:", "ListPolicyVersions", |c, a| targets::policy(c, a).await, policies::list_policy_versions),
    iam!(Iam, "iam:", "DeletePolicyVersion", |c, a| targets::policy(c, a).await, policies::delete_policy_version),
    iam!(Iam, "iam:", "ListEntitiesForPolicy", |c, a| targets::policy(c, a).await, policies::list_entities_for_policy),
    // Roles.
    iam!(Iam, "iam:", "CreateRole", |c, a| targets::new_entity(c, a, "role", "RoleName", &[]), roles::create_role),
    iam!(Iam, "iam:", "GetRole", |c, a| targets::role(c, a, &[]).await, roles::get_role),
    iam!(Iam, "iam:", "ListRoles", |c, a| targets::listing(c, a, "role"), roles::list_roles),
    iam!(Iam, "iam:", "UpdateRole", |c, a| targets::role(c, a, &[]).await, roles::update_role),
    iam!(
        Iam,
        "iam:",
        "UpdateAssumeRolePolicy",
        |c, a| targets::role(c, a, &[]).await,
        roles::update_assume_role_policy
    ),
    iam!(Iam, "iam:", "DeleteRole", |c, a| targets::role(c, a, &[]).await, roles::delete_role),
    iam!(Iam, "iam:", "PutRolePolicy", |c, a| targets::role(c, a, &[]).await, roles::put_role_policy),
    iam!(Iam, "iam:", "GetRolePolicy", |c, a| targets::role(c, a, &["PolicyName"]).await, roles::get_role_policy),
    iam!(Iam, "iam:", "ListRolePolicies", |c, a| targets::role(c, a, &[]).await, roles::list_role_policies),
    iam!(Iam, "iam:", "DeleteRolePolicy", |c, a| targets::role(c, a, &[]).await, roles::delete_role_policy),
    iam!(Iam, "iam:", "AttachRolePolicy", |c, a| targets::role(c, a, &[]).await, roles::attach_role_policy),
    iam!(Iam, "iam:", "DetachRolePolicy", |c, a| targets::role(c, a, &[]).await, roles::detach_role_policy),
    iam!(
        Iam,
        "iam:",
        "ListAttachedRolePolicies",
        |c, a| targets::role(c, a, &[]).await,
        roles::list_attached_role_policies
    ),
    // Service integrations.
    iam!(
        Iam,
        "iam:",
        "CreateServiceIntegration",
        |c, a| targets::integration(c, a, None),
        integrations::create_service_integration
    ),
    iam!(
        Iam,
        "iam:",
        "ListServiceIntegrations",
        |c, a| targets::integration(c, a, None),
        integrations::list_service_integrations
    ),
    iam!(
        Iam,
        "iam:",
        "CreateServiceIntegrationToken",
        |c, a| targets::integration(c, a, Some("IntegrationId")),
        integrations::create_service_integration_token
    ),
    iam!(
        Iam,
        "iam:",
        "RevokeServiceIntegration",
        |c, a| targets::integration(c, a, Some("IntegrationId")),
        integrations::revoke_service_integration
    ),
    iam!(
        Iam,
        "iam:",
        "RevokeServiceIntegrationToken",
        |c, a| targets::token(c, a),
        integrations::revoke_service_integration_token
    ),
    iam!(
        Iam,
        "iam:",
        "RotateServiceIntegrationSigningKey",
        |c, a| targets::integration(c, a, None),
        integrations::rotate_service_integration_signing_key
    ),
    iam!(
        Iam,
        "iam:",
        "RetireServiceIntegrationSigningKeys",
        |c, a| targets::integration(c, a, None),
        integrations::retire_service_integration_signing_keys
    ),
];

/// Every STS action. GetCallerIdentity and GetSessionToken are answered for any
/// authenticated caller (no check); AssumeRole is decided by the role's trust policy.
pub const STS: &[Action] = &[
    Action { checks: &[], ..iam!(Sts, "sts:", "GetCallerIdentity", |c, _a| sts::caller(c), sts::get_caller_identity) },
    iam!(Sts, "sts:", "AssumeRole", |c, _a| sts::assumable(c).await, sts::assume_role),
    Action { checks: &[], ..iam!(Sts, "sts:", "GetSessionToken", |c, _a| sts::caller(c), sts::get_session_token) },
];

/// The row of `name` in `service`; None for an action this endpoint does not serve.
pub fn find(service: Service, name: &str) -> Option<&'static Action> {
    let rows = match service {
        Service::Sqs => SQS,
        Service::Iam => IAM,
        Service::Sts => STS,
    };
    rows.iter().find(|a| a.name == name)
}

/// Every row of every service.
pub fn all() -> impl Iterator<Item = &'static Action> {
    SQS.iter().chain(IAM).chain(STS)
}

/// Refuses an action that is not a row.
pub fn unknown(service: &str, name: &str) -> SqsError {
    let shown: String = name.chars().take(64).collect();
    match service {
        "sqs" => SqsError::InvalidAction(format!("The action {shown} is not valid for this endpoint.")),
        other => SqsError::InvalidAction(format!("The {other} action {shown} is not provided by this Sluice version.")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_service_names_each_action_once_and_every_sqs_action_decides_its_own_iam_action() {
        for rows in [SQS, IAM, STS] {
            let mut names: Vec<_> = rows.iter().map(|a| a.name).collect();
            let n = names.len();
            names.sort();
            names.dedup();
            assert_eq!(names.len(), n, "an action is listed twice");
        }
        assert_eq!(SQS.len(), 23);
        for a in SQS {
            assert!(a.checks.iter().all(|c| c.action.starts_with("sqs:")), "{}", a.name);
            assert!(!a.iam_action().is_empty(), "{} decides nothing on its own target", a.name);
            assert!(matches!(a.run, Run::Sqs(_)), "{}", a.name);
        }
        assert_eq!(find(Service::Sqs, "SendMessageBatch").unwrap().iam_action(), "sqs:SendMessage");
        assert_eq!(find(Service::Sqs, "ListQueues").unwrap().target, Target::Account);
        assert!(IAM.iter().all(|a| matches!(a.run, Run::Iam(_))) && STS.iter().all(|a| matches!(a.run, Run::Sts(_))));
        for a in IAM {
            assert_eq!(a.iam_action(), format!("iam:{}", a.name));
        }
        assert!(find(Service::Sqs, "CreateUser").is_none() && find(Service::Iam, "SendMessage").is_none());
    }
}

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

use super::actions::{messages, moves, queues};
use super::{BoxedRun, Call, Input, SqsError, decode, gate};

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
    /// Not an SQS action.
    None,
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
    /// An IAM action (`api::iam::iam`).
    Iam,
    /// An STS action (`api::iam::sts`).
    Sts,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Run::Sqs(_) => "Sqs",
            Run::Iam => "Iam",
            Run::Sts => "Sts",
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

macro_rules! query_api {
    ($service:ident, $run:ident, [$($name:literal),* $(,)?]) => {
        [$(Action { service: Service::$service, name: $name, target: Target::None, checks: &[], run: Run::$run }),*]
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

/// Every IAM action (and Sluice's integration admin calls on the IAM endpoint).
pub const IAM: &[Action] = &query_api!(
    Iam,
    Iam,
    [
        "CreateUser",
        "GetUser",
        "ListUsers",
        "DeleteUser",
        "UpdateUser",
        "CreateAccessKey",
        "ListAccessKeys",
        "UpdateAccessKey",
        "DeleteAccessKey",
        "GetAccessKeyLastUsed",
        "PutUserPolicy",
        "GetUserPolicy",
        "ListUserPolicies",
        "DeleteUserPolicy",
        "AttachUserPolicy",
        "DetachUserPolicy",
        "ListAttachedUserPolicies",
        "CreateGroup",
        "GetGroup",
        "ListGroups",
        "DeleteGroup",
        "ListGroupsForUser",
        "AddUserToGroup",
        "RemoveUserFromGroup",
        "PutGroupPolicy",
        "GetGroupPolicy",
        "ListGroupPolicies",
        "DeleteGroupPolicy",
        "AttachGroupPolicy",
        "DetachGroupPolicy",
        "ListAttachedGroupPolicies",
        "CreatePolicy",
        "GetPolicy",
        "ListPolicies",
        "DeletePolicy",
        "CreatePolicyVersion",
        "SetDefaultPolicyVersion",
        "GetPolicyVersion",
        "ListPolicyVersions",
        "DeletePolicyVersion",
        "ListEntitiesForPolicy",
        "CreateRole",
        "GetRole",
        "ListRoles",
        "UpdateRole",
        "UpdateAssumeRolePolicy",
        "DeleteRole",
        "PutRolePolicy",
        "GetRolePolicy",
        "ListRolePolicies",
        "DeleteRolePolicy",
        "AttachRolePolicy",
        "DetachRolePolicy",
        "ListAttachedRolePolicies",
        "CreateServiceIntegration",
        "ListServiceIntegrations",
        "CreateServiceIntegrationToken",
        "RevokeServiceIntegration",
        "RevokeServiceIntegrationToken",
        "RotateServiceIntegrationSigningKey",
        "RetireServiceIntegrationSigningKeys",
    ]
);

/// Every STS action.
pub const STS: &[Action] = &query_api!(Sts, Sts, ["GetCallerIdentity", "AssumeRole", "GetSessionToken"]);

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
        assert!(IAM.iter().all(|a| matches!(a.run, Run::Iam)) && STS.iter().all(|a| matches!(a.run, Run::Sts)));
        assert!(find(Service::Sqs, "CreateUser").is_none() && find(Service::Iam, "SendMessage").is_none());
    }
}

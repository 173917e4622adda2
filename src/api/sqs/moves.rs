//! StartMessageMoveTask, ListMessageMoveTasks, CancelMessageMoveTask.

use crate::api::wire::json::{
    CancelMessageMoveTaskInput, CancelMessageMoveTaskOutput, ListMessageMoveTasksInput, ListMessageMoveTasksOutput,
    MoveTaskEntry, StartMessageMoveTaskInput, TaskHandleOutput,
};
use crate::api::{Call, Output, SqsError};
use crate::domain::{QueueArn, TaskHandle};
use crate::policy::Authorized;
use crate::queue::QueueRef;

pub async fn start_message_move_task(
    call: &Call<'_>,
    source: Authorized<QueueRef>,
    input: StartMessageMoveTaskInput,
) -> Result<Output, SqsError> {
    let source_arn = call.state.queues.queue_arn(source.resource());
    // The gate parsed and authorized the destination already.
    let destination = input.destination_arn.as_deref().and_then(QueueArn::parse);
    let task_handle = call
        .state
        .moves
        .start(source.resource(), &source_arn, destination.as_ref(), input.max_number_of_messages_per_second)
        .await?;
    call.reply(&TaskHandleOutput { task_handle })
}

pub async fn list_message_move_tasks(
    call: &Call<'_>,
    source: Authorized<QueueRef>,
    input: ListMessageMoveTasksInput,
) -> Result<Output, SqsError> {
    let tasks = call.state.moves.list(source.resource(), input.max_results).await?;
    let results = tasks
        .into_iter()
        .map(|t| MoveTaskEntry {
            task_handle: t.handle,
            status: t.status,
            source_arn: t.source_arn,
            destination_arn: t.destination_arn,
            max_number_of_messages_per_second: t.max_per_second,
            approximate_number_of_messages_moved: t.moved,
            approximate_number_of_messages_to_move: t.to_move,
            failure_reason: t.failure_reason,
            started_timestamp: t.started_at_ms,
        })
        .collect();
    call.reply(&ListMessageMoveTasksOutput { results })
}

pub async fn cancel_message_move_task(
    call: &Call<'_>,
    source: Authorized<QueueRef>,
    input: CancelMessageMoveTaskInput,
) -> Result<Output, SqsError> {
    let handle = TaskHandle::parse(&input.task_handle.unwrap_or_default())?;
    let moved = call.state.moves.cancel(source.resource(), &handle).await?;
    call.reply(&CancelMessageMoveTaskOutput { approximate_number_of_messages_moved: moved })
}

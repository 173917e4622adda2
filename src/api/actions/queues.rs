//! CreateQueue, GetQueueUrl, ListQueues, DeleteQueue.

use crate::api::json::{
    CreateQueueInput, Empty, GetQueueUrlInput, ListQueuesInput, ListQueuesOutput, QueueUrlInput, QueueUrlOutput,
};
use crate::api::{ApiError, Call, Code, encode};
use crate::policy::Authorized;
use crate::queue::{AccountId, QueueRef};

pub async fn create_queue(
    call: &Call<'_>,
    target: Authorized<QueueRef>,
    input: CreateQueueInput,
) -> Result<String, ApiError> {
    if input.tags.as_ref().is_some_and(|t| !t.is_empty()) {
        return Err(ApiError::new(Code::UnsupportedOperation, "Queue tags are not supported by this Sluice version."));
    }
    let attrs = input.attributes.unwrap_or_default();
    let queue_url = call.state.queues.create_queue(target.resource(), &attrs).await?;
    encode(&QueueUrlOutput { queue_url })
}

pub async fn get_queue_url(
    call: &Call<'_>,
    target: Authorized<QueueRef>,
    _input: GetQueueUrlInput,
) -> Result<String, ApiError> {
    let queue_url = call.state.queues.get_queue_url(target.resource()).await?;
    encode(&QueueUrlOutput { queue_url })
}

pub async fn list_queues(
    call: &Call<'_>,
    account: Authorized<AccountId>,
    input: ListQueuesInput,
) -> Result<String, ApiError> {
    let (queue_urls, next_token) = call
        .state
        .queues
        .list_queues(
            account.resource(),
            input.queue_name_prefix.as_deref(),
            input.max_results,
            input.next_token.as_deref(),
        )
        .await?;
    encode(&ListQueuesOutput { queue_urls, next_token })
}

pub async fn delete_queue(
    call: &Call<'_>,
    target: Authorized<QueueRef>,
    _input: QueueUrlInput,
) -> Result<String, ApiError> {
    call.state.queues.delete_queue(target.resource()).await?;
    encode(&Empty {})
}

//! CreateQueue, GetQueueUrl, ListQueues, DeleteQueue, Get/SetQueueAttributes, PurgeQueue.

use crate::api::wire::json::{
    AddPermissionInput, CreateQueueInput, Empty, GetQueueAttributesInput, GetQueueAttributesOutput, GetQueueUrlInput,
    ListDeadLetterSourceQueuesInput, ListDeadLetterSourceQueuesOutput, ListQueueTagsOutput, ListQueuesInput,
    ListQueuesOutput, QueueUrlInput, QueueUrlOutput, RemovePermissionInput, SetQueueAttributesInput, TagQueueInput,
    UntagQueueInput,
};
use crate::api::{Call, Output, SqsError};
use crate::policy::Authorized;
use crate::queue::{AccountId, QueueRef};

pub async fn create_queue(
    call: &Call<'_>,
    target: Authorized<QueueRef>,
    input: CreateQueueInput,
) -> Result<Output, SqsError> {
    let attrs = input.attributes.unwrap_or_default();
    let tags = input.tags.unwrap_or_default();
    let queue_url = call.state.queues.create_queue(target.resource(), &attrs, &tags).await?;
    call.reply(&QueueUrlOutput { queue_url })
}

pub async fn get_queue_url(
    call: &Call<'_>,
    target: Authorized<QueueRef>,
    _input: GetQueueUrlInput,
) -> Result<Output, SqsError> {
    let queue_url = call.state.queues.get_queue_url(target.resource()).await?;
    call.reply(&QueueUrlOutput { queue_url })
}

pub async fn list_queues(
    call: &Call<'_>,
    account: Authorized<AccountId>,
    input: ListQueuesInput,
) -> Result<Output, SqsError> {
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
    call.reply(&ListQueuesOutput { queue_urls, next_token })
}

pub async fn delete_queue(
    call: &Call<'_>,
    target: Authorized<QueueRef>,
    _input: QueueUrlInput,
) -> Result<Output, SqsError> {
    call.state.queues.delete_queue(target.resource()).await?;
    call.reply(&Empty {})
}

pub async fn get_queue_attributes(
    call: &Call<'_>,
    target: Authorized<QueueRef>,
    input: GetQueueAttributesInput,
) -> Result<Output, SqsError> {
    let names = input.attribute_names.unwrap_or_default();
    if names.len() > 64 {
        return Err(SqsError::InvalidParameterValue("Too many attribute names in the request.".into()));
    }
    let attributes = call.state.queues.get_queue_attributes(target.resource(), &names).await?;
    call.reply(&GetQueueAttributesOutput { attributes: attributes.into_iter().collect() })
}

pub async fn set_queue_attributes(
    call: &Call<'_>,
    target: Authorized<QueueRef>,
    input: SetQueueAttributesInput,
) -> Result<Output, SqsError> {
    let attrs = input.attributes.ok_or_else(|| SqsError::missing("Attributes"))?;
    call.state.queues.set_queue_attributes(target.resource(), &attrs).await?;
    call.reply(&Empty {})
}

pub async fn purge_queue(
    call: &Call<'_>,
    target: Authorized<QueueRef>,
    _input: QueueUrlInput,
) -> Result<Output, SqsError> {
    call.state.queues.purge_queue(target.resource()).await?;
    call.reply(&Empty {})
}

pub async fn tag_queue(
    call: &Call<'_>,
    target: Authorized<QueueRef>,
    input: TagQueueInput,
) -> Result<Output, SqsError> {
    call.state.queues.tag_queue(target.resource(), &input.tags.unwrap_or_default()).await?;
    call.reply(&Empty {})
}

pub async fn untag_queue(
    call: &Call<'_>,
    target: Authorized<QueueRef>,
    input: UntagQueueInput,
) -> Result<Output, SqsError> {
    call.state.queues.untag_queue(target.resource(), &input.tag_keys.unwrap_or_default()).await?;
    call.reply(&Empty {})
}

pub async fn list_queue_tags(
    call: &Call<'_>,
    target: Authorized<QueueRef>,
    _input: QueueUrlInput,
) -> Result<Output, SqsError> {
    let tags = call.state.queues.list_queue_tags(target.resource()).await?;
    call.reply(&ListQueueTagsOutput { tags })
}

pub async fn list_dead_letter_source_queues(
    call: &Call<'_>,
    target: Authorized<QueueRef>,
    input: ListDeadLetterSourceQueuesInput,
) -> Result<Output, SqsError> {
    let (queue_urls, next_token) = call
        .state
        .queues
        .list_dead_letter_source_queues(target.resource(), input.max_results, input.next_token.as_deref())
        .await?;
    call.reply(&ListDeadLetterSourceQueuesOutput { queue_urls, next_token })
}

pub async fn add_permission(
    call: &Call<'_>,
    target: Authorized<QueueRef>,
    input: AddPermissionInput,
) -> Result<Output, SqsError> {
    let label = input.label.ok_or_else(|| SqsError::missing("Label"))?;
    call.state
        .queues
        .add_permission(
            target.resource(),
            &label,
            &input.aws_account_ids.unwrap_or_default(),
            &input.actions.unwrap_or_default(),
        )
        .await?;
    call.reply(&Empty {})
}

pub async fn remove_permission(
    call: &Call<'_>,
    target: Authorized<QueueRef>,
    input: RemovePermissionInput,
) -> Result<Output, SqsError> {
    let label = input.label.ok_or_else(|| SqsError::missing("Label"))?;
    call.state.queues.remove_permission(target.resource(), &label).await?;
    call.reply(&Empty {})
}

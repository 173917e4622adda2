//! SendMessage, ReceiveMessage, DeleteMessage, ChangeMessageVisibility and their batches.

use std::collections::HashMap;

use base64::prelude::*;

use crate::api::wire::json::{
    AttributeValueOut, BatchOutput, BatchResultError, ChangeMessageVisibilityBatchInput, ChangeMessageVisibilityInput,
    DeleteMessageBatchInput, DeleteMessageInput, Empty, IdEntry, MessageAttributeValue, MessageOut,
    ReceiveMessageInput, ReceiveMessageOutput, SendBatchResultEntry, SendMessageBatchInput, SendMessageInput,
    SendMessageOutput,
};
use crate::api::{Call, Output, SqsError};
use crate::domain::ReceiptHandle;
use crate::policy::Authorized;
use crate::queue::QueueRef;
use crate::queue::message::{AttributeValue, MessageAttributes, Value};
use crate::queue::receive::ReceiveInput;
use crate::queue::send::{SendInput, SendOutput};
use crate::queue::service::{Batch, check_batch_ids};

fn invalid(msg: impl Into<String>) -> SqsError {
    SqsError::InvalidParameterValue(msg.into())
}

/// Wire attributes to validated-shape attributes (content rules are checked by `queue`).
fn attributes_from_wire(wire: HashMap<String, MessageAttributeValue>) -> Result<MessageAttributes, SqsError> {
    let mut out = MessageAttributes::new();
    for (name, v) in wire {
        if v.string_list_values.as_ref().is_some_and(|l| !l.is_empty())
            || v.binary_list_values.as_ref().is_some_and(|l| !l.is_empty())
        {
            return Err(invalid(format!(
                "Message attribute '{name}': StringListValues and BinaryListValues are reserved and not supported."
            )));
        }
        let data_type = v.data_type.ok_or_else(|| {
            invalid(format!("The message attribute '{name}' must contain non-empty message attribute type."))
        })?;
        let value = match (v.string_value, v.binary_value) {
            (Some(s), None) => Value::String(s),
            (None, Some(b)) => {
                Value::Binary(BASE64_STANDARD.decode(b).map_err(|_| {
                    invalid(format!("The message attribute '{name}' has an invalid base64 BinaryValue."))
                })?)
            }
            (None, None) => {
                return Err(invalid(format!(
                    "The message attribute '{name}' must contain non-empty message attribute value for message attribute type '{data_type}'."
                )));
            }
            (Some(_), Some(_)) => {
                return Err(invalid(format!(
                    "The message attribute '{name}' must have exactly one of StringValue and BinaryValue."
                )));
            }
        };
        out.insert(name, AttributeValue { data_type, value });
    }
    Ok(out)
}

/// The members of one message to send (SendMessage, or one batch entry), checked for
/// shape; the queue layer checks content.
fn send_input(
    call: &Call<'_>,
    body: Option<String>,
    delay_seconds: Option<i32>,
    attributes: Option<HashMap<String, MessageAttributeValue>>,
    system_attributes: Option<HashMap<String, MessageAttributeValue>>,
    deduplication_id: Option<String>,
    group_id: Option<String>,
) -> Result<SendInput, SqsError> {
    let body = body.ok_or_else(|| SqsError::missing("MessageBody"))?;
    let trace_header = match system_attributes {
        None => None,
        Some(mut m) => {
            let trace = m.remove("AWSTraceHeader");
            if let Some(other) = m.keys().next() {
                return Err(invalid(format!(
                    "Message system attribute name '{other}' is invalid; only AWSTraceHeader is supported."
                )));
            }
            match trace {
                None => None,
                Some(v) if v.data_type.as_deref() == Some("String") => match v.string_value {
                    Some(t)
                        if !t.is_empty() && t.len() <= 8192 && t.chars().all(crate::queue::message::allowed_char) =>
                    {
                        Some(t)
                    }
                    _ => return Err(invalid("The AWSTraceHeader system attribute must have a non-empty StringValue.")),
                },
                Some(_) => return Err(invalid("The AWSTraceHeader system attribute must have DataType String.")),
            }
        }
    };
    let mut attributes = attributes_from_wire(attributes.unwrap_or_default())?;
    let mut body = body;
    if let Some(topic) = &call.topic {
        // A topic integration: the queue receives what SNS would deliver.
        (body, attributes) =
            crate::events::sns::deliver(topic, uuid::Uuid::new_v4(), body, attributes, call.state.queues.now());
    }
    // Group and deduplication ids are checked by the queue layer, which knows the queue's type.
    Ok(SendInput {
        body,
        delay_seconds,
        attributes,
        trace_header,
        sender_id: call.principal.sender_id().to_owned(),
        group_id,
        dedup_id: deduplication_id,
    })
}

fn send_output(out: SendOutput) -> SendMessageOutput {
    SendMessageOutput {
        message_id: out.message_id.to_string(),
        md5_of_message_body: out.md5_of_body,
        md5_of_message_attributes: out.md5_of_attributes,
        md5_of_message_system_attributes: out.md5_of_system_attributes,
        sequence_number: out.sequence_number,
    }
}

/// A failed batch entry as SQS reports it.
fn batch_error(id: String, e: SqsError) -> BatchResultError {
    let (shape, _, _, sender_fault) = e.wire();
    BatchResultError { id, sender_fault, code: shape.to_owned(), message: e.to_string() }
}

pub async fn send_message(
    call: &Call<'_>,
    target: Authorized<QueueRef>,
    input: SendMessageInput,
) -> Result<Output, SqsError> {
    let send = send_input(
        call,
        input.message_body,
        input.delay_seconds,
        input.message_attributes,
        input.message_system_attributes,
        input.message_deduplication_id,
        input.message_group_id,
    )?;
    let out = call.state.queues.send_message(target.resource(), send).await?;
    call.reply(&send_output(out))
}

pub async fn send_message_batch(
    call: &Call<'_>,
    target: Authorized<QueueRef>,
    input: SendMessageBatchInput,
) -> Result<Output, SqsError> {
    let entries = input.entries.unwrap_or_default();
    let mut failed = Vec::new();
    let mut good = Vec::new();
    let ids: Vec<String> = entries.iter().map(|e| e.id.clone().unwrap_or_default()).collect();
    // Whole-request checks come before any entry is looked at.
    check_batch_ids(Batch::Send, ids.iter().map(String::as_str))?;
    for (id, e) in ids.into_iter().zip(entries) {
        match send_input(
            call,
            e.message_body,
            e.delay_seconds,
            e.message_attributes,
            e.message_system_attributes,
            e.message_deduplication_id,
            e.message_group_id,
        ) {
            Ok(send) => good.push((id, send)),
            Err(err) => failed.push(batch_error(id, err)),
        }
    }
    let mut successful = Vec::new();
    if !good.is_empty() {
        for (id, result) in call.state.queues.send_message_batch(target.resource(), good).await? {
            match result {
                Ok(out) => successful.push(SendBatchResultEntry { id, result: send_output(out) }),
                Err(e) => failed.push(batch_error(id, e)),
            }
        }
    }
    call.reply(&BatchOutput { successful, failed })
}

pub async fn receive_message(
    call: &Call<'_>,
    target: Authorized<QueueRef>,
    input: ReceiveMessageInput,
) -> Result<Output, SqsError> {
    let mut system_attribute_names = input.attribute_names.unwrap_or_default();
    system_attribute_names.extend(input.message_system_attribute_names.unwrap_or_default());
    if system_attribute_names.len() > 64 || input.message_attribute_names.as_ref().is_some_and(|m| m.len() > 64) {
        return Err(invalid("Too many attribute names in the request."));
    }
    let messages = call
        .state
        .queues
        .receive_message(
            target.resource(),
            ReceiveInput {
                max_messages: input.max_number_of_messages,
                visibility_timeout: input.visibility_timeout,
                wait_seconds: input.wait_time_seconds,
                system_attribute_names,
                message_attribute_names: input.message_attribute_names.unwrap_or_default(),
                caller_account: call.principal.account_id.clone(),
                attempt_id: input.receive_request_attempt_id,
            },
        )
        .await?;
    let messages = messages
        .into_iter()
        .map(|m| MessageOut {
            message_id: m.message_id.to_string(),
            receipt_handle: m.receipt_handle,
            md5_of_body: m.md5_of_body,
            body: m.body,
            attributes: m.attributes.into_iter().collect(),
            md5_of_message_attributes: m.md5_of_message_attributes,
            message_attributes: m
                .message_attributes
                .into_iter()
                .map(|(name, v)| {
                    let (string_value, binary_value) = match v.value {
                        Value::String(s) => (Some(s), None),
                        Value::Binary(b) => (None, Some(BASE64_STANDARD.encode(b))),
                    };
                    (name, AttributeValueOut { data_type: v.data_type, string_value, binary_value })
                })
                .collect(),
        })
        .collect();
    call.reply(&ReceiveMessageOutput { messages })
}

/// The `ReceiptHandle` member: present and of a sane length before any work.
fn receipt_handle(handle: Option<String>) -> Result<ReceiptHandle, SqsError> {
    ReceiptHandle::parse(&handle.ok_or_else(|| SqsError::missing("ReceiptHandle"))?)
}

pub async fn delete_message(
    call: &Call<'_>,
    target: Authorized<QueueRef>,
    input: DeleteMessageInput,
) -> Result<Output, SqsError> {
    let handle = receipt_handle(input.receipt_handle)?;
    call.state.queues.delete_message(target.resource(), &handle).await?;
    call.reply(&Empty {})
}

/// Splits batch results into the two lists SQS answers.
fn id_results(
    call: &Call<'_>,
    results: Vec<(String, Result<(), SqsError>)>,
    mut failed: Vec<BatchResultError>,
) -> Result<Output, SqsError> {
    let mut successful = Vec::new();
    for (id, r) in results {
        match r {
            Ok(()) => successful.push(IdEntry { id }),
            Err(e) => failed.push(batch_error(id, e)),
        }
    }
    call.reply(&BatchOutput { successful, failed })
}

/// The entries of a batch that names receipt handles: whole-request checks first, then
/// each entry's handle shape; returns the well-formed entries and the failed ones.
#[allow(clippy::type_complexity)]
fn handle_entries<E>(
    batch: Batch,
    entries: impl Iterator<Item = (Option<String>, Option<String>, E)>,
) -> Result<(Vec<(String, ReceiptHandle, E)>, Vec<BatchResultError>), SqsError> {
    let entries: Vec<(String, Option<String>, E)> = entries.map(|(id, h, e)| (id.unwrap_or_default(), h, e)).collect();
    check_batch_ids(batch, entries.iter().map(|(id, _, _)| id.as_str()))?;
    let mut good = Vec::new();
    let mut failed = Vec::new();
    for (id, handle, extra) in entries {
        match receipt_handle(handle) {
            Ok(h) => good.push((id, h, extra)),
            Err(err) => failed.push(batch_error(id, err)),
        }
    }
    Ok((good, failed))
}

pub async fn delete_message_batch(
    call: &Call<'_>,
    target: Authorized<QueueRef>,
    input: DeleteMessageBatchInput,
) -> Result<Output, SqsError> {
    let entries = input.entries.unwrap_or_default().into_iter().map(|e| (e.id, e.receipt_handle, ()));
    let (good, failed) = handle_entries(Batch::Delete, entries)?;
    let good = good.into_iter().map(|(id, h, ())| (id, h)).collect::<Vec<_>>();
    let results = if good.is_empty() {
        Vec::new()
    } else {
        call.state.queues.delete_message_batch(target.resource(), good).await?
    };
    id_results(call, results, failed)
}

pub async fn change_message_visibility_batch(
    call: &Call<'_>,
    target: Authorized<QueueRef>,
    input: ChangeMessageVisibilityBatchInput,
) -> Result<Output, SqsError> {
    let entries = input.entries.unwrap_or_default().into_iter().map(|e| (e.id, e.receipt_handle, e.visibility_timeout));
    let (good, failed) = handle_entries(Batch::ChangeVisibility, entries)?;
    let results = if good.is_empty() {
        Vec::new()
    } else {
        call.state.queues.change_message_visibility_batch(target.resource(), good).await?
    };
    id_results(call, results, failed)
}

pub async fn change_message_visibility(
    call: &Call<'_>,
    target: Authorized<QueueRef>,
    input: ChangeMessageVisibilityInput,
) -> Result<Output, SqsError> {
    let handle = receipt_handle(input.receipt_handle)?;
    let timeout = input.visibility_timeout.ok_or_else(|| SqsError::missing("VisibilityTimeout"))?;
    call.state.queues.change_message_visibility(target.resource(), &handle, timeout).await?;
    call.reply(&Empty {})
}

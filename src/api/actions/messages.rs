//! SendMessage, ReceiveMessage, DeleteMessage, ChangeMessageVisibility.

use std::collections::HashMap;

use base64::prelude::*;

use crate::api::json::{
    AttributeValueOut, ChangeMessageVisibilityInput, DeleteMessageInput, Empty, MessageAttributeValue, MessageOut,
    ReceiveMessageInput, ReceiveMessageOutput, SendMessageInput, SendMessageOutput,
};
use crate::api::{ApiError, Call, Code, encode};
use crate::policy::Authorized;
use crate::queue::QueueRef;
use crate::queue::message::{AttributeValue, MessageAttributes, Value};
use crate::queue::receipt::MAX_HANDLE_LEN;
use crate::queue::service::{ReceiveInput, SendInput};

fn invalid(msg: impl Into<String>) -> ApiError {
    ApiError::new(Code::InvalidParameterValue, msg)
}

/// Wire attributes to validated-shape attributes (content rules are checked by `queue`).
fn attributes_from_wire(wire: HashMap<String, MessageAttributeValue>) -> Result<MessageAttributes, ApiError> {
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

pub async fn send_message(
    call: &Call<'_>,
    target: Authorized<QueueRef>,
    input: SendMessageInput,
) -> Result<String, ApiError> {
    let body = input
        .message_body
        .ok_or_else(|| ApiError::new(Code::MissingParameter, "The request must contain the parameter MessageBody."))?;
    if input.message_system_attributes.as_ref().is_some_and(|m| !m.is_empty()) {
        return Err(invalid("MessageSystemAttributes (AWSTraceHeader) are not supported by this Sluice version."));
    }
    if input.message_deduplication_id.is_some() {
        return Err(invalid(
            "The request include parameter MessageDeduplicationId that is not valid for this queue type",
        ));
    }
    if let Some(g) = &input.message_group_id {
        // Fair queues: a group id on a standard queue is accepted and has no ordering effect.
        if g.is_empty() || g.len() > 128 || !g.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(invalid(format!("Value {g} for parameter MessageGroupId is invalid.")));
        }
    }
    let attributes = attributes_from_wire(input.message_attributes.unwrap_or_default())?;
    let out = call
        .state
        .queues
        .send_message(
            target.resource(),
            SendInput {
                body,
                delay_seconds: input.delay_seconds,
                attributes,
                sender_id: call.principal.sender_id().to_owned(),
            },
        )
        .await?;
    encode(&SendMessageOutput {
        message_id: out.message_id.to_string(),
        md5_of_message_body: out.md5_of_body,
        md5_of_message_attributes: out.md5_of_attributes,
    })
}

pub async fn receive_message(
    call: &Call<'_>,
    target: Authorized<QueueRef>,
    input: ReceiveMessageInput,
) -> Result<String, ApiError> {
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
    encode(&ReceiveMessageOutput { messages })
}

/// The `ReceiptHandle` member: present and of a sane length before any work.
fn receipt_handle(handle: Option<String>) -> Result<String, ApiError> {
    let handle = handle.ok_or_else(|| {
        ApiError::new(Code::MissingParameter, "The request must contain the parameter ReceiptHandle.")
    })?;
    if handle.is_empty() || handle.len() > MAX_HANDLE_LEN {
        return Err(ApiError::new(
            Code::ReceiptHandleIsInvalid,
            "The input receipt handle is not a valid receipt handle.",
        ));
    }
    Ok(handle)
}

pub async fn delete_message(
    call: &Call<'_>,
    target: Authorized<QueueRef>,
    input: DeleteMessageInput,
) -> Result<String, ApiError> {
    let handle = receipt_handle(input.receipt_handle)?;
    call.state.queues.delete_message(target.resource(), &handle).await?;
    encode(&Empty {})
}

pub async fn change_message_visibility(
    call: &Call<'_>,
    target: Authorized<QueueRef>,
    input: ChangeMessageVisibilityInput,
) -> Result<String, ApiError> {
    let handle = receipt_handle(input.receipt_handle)?;
    let timeout = input.visibility_timeout.ok_or_else(|| {
        ApiError::new(Code::MissingParameter, "The request must contain the parameter VisibilityTimeout.")
    })?;
    call.state.queues.change_message_visibility(target.resource(), &handle, timeout).await?;
    encode(&Empty {})
}

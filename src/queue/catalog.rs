//! The queue catalog: making, finding, listing and deleting queues, their attributes,
//! tags, permissions (the queue policy) and dead-letter settings, and purging them.

use std::collections::{BTreeMap, HashMap};

use base64::prelude::*;

use super::service::*;
use super::{AccountId, QueueName, QueueRef, SqsError, attributes, redrive};
use crate::store::JsonAttributes;
use crate::store::queues::{Created, Encryption};

/// One page of queue names, as ListQueues and ListDeadLetterSourceQueues page them: without
/// MaxResults up to 1,000 and never a token; with it, a token (the last name, base64url)
/// only when more remain.
struct Page {
    max: Option<i32>,
    after: Option<String>,
}

impl Page {
    fn new(max: Option<i32>, next_token: Option<&str>) -> Result<Self, SqsError> {
        let after = match next_token {
            Some(t) if max.is_some() => Some(
                BASE64_URL_SAFE_NO_PAD
                    .decode(t)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .filter(|s| QueueName::parse(s).is_ok())
                    .ok_or_else(|| SqsError::InvalidParameterValue("Invalid NextToken value.".into()))?,
            ),
            _ => None,
        };
        Ok(Self { max, after })
    }

    fn limit(&self) -> i64 {
        self.max.map(i64::from).unwrap_or(MAX_LIST)
    }

    fn after(&self) -> Option<&str> {
        self.after.as_deref()
    }

    /// Rows to fetch: one more than the page, to know whether more remain.
    fn fetch(&self) -> i64 {
        self.limit() + 1
    }

    fn finish(&self, mut names: Vec<String>, url: impl Fn(&str) -> String) -> (Vec<String>, Option<String>) {
        let more = names.len() as i64 > self.limit();
        names.truncate(self.limit() as usize);
        let token = match (self.max, more, names.last()) {
            (Some(_), true, Some(last)) => Some(BASE64_URL_SAFE_NO_PAD.encode(last)),
            _ => None,
        };
        (names.iter().map(|n| url(n)).collect(), token)
    }
}

impl QueueService {
    /// CreateQueue: idempotent when the supplied attributes match.
    /// CreateQueue, with tags for a new queue (an existing queue's tags are left alone).
    pub async fn create_queue(
        &self,
        r: &QueueRef,
        attrs: &HashMap<String, String>,
        tags: &BTreeMap<String, String>,
    ) -> Result<String, SqsError> {
        let settings = attributes::settings_for_create(attrs)?;
        r.name.check_type(settings.fifo)?;
        super::tags::validate(r.name.as_str(), tags)?;
        let redrive = self.redrive_for(r, settings.fifo, attrs, JsonAttributes::default()).await?;
        let encryption = self.encryption_for(r.account.as_str(), attrs, Encryption::default()).await?;
        if let Err(e) = self.quotas.check_new_queue(r.account.as_str()).await {
            // At the limit, creating a queue that exists already still answers its URL.
            if self.store.queue_by_name(r.account.as_str(), r.name.as_str()).await?.is_none() {
                return Err(e);
            }
        }
        let now = self.clock.now();
        let mut tries = 0;
        loop {
            match self
                .store
                .create_queue(r.account.as_str(), r.name.as_str(), settings, &redrive, &encryption, now)
                .await
            {
                Ok(Created::New(q)) => {
                    // Cached rows of this name (a queue deleted and made again) are stale.
                    self.store.caches_changed().await;
                    if !tags.is_empty() {
                        self.store.tag_queue(q.id, tags, super::tags::MAX_TAGS as i64).await?;
                    }
                    break;
                }
                Ok(Created::Existing(row)) => {
                    let same_redrive = (!attrs.contains_key("RedrivePolicy")
                        || (redrive.dlq_name == row.dlq_name && redrive.max_receive_count == row.max_receive_count))
                        && (!attrs.contains_key("RedriveAllowPolicy")
                            || redrive.allow_policy == row.redrive_allow_policy);
                    if !same_redrive || !attributes::same_as_existing(attrs, &settings, &row.settings()) {
                        return Err(SqsError::QueueNameExists(format!(
                            "A queue already exists with the same name and a different value for attribute(s) {}",
                            attrs.keys().cloned().collect::<Vec<_>>().join(", ")
                        )));
                    }
                    break;
                }
                Err(crate::store::StoreError::Conflict(_)) if tries < 3 => tries += 1,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(self.queue_url(r.account.as_str(), r.name.as_str()))
    }

    pub async fn get_queue_url(&self, r: &QueueRef) -> Result<String, SqsError> {
        let q = self.queue(r).await?;
        Ok(self.queue_url(&q.account_id, &q.name))
    }

    /// ListQueues: the account's own queues. Without `max_results`: up to 1000, never a token.
    pub async fn list_queues(
        &self,
        account: &AccountId,
        prefix: Option<&str>,
        max_results: Option<i32>,
        next_token: Option<&str>,
    ) -> Result<(Vec<String>, Option<String>), SqsError> {
        let max = in_range("MaxResults", max_results, 1, MAX_LIST as i32)?;
        let prefix = prefix.unwrap_or("");
        if prefix.len() > QueueName::MAX_LEN {
            return Err(SqsError::InvalidParameterValue(
                "Value for parameter QueueNamePrefix is invalid. Reason: Must be at most 80 characters.".into(),
            ));
        }
        let page = Page::new(max, next_token)?;
        let names = self.store.list_queue_names(account.as_str(), prefix, page.after(), page.fetch()).await?;
        Ok(page.finish(names, |n| self.queue_url(account.as_str(), n)))
    }

    pub async fn delete_queue(&self, r: &QueueRef) -> Result<(), SqsError> {
        let q = self.queue(r).await?;
        let (existed, shredded) = self.store.delete_queue(q.id).await?;
        // Its data keys are gone with it (but those sealing messages in a dead-letter queue).
        self.keys.forget_queue(q.id, &shredded);
        if !existed {
            return Err(SqsError::QueueDoesNotExist);
        }
        self.wakeups.forget(q.id);
        // Cached rows and policies of the queue (here and on other instances) are stale.
        self.store.caches_changed().await;
        Ok(())
    }

    /// TagQueue: adds or overwrites; a queue holds at most 50 tags.
    pub async fn tag_queue(&self, r: &QueueRef, tags: &BTreeMap<String, String>) -> Result<(), SqsError> {
        if tags.is_empty() {
            return Err(SqsError::missing("Tags"));
        }
        super::tags::validate(r.name.as_str(), tags)?;
        let q = self.queue(r).await?;
        if !self.store.tag_queue(q.id, tags, super::tags::MAX_TAGS as i64).await? {
            return Err(super::tags::too_many(&q.name));
        }
        Ok(())
    }

    /// UntagQueue: absent keys are ignored.
    pub async fn untag_queue(&self, r: &QueueRef, keys: &[String]) -> Result<(), SqsError> {
        if keys.is_empty() {
            // AWS's answer to no keys is that of an empty key.
            return Err(super::tags::bad_key_length());
        }
        if keys.len() > super::tags::MAX_TAGS {
            return Err(SqsError::InvalidParameterValue("Too many tag keys in one request.".into()));
        }
        for k in keys {
            super::tags::validate_key(k)?;
        }
        let q = self.queue(r).await?;
        self.store.untag_queue(q.id, keys).await?;
        Ok(())
    }

    /// The tags of a queue, or none when it does not exist (for authorization context).
    pub async fn tags_if_exists(&self, r: &QueueRef) -> Result<BTreeMap<String, String>, SqsError> {
        match self.store.queue_by_name(r.account.as_str(), r.name.as_str()).await? {
            Some(q) => Ok(self.store.queue_tags(q.id).await?),
            None => Ok(BTreeMap::new()),
        }
    }

    pub async fn list_queue_tags(&self, r: &QueueRef) -> Result<BTreeMap<String, String>, SqsError> {
        let q = self.queue(r).await?;
        Ok(self.store.queue_tags(q.id).await?)
    }

    fn arn_of(&self, account: &str, name: &str) -> String {
        format!("arn:aws:sqs:{}:{account}:{name}", self.region)
    }

    /// The redrive settings a Create/SetQueueAttributes asks for, on top of `current`,
    /// checked as SQS does: the dead-letter queue is in the same account, exists, is not the
    /// queue itself, is of the same type (`fifo`), and its RedriveAllowPolicy admits this queue. Runs after authorization,
    /// so it reveals nothing about other accounts.
    async fn redrive_for(
        &self,
        r: &QueueRef,
        fifo: bool,
        attrs: &HashMap<String, String>,
        current: JsonAttributes,
    ) -> Result<JsonAttributes, SqsError> {
        let mut next = current;
        if let Some(text) = attrs.get("Policy") {
            next.policy = if text.is_empty() { None } else { Some(self.check_queue_policy(r, text)?) };
        }
        if let Some(text) = attrs.get("RedriveAllowPolicy") {
            next.allow_policy = redrive::parse_allow_policy(text)?;
        }
        if let Some(text) = attrs.get("RedrivePolicy") {
            match redrive::parse_redrive_policy(text)? {
                None => {
                    next.dlq_name = None;
                    next.max_receive_count = None;
                }
                Some(p) => {
                    let bad = |reason: &str| redrive::invalid_redrive(text, reason);
                    if p.target.account != r.account {
                        return Err(bad("Dead-letter target owner should be same as the source."));
                    }
                    if p.target.name == r.name {
                        return Err(bad("A queue cannot be its own dead-letter queue."));
                    }
                    let dlq = self
                        .store
                        .queue_by_name(p.target.account.as_str(), p.target.name.as_str())
                        .await?
                        .ok_or_else(|| bad("Dead letter target does not exist."))?;
                    if dlq.fifo != fifo {
                        // AWS's text, doubled period included.
                        return Err(bad("Dead-letter queue must be same type of queue as the source.."));
                    }
                    if !redrive::allows(dlq.redrive_allow_policy.as_deref(), self.queue_arn(r).as_str()) {
                        return Err(bad("The dead-letter queue's RedriveAllowPolicy does not allow this queue."));
                    }
                    next.dlq_name = Some(dlq.name);
                    next.max_receive_count = Some(p.max_receive_count);
                }
            }
        }
        Ok(next)
    }

    /// Validates a queue policy for queue `r`; returns the text to store, exactly as written.
    fn check_queue_policy(&self, r: &QueueRef, text: &str) -> Result<String, SqsError> {
        let bad = |reason: String| {
            SqsError::InvalidAttributeValue(format!("Invalid value for the parameter Policy. Reason: {reason}"))
        };
        let policy = crate::policy::document::parse(text, crate::policy::document::Kind::Queue)
            .map_err(|e| bad(e.to_string()))?;
        let arn = self.queue_arn(r);
        let ctx = crate::policy::context::Context::new();
        for s in &policy.statements {
            if s.not_resource {
                continue;
            }
            let matches = s.resources.iter().any(|p| {
                crate::policy::condition::resolve(p, &ctx)
                    .is_none_or(|t| crate::policy::arn::resource_matches(&t, arn.as_str()))
            });
            if !matches {
                let at =
                    s.sid.as_deref().map(|x| format!("Sid {x}")).unwrap_or_else(|| format!("Statement[{}]", s.index));
                return Err(bad(format!("{at}: Resource does not match this queue ({arn}).")));
            }
        }
        if let Some(finding) = crate::policy::lint::unbound_service_allows(&policy).into_iter().next() {
            return Err(bad(finding.to_string()));
        }
        for finding in crate::policy::lint::confused_deputy(&policy) {
            tracing::warn!(queue = %arn, %finding, "queue policy is open to a confused deputy");
        }
        Ok(text.to_owned())
    }

    /// AddPermission: adds a statement with Sid `label` granting `actions` to `accounts`,
    /// in the shape SQS writes it.
    pub async fn add_permission(
        &self,
        r: &QueueRef,
        label: &str,
        accounts: &[String],
        actions: &[String],
    ) -> Result<(), SqsError> {
        let invalid = |param: &str, value: &str, reason: &str| {
            SqsError::InvalidParameterValue(format!("Value {value} for parameter {param} is invalid. Reason: {reason}"))
        };
        if label.is_empty()
            || label.len() > 80
            || !label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(invalid(
                "Label",
                label,
                "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length.",
            ));
        }
        // AWS names the principals PrincipalId in its answers, listed in brackets.
        if accounts.is_empty() {
            return Err(invalid("PrincipalId", "[]", "Unable to verify."));
        }
        if actions.is_empty() {
            return Err(SqsError::missing("Actions"));
        }
        if actions.len() > 7 {
            return Err(SqsError::OverLimit(format!("{} Actions were found, maximum allowed is 7.", actions.len())));
        }
        const GRANTABLE: &[&str] = &[
            "*",
            "SendMessage",
            "ReceiveMessage",
            "DeleteMessage",
            "ChangeMessageVisibility",
            "GetQueueAttributes",
            "GetQueueUrl",
            "ListDeadLetterSourceQueues",
            "PurgeQueue",
        ];
        // The other SQS actions: AWS tells them apart from names of no action.
        const OWNER_ONLY: &[&str] = &[
            "AddPermission",
            "CancelMessageMoveTask",
            "ChangeMessageVisibilityBatch",
            "CreateQueue",
            "DeleteMessageBatch",
            "DeleteQueue",
            "ListMessageMoveTasks",
            "ListQueueTags",
            "ListQueues",
            "RemovePermission",
            "SendMessageBatch",
            "SetQueueAttributes",
            "StartMessageMoveTask",
            "TagQueue",
            "UntagQueue",
        ];
        for a in actions {
            if !GRANTABLE.contains(&a.as_str()) {
                let reason = if OWNER_ONLY.contains(&a.as_str()) {
                    "Only the queue owner is allowed to invoke this action."
                } else {
                    "Please refer to the appropriate WSDL for a list of valid actions."
                };
                return Err(invalid("ActionName", &format!("SQS:{a}"), reason));
            }
        }
        for acct in accounts {
            if AccountId::parse(acct).is_none() {
                return Err(invalid("PrincipalId", &format!("[{acct}]"), "Unable to verify."));
            }
        }
        let q = self.queue(r).await?;
        let arn = self.queue_arn(r);
        let mut doc: serde_json::Value = match &q.policy {
            Some(p) => serde_json::from_str(p)
                .map_err(|_| SqsError::InvalidAttributeValue("The stored policy is not JSON.".into()))?,
            None => {
                serde_json::json!({ "Version": "2012-10-17", "Id": format!("{arn}/SQSDefaultPolicy"), "Statement": [] })
            }
        };
        let statements = match doc.get_mut("Statement") {
            Some(serde_json::Value::Array(a)) => a,
            Some(other) => {
                let one = other.take();
                *other = serde_json::Value::Array(vec![one]);
                other.as_array_mut().ok_or_else(|| SqsError::InvalidAttributeValue("bad policy".into()))?
            }
            None => return Err(SqsError::InvalidAttributeValue("The stored policy has no Statement.".into())),
        };
        if statements.iter().any(|s| s.get("Sid").and_then(|v| v.as_str()) == Some(label)) {
            return Err(invalid("Label", label, "Already exists."));
        }
        let one_or_many = |v: Vec<String>| {
            if v.len() == 1 { serde_json::Value::String(v[0].clone()) } else { serde_json::json!(v) }
        };
        let principals: Vec<String> = accounts.iter().map(|a| format!("arn:aws:iam::{a}:root")).collect();
        let actions: Vec<String> = actions.iter().map(|a| format!("SQS:{a}")).collect();
        statements.push(serde_json::json!({
            "Sid": label,
            "Effect": "Allow",
            "Principal": { "AWS": one_or_many(principals) },
            "Action": one_or_many(actions),
            "Resource": arn.as_str(),
        }));
        let text = doc.to_string();
        let policy = self.check_queue_policy(r, &text)?;
        let mut next = q.redrive();
        next.policy = Some(policy);
        self.store.update_queue_settings(q.id, q.settings(), &next, &q.encryption(), self.clock.now()).await?;
        self.store.caches_changed().await;
        Ok(())
    }

    /// RemovePermission: removes the statement whose Sid is `label`.
    pub async fn remove_permission(&self, r: &QueueRef, label: &str) -> Result<(), SqsError> {
        let q = self.queue(r).await?;
        let missing = || {
            SqsError::InvalidParameterValue(format!(
                "Value {label} for parameter Label is invalid. Reason: can't find label on existing policy."
            ))
        };
        let mut doc: serde_json::Value =
            serde_json::from_str(q.policy.as_deref().ok_or_else(missing)?).map_err(|_| missing())?;
        let statements = match doc.get_mut("Statement") {
            Some(serde_json::Value::Array(a)) => a,
            _ => return Err(missing()),
        };
        let before = statements.len();
        statements.retain(|s| s.get("Sid").and_then(|v| v.as_str()) != Some(label));
        if statements.len() == before {
            return Err(missing());
        }
        let mut next = q.redrive();
        next.policy = if statements.is_empty() { None } else { Some(doc.to_string()) };
        self.store.update_queue_settings(q.id, q.settings(), &next, &q.encryption(), self.clock.now()).await?;
        self.store.caches_changed().await;
        Ok(())
    }

    /// ListDeadLetterSourceQueues: queues of the same account whose dead-letter queue this is.
    pub async fn list_dead_letter_source_queues(
        &self,
        r: &QueueRef,
        max_results: Option<i32>,
        next_token: Option<&str>,
    ) -> Result<(Vec<String>, Option<String>), SqsError> {
        let max = in_range("MaxResults", max_results, 1, MAX_LIST as i32)?;
        let q = self.queue(r).await?;
        let page = Page::new(max, next_token)?;
        let names = self.store.dead_letter_sources(&q.account_id, &q.name, page.after(), page.fetch()).await?;
        Ok(page.finish(names, |n| self.queue_url(&q.account_id, n)))
    }

    /// GetQueueAttributes. Unknown names are refused; names of features not built are
    /// valid and simply have no value.
    pub async fn get_queue_attributes(
        &self,
        r: &QueueRef,
        names: &[String],
    ) -> Result<Vec<(&'static str, String)>, SqsError> {
        if let Some(bad) = names.iter().find(|n| !attributes::is_known(n)) {
            let shown: String = bad.chars().take(100).collect();
            return Err(SqsError::InvalidAttributeName(format!("Unknown Attribute {shown}.")));
        }
        let q = self.queue(r).await?;
        if names.is_empty() {
            return Ok(Vec::new());
        }
        const COUNTS: [&str; 3] = [
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ];
        let wants_counts = names.iter().any(|n| n == "All" || COUNTS.contains(&n.as_str()));
        let now = self.clock.now();
        let counts = if wants_counts {
            self.store.message_counts(q.id, now, expiry_cutoff(&q, now)).await?
        } else {
            Default::default()
        };
        let facts = attributes::QueueFacts {
            arn: self.queue_arn(r).to_string(),
            created: q.created_at.timestamp(),
            last_modified: q.last_modified_at.timestamp(),
            visible: counts.visible,
            not_visible: counts.not_visible,
            delayed: counts.delayed,
            redrive_policy: match (&q.dlq_name, q.max_receive_count) {
                (Some(dlq), Some(max)) => Some(redrive::render_redrive_policy(&self.arn_of(&q.account_id, dlq), max)),
                _ => None,
            },
            redrive_allow_policy: q.redrive_allow_policy.clone(),
            policy: q.policy.clone(),
            encryption: q.encryption(),
        };
        Ok(attributes::render(names, &q.settings(), &facts))
    }

    /// The encryption attributes a request sets, over `base`: SqsManagedSseEnabled,
    /// KmsMasterKeyId (resolved to a key of the caller's account when it can be) and
    /// KmsDataKeyReusePeriodSeconds. One SSE mode at a time, as on SQS.
    async fn encryption_for(
        &self,
        account: &str,
        attrs: &HashMap<String, String>,
        base: Encryption,
    ) -> Result<Encryption, SqsError> {
        let mut e = base;
        if let Some(v) = attrs.get("KmsDataKeyReusePeriodSeconds") {
            e.reuse_seconds = v.trim().parse().ok().filter(|v| (60..=86_400).contains(v)).ok_or_else(|| {
                SqsError::InvalidAttributeValue("Invalid value for the parameter KmsDataKeyReusePeriodSeconds.".into())
            })?;
        }
        let sse = attrs.get("SqsManagedSseEnabled").map(String::as_str);
        match (sse, attrs.get("KmsMasterKeyId").map(String::as_str)) {
            (Some("true"), Some(k)) if !k.is_empty() => {
                return Err(SqsError::InvalidAttributeValue(
                    "You can use one type of server-side encryption (SSE) at one time. You can either enable KMS SSE or SQS SSE.".into(),
                ));
            }
            (_, Some("")) => {
                e.kms_master_key_id = None;
                e.kms_master_key = None;
                e.sse_sqs = sse == Some("true");
            }
            (_, Some(k)) => {
                if k.len() > 2048 {
                    return Err(SqsError::InvalidAttributeValue(
                        "Invalid value for the parameter KmsMasterKeyId.".into(),
                    ));
                }
                // As on SQS, the key is not required to be usable here: one that does not
                // resolve yet is kept as written, and the sends fail with its Kms* error
                // until it does (`QueueService::sealing_key`).
                let resolved = match self.keys.resolve_master_key(account, k).await {
                    Ok(key) => Some(key),
                    Err(crate::keys::KeysError::Kms(_)) => None,
                    Err(e) => return Err(e.into()),
                };
                e.kms_master_key_id = Some(k.to_owned());
                e.kms_master_key = resolved;
                e.sse_sqs = false;
            }
            (Some(v), None) => {
                e.sse_sqs = v == "true";
                if e.sse_sqs {
                    e.kms_master_key_id = None;
                    e.kms_master_key = None;
                }
            }
            (None, None) => {}
        }
        Ok(e)
    }

    /// SetQueueAttributes: all or nothing; stamps LastModifiedTimestamp.
    pub async fn set_queue_attributes(&self, r: &QueueRef, attrs: &HashMap<String, String>) -> Result<(), SqsError> {
        let q = self.queue(r).await?;
        let settings = attributes::settings_for_set(attrs, q.settings())?;
        if attrs.is_empty() {
            return Ok(());
        }
        let redrive = self.redrive_for(r, q.fifo, attrs, q.redrive()).await?;
        let encryption = self.encryption_for(&q.account_id, attrs, q.encryption()).await?;
        if !self.store.update_queue_settings(q.id, settings, &redrive, &encryption, self.clock.now()).await? {
            return Err(SqsError::QueueDoesNotExist);
        }
        // Cached rows and policies of the queue (here and on other instances) are stale now.
        self.store.caches_changed().await;
        // A shorter delay or a longer retention may let waiting consumers see messages.
        self.wakeups.wake_local(q.id);
        Ok(())
    }

    /// PurgeQueue: deletes every message, in flight or not; once per 60 seconds.
    pub async fn purge_queue(&self, r: &QueueRef) -> Result<(), SqsError> {
        let q = self.queue(r).await?;
        match self.store.purge_queue(q.id, self.clock.now(), PURGE_INTERVAL).await? {
            crate::store::queues::Purge::Done => Ok(()),
            crate::store::queues::Purge::TooSoon => Err(SqsError::PurgeQueueInProgress(format!(
                "Only one PurgeQueue operation on {} is allowed every 60 seconds.",
                q.name
            ))),
        }
    }
}

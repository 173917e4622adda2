//! The request context: the condition keys of one request (case-insensitive names; a key
//! may carry several values).

use std::collections::HashMap;

#[derive(Debug, Clone, Default)]
pub struct Context {
    values: HashMap<String, Vec<String>>,
}

impl Context {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets a single-valued key.
    pub fn set(&mut self, key: &str, value: impl Into<String>) -> &mut Self {
        self.values.insert(key.to_ascii_lowercase(), vec![value.into()]);
        self
    }

    /// Sets a multivalued key (e.g. `aws:TagKeys`).
    pub fn set_many(&mut self, key: &str, values: Vec<String>) -> &mut Self {
        self.values.insert(key.to_ascii_lowercase(), values);
        self
    }

    pub fn values(&self, key: &str) -> Option<&Vec<String>> {
        self.values.get(&key.to_ascii_lowercase())
    }

    /// The value of a single-valued key (what a policy variable may use).
    pub fn single(&self, key: &str) -> Option<&str> {
        match self.values(key) {
            Some(v) if v.len() == 1 => Some(v[0].as_str()),
            _ => None,
        }
    }
}

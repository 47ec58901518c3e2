//! `webhook`: the incident JSON as is, for Shuffle, Tines, n8n or anything
//! that takes a POST. Auth: bearer token or HTTP Basic; extra headers from
//! config; Standard Webhooks signing when `secret` is set.

use super::UnknownKeys;
use super::http::{HttpFormat, HttpSettings};
use crate::model::Incident;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WebhookSettings {
    #[serde(flatten)]
    pub http: HttpSettings,
    #[serde(flatten, skip_serializing)]
    pub unknown: UnknownKeys,
}

impl HttpFormat for WebhookSettings {
    fn body(&self, incident: &Incident) -> serde_json::Value {
        serde_json::to_value(incident).unwrap_or(serde_json::Value::Null)
    }

    fn auth(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        self.http.bearer_or_basic(req)
    }

    fn http(&self) -> &HttpSettings {
        &self.http
    }

    fn unknown(&self) -> &UnknownKeys {
        &self.unknown
    }
}

//! `webhook`: the incident JSON as is, for Shuffle, Tines, n8n or anything
//! that takes a POST. Auth: bearer token or HTTP Basic; extra headers from
//! config; Standard Webhooks signing when `secret` is set.

use super::http::{HttpFormat, HttpSettings, HttpSink};
use super::{Deliver, SinkContext, SinkError, UnknownKeys};
use crate::config::ConfigError;
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

impl WebhookSettings {
    pub(super) fn validate(
        &self,
        key: &dyn Fn(&str) -> String,
    ) -> Result<Option<Vec<u8>>, ConfigError> {
        self.unknown.check(key, "webhook")?;
        self.http.validate(key)
    }
}

impl HttpFormat for WebhookSettings {
    fn url(&self) -> String {
        self.http.url.clone()
    }

    fn body(&self, incident: &Incident) -> serde_json::Value {
        serde_json::to_value(incident).unwrap_or(serde_json::Value::Null)
    }

    fn auth(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        self.http.bearer_or_basic(req)
    }

    fn http(&self) -> &HttpSettings {
        &self.http
    }
}

pub(super) fn build(
    name: &str,
    s: &WebhookSettings,
    signing_key: Option<Vec<u8>>,
    ctx: &SinkContext,
) -> Result<Box<dyn Deliver>, SinkError> {
    Ok(Box::new(HttpSink::build(
        name,
        s.clone(),
        signing_key,
        ctx,
    )?))
}

//! `webhook`: the incident JSON as is, for Shuffle, Tines, n8n or anything
//! that takes a POST. Auth: bearer token or HTTP Basic; extra headers from config.

use crate::config::SinkSettings;
use crate::incident::Incident;

pub fn body(incident: &Incident) -> serde_json::Value {
    serde_json::to_value(incident).unwrap_or(serde_json::Value::Null)
}

pub fn auth(req: reqwest::RequestBuilder, s: &SinkSettings) -> reqwest::RequestBuilder {
    if !s.token.is_empty() {
        req.bearer_auth(s.token.expose())
    } else if !s.username.is_empty() {
        req.basic_auth(&s.username, Some(s.password.expose()))
    } else {
        req
    }
}

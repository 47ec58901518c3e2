//! `webhook`: the incident JSON as is, for Shuffle, Tines, n8n or anything
//! that takes a POST. Auth: bearer token or HTTP Basic; extra headers from
//! config; Standard Webhooks signing when `secret` is set.

use crate::config::SinkSettings;
use crate::incident::Incident;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{KeyInit, Mac};

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

/// The HMAC key of a Standard Webhooks secret: the base64 after `whsec_`, or
/// the secret's bytes when it has no prefix.
pub fn signing_key(secret: &str) -> Result<Vec<u8>, String> {
    match secret.strip_prefix("whsec_") {
        Some(b64) => STANDARD
            .decode(b64)
            .map_err(|e| format!("whsec_ secret is not valid base64: {e}")),
        None => Ok(secret.as_bytes().to_vec()),
    }
}

/// `webhook-signature`: `v1,` + base64(HMAC-SHA256(key, "id.timestamp.body")).
pub fn signature(key: &[u8], id: &str, timestamp: u64, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

pub fn sign(
    req: reqwest::RequestBuilder,
    key: &[u8],
    id: &str,
    timestamp: u64,
    body: &[u8],
) -> reqwest::RequestBuilder {
    req.header("webhook-id", id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature(key, id, timestamp, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification.
    #[test]
    fn standard_webhooks_reference_vector() {
        let key = signing_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let sig = signature(
            &key,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert!(signing_key("whsec_!!!").is_err());
        assert_eq!(signing_key("plain").unwrap(), b"plain");
    }
}

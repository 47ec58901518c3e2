//! HTTP in one place: the User-Agent every request carries, how a client is
//! built, and how URLs and errors are shown without the credentials they may
//! hold. `app` builds the one shared client with it; the CT source and sinks
//! with their own TLS or timeouts build theirs the same way.

use std::time::Duration;

/// `certsentry/<version>`.
pub(crate) const USER_AGENT: &str = concat!("certsentry/", env!("CARGO_PKG_VERSION"));

/// The User-Agent with a contact for operators (CT log operators ask for one).
pub(crate) fn user_agent_with_contact(contact: &str) -> String {
    if contact.is_empty() {
        format!("{USER_AGENT} (+https://github.com/certsentry)")
    } else {
        format!("{USER_AGENT} (+{contact})")
    }
}

/// A client builder with the User-Agent and both timeouts set.
pub(crate) fn builder(user_agent: &str, timeout: Duration) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .user_agent(user_agent)
        .connect_timeout(Duration::from_secs(10))
        .timeout(timeout)
}

/// reqwest errors print the URL, which may hold credentials; keep the reason only.
pub(crate) fn without_url(e: &reqwest::Error) -> String {
    let mut e = e.to_string();
    if let Some(i) = e.find(" for url (") {
        e.truncate(i);
    }
    e
}

/// The URL with any `user:password@` removed.
pub(crate) fn strip_userinfo(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        Err(_) => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_stripped() {
        assert_eq!(
            strip_userinfo("https://user:pw@example.com/list"),
            "https://example.com/list"
        );
        assert_eq!(strip_userinfo("not a url"), "not a url");
        assert!(user_agent_with_contact("ops@example.com").ends_with("(+ops@example.com)"));
    }
}

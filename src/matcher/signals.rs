//! The vocabulary of combosquats: a brand label glued to one of these words
//! (`securepaypal`, `paypallogin`) is a combosquat; glued to any other word
//! (`pineapple`, `paypalmafia`) it is not.

/// Words phishers join to a brand (`paypal-login`, `securepaypal`). A brand
/// glued to any other word (`paypalmafia`, `pineapple`) is not a combosquat;
/// a brand as its own hyphen token (`apple-pie`) is, with a lower score.
/// Deliberately without everyday words that companies name themselves with
/// (`info`, `live`, `web`, `store`, `team`, `app`: `zoominfo` is not phishing).
pub const PHISHING_WORDS: &[&str] = &[
    "access",
    "account",
    "accounts",
    "activate",
    "alert",
    "auth",
    "authenticate",
    "bank",
    "banking",
    "billing",
    "bonus",
    "claim",
    "confirm",
    "confirmation",
    "customer",
    "dashboard",
    "delivery",
    "gift",
    "help",
    "helpdesk",
    "id",
    "invoice",
    "limited",
    "locked",
    "login",
    "logon",
    "mobile",
    "my",
    "notice",
    "notification",
    "official",
    "online",
    "password",
    "payment",
    "payments",
    "portal",
    "promo",
    "recover",
    "recovery",
    "refund",
    "register",
    "reset",
    "resolution",
    "restore",
    "reward",
    "rewards",
    "secure",
    "security",
    "service",
    "services",
    "session",
    "signin",
    "signon",
    "sso",
    "support",
    "ticket",
    "tracking",
    "unlock",
    "update",
    "validate",
    "validation",
    "verification",
    "verify",
    "wallet",
    "webmail",
    "www",
];

/// For each first two bytes, a bit per length of the words starting with
/// them: almost every string is ruled out before any comparison.
static SHAPES: std::sync::LazyLock<Vec<u32>> = std::sync::LazyLock::new(|| {
    let mut shapes = vec![0u32; 128 * 128];
    for w in PHISHING_WORDS {
        let b = w.as_bytes();
        shapes[usize::from(b[0] & 0x7f) << 7 | usize::from(b[1] & 0x7f)] |= 1 << w.len();
    }
    shapes
});

pub fn is_phishing_word(w: &str) -> bool {
    let b = w.as_bytes();
    if b.len() < 2 || b.len() >= 32 || b[0] >= 128 || b[1] >= 128 {
        return false;
    }
    if SHAPES[usize::from(b[0]) << 7 | usize::from(b[1])] & (1 << b.len()) == 0 {
        return false;
    }
    PHISHING_WORDS.binary_search(&w).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_sorted_for_binary_search() {
        assert!(PHISHING_WORDS.windows(2).all(|w| w[0] < w[1]));
        assert!(is_phishing_word("login") && !is_phishing_word("mafia"));
        assert!(
            PHISHING_WORDS
                .iter()
                .all(|w| w.len() >= 2 && is_phishing_word(w))
        );
        assert!(!is_phishing_word("") && !is_phishing_word("l") && !is_phishing_word("logins"));
    }
}

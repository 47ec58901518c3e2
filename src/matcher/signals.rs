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

/// For each first byte, a bit per length of the words starting with it: most
/// strings are ruled out before any comparison.
static SHAPES: std::sync::LazyLock<[u32; 128]> = std::sync::LazyLock::new(|| {
    let mut shapes = [0u32; 128];
    for w in PHISHING_WORDS {
        shapes[usize::from(w.as_bytes()[0] & 0x7f)] |= 1 << w.len();
    }
    shapes
});

pub fn is_phishing_word(w: &str) -> bool {
    let (Some(&first), len) = (w.as_bytes().first(), w.len()) else {
        return false;
    };
    if first >= 128 || len >= 32 || SHAPES[usize::from(first)] & (1 << len) == 0 {
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
    }
}

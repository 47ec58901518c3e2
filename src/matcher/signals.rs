//! The vocabulary of combosquats: a brand label glued to one of these words
//! (`securepaypal`, `paypallogin`) is a combosquat; glued to any other word
//! (`pineapple`, `paypalmafia`) it is not.

/// Words phishers join to a brand (`paypal-login`, `securepaypal`). A brand
/// glued to any other word (`paypalmafia`, `pineapple`) is not a combosquat;
/// a brand as its own hyphen token (`apple-pie`) is, with a lower score.
pub const PHISHING_WORDS: &[&str] = &[
    "access",
    "account",
    "accounts",
    "activate",
    "alert",
    "app",
    "auth",
    "authenticate",
    "bank",
    "banking",
    "billing",
    "bonus",
    "care",
    "center",
    "centre",
    "check",
    "claim",
    "client",
    "confirm",
    "confirmation",
    "connect",
    "customer",
    "dashboard",
    "delivery",
    "desk",
    "free",
    "gift",
    "help",
    "helpdesk",
    "id",
    "info",
    "invoice",
    "limited",
    "live",
    "locked",
    "log",
    "login",
    "logon",
    "mail",
    "member",
    "mobile",
    "my",
    "notice",
    "notification",
    "official",
    "online",
    "pass",
    "password",
    "pay",
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
    "review",
    "reward",
    "rewards",
    "safe",
    "secure",
    "security",
    "service",
    "services",
    "session",
    "signin",
    "signon",
    "sso",
    "staff",
    "store",
    "support",
    "team",
    "ticket",
    "track",
    "tracking",
    "unlock",
    "update",
    "user",
    "validate",
    "validation",
    "verification",
    "verify",
    "wallet",
    "web",
    "webmail",
    "www",
];

pub fn is_phishing_word(w: &str) -> bool {
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

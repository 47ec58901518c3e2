//! The vocabulary of combosquats: a brand label glued to one of these words
//! (`securepaypal`, `paypallogin`) is a combosquat; glued to any other word
//! (`pineapple`, `paypalmafia`) it is not.

/// Words phishers join to a brand (`paypal-login`, `securepaypal`). A brand
/// glued to any other word (`paypalmafia`, `pineapple`) is not a combosquat;
/// a brand as its own hyphen token (`apple-pie`) is, with a lower score.
/// Deliberately without everyday words that companies name themselves with
/// (`info`, `live`, `web`, `store`, `team`, `app`: `zoominfo` is not phishing).
pub(super) const PHISHING_WORDS: &[&str] = &[
    "access",
    "account",
    "accounts",
    "activate",
    "actualizacion",
    "aktualisierung",
    "alert",
    "atualizacao",
    "auth",
    "authenticate",
    "bank",
    "banking",
    "billing",
    "bonus",
    "cancel",
    "care",
    "center",
    "claim",
    "click",
    "confirm",
    "confirmation",
    "connect",
    "customer",
    "customs",
    "dashboard",
    "delivery",
    "docs",
    "document",
    "download",
    "enroll",
    "fee",
    "findmy",
    "fraud",
    "gift",
    "help",
    "helpdesk",
    "http",
    "https",
    "id",
    "install",
    "invite",
    "invoice",
    "limited",
    "locked",
    "login",
    "logon",
    "mail",
    "meeting",
    "mobile",
    "my",
    "notice",
    "notification",
    "official",
    "online",
    "order",
    "orders",
    "otp",
    "overdue",
    "package",
    "parcel",
    "password",
    "payment",
    "payments",
    "portal",
    "promo",
    "rebate",
    "recover",
    "recovery",
    "redeliver",
    "redelivery",
    "refund",
    "refunds",
    "register",
    "reschedule",
    "reset",
    "resolution",
    "restore",
    "reward",
    "rewards",
    "safe",
    "secure",
    "security",
    "service",
    "services",
    "session",
    "shipment",
    "signin",
    "signon",
    "ssl",
    "sso",
    "support",
    "suspended",
    "ticket",
    "tracking",
    "unlock",
    "unpaid",
    "update",
    "user",
    "users",
    "validate",
    "validation",
    "verification",
    "verify",
    "view",
    "voicemail",
    "wallet",
    "webmail",
    "www",
];

/// Phishing words that also name ordinary things (`capitalone-online`,
/// `safe-mail`, `citibank-mobile`): weaker evidence than `login` or
/// `verify`, and not enough on their own next to an everyday-word brand.
const WEAK_WORDS: &[&str] = &[
    "access",
    "bank",
    "banking",
    "care",
    "center",
    "click",
    "connect",
    "customs",
    "dashboard",
    "delivery",
    "docs",
    "document",
    "download",
    "enroll",
    "fee",
    "help",
    "http",
    "https",
    "id",
    "install",
    "invite",
    "mail",
    "meeting",
    "mobile",
    "my",
    "official",
    "online",
    "order",
    "orders",
    "package",
    "parcel",
    "portal",
    "register",
    "safe",
    "service",
    "services",
    "shipment",
    "ssl",
    "support",
    "user",
    "users",
    "view",
    "webmail",
    "www",
];

/// A prefilter for a set of strings: for each first two bytes, a bit per
/// length of the members starting with them. `may_contain` is false for
/// almost every string outside the set, without hashing or comparing.
#[derive(Debug)]
pub(super) struct Shapes {
    bits: Vec<u64>,
    /// A member this filter cannot describe (non-ASCII start, one byte,
    /// 64+ bytes): nothing is ruled out.
    any: bool,
}

impl Shapes {
    pub(super) fn new<'a>(members: impl IntoIterator<Item = &'a str>) -> Shapes {
        let mut shapes = Shapes {
            bits: vec![0; 128 * 128],
            any: false,
        };
        for m in members {
            match Shapes::slot(m) {
                Some((i, len)) => shapes.bits[i] |= 1 << len,
                None => shapes.any = true,
            }
        }
        shapes
    }

    fn slot(s: &str) -> Option<(usize, usize)> {
        let b = s.as_bytes();
        if b.len() < 2 || b.len() >= 64 || b[0] >= 128 || b[1] >= 128 {
            return None;
        }
        Some((usize::from(b[0]) << 7 | usize::from(b[1]), b.len()))
    }

    pub(super) fn may_contain(&self, s: &str) -> bool {
        match Shapes::slot(s) {
            Some((i, len)) => self.bits[i] & (1 << len) != 0,
            None => self.any,
        }
    }
}

static WORDS: std::sync::LazyLock<(Shapes, rustc_hash::FxHashSet<&'static str>)> =
    std::sync::LazyLock::new(|| {
        (
            Shapes::new(PHISHING_WORDS.iter().copied()),
            PHISHING_WORDS.iter().copied().collect(),
        )
    });

pub(super) fn is_phishing_word(w: &str) -> bool {
    let (shapes, words) = &*WORDS;
    shapes.may_contain(w) && words.contains(w)
}

/// A phishing word that is not also an ordinary one (`login`, `verify`).
pub(super) fn is_strong_phishing_word(w: &str) -> bool {
    is_phishing_word(w) && !WEAK_WORDS.contains(&w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_sorted_and_all_found() {
        assert!(PHISHING_WORDS.windows(2).all(|w| w[0] < w[1]));
        assert!(is_phishing_word("login") && !is_phishing_word("mafia"));
        assert!(
            PHISHING_WORDS
                .iter()
                .all(|w| w.len() >= 2 && is_phishing_word(w))
        );
        assert!(!is_phishing_word("") && !is_phishing_word("l") && !is_phishing_word("logins"));
        assert!(WEAK_WORDS.windows(2).all(|w| w[0] < w[1]));
        assert!(WEAK_WORDS.iter().all(|w| is_phishing_word(w)));
        assert!(is_strong_phishing_word("login") && !is_strong_phishing_word("online"));
    }
}

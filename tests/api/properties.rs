//! Property tests: normalisation and the frame parser never panic.

use certsentry::parse_frame;
use certsentry::{Fqdn, fold_skeleton, normalise_label};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn normalisation_never_panics(s in "\\PC{0,80}") {
        if let Ok(f) = Fqdn::parse(&s) {
            // a parsed name is consistent with itself
            prop_assert!(f.unicode().ends_with(f.registrable_domain()));
            prop_assert!(f.registrable_domain().starts_with(f.registrable_label()));
            prop_assert!(f.ascii().is_ascii());
            let again = Fqdn::parse(f.ascii());
            prop_assert!(again.is_ok());
        }
        let _ = normalise_label(&s);
        let _ = fold_skeleton(&s);
    }

    #[test]
    fn hostname_like_strings_never_panic(s in "(\\*\\.)?([a-z0-9\\-_]{0,12}|xn--[a-z0-9\\-]{0,10}|[а-яёӏ]{1,6})(\\.[a-z0-9\\-]{0,10}){0,4}\\.?") {
        let _ = Fqdn::parse(&s);
    }

    #[test]
    fn frame_parser_never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = parse_frame(&bytes, "prop");
    }

    #[test]
    fn frame_parser_never_panics_on_json_like_input(
        kind in prop_oneof![Just("certificate_update".to_string()), Just("dns_entries".to_string()), Just("heartbeat".to_string()), "[a-z_]{0,12}"],
        data in "\\PC{0,200}",
    ) {
        let msg = format!(r#"{{"message_type":"{kind}","data":{data}}}"#);
        let _ = parse_frame(msg.as_bytes(), "prop");
    }
}

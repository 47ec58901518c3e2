//! The generator: parity with the reference generator's default fuzzers
//! (expectations derived here, independently, from the rules in
//! reference/detection.md), validity of every output, the HTTP endpoint, the
//! XSOAR push.

use crate::helpers::*;
use certsentry::Secret;
use certsentry::generator::{GenerateOptions, generate};
use proptest::prelude::*;
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

// ---- expectations, derived from the reference's rules -------------------------

/// Keyboard neighbours as typists know them (written out by hand per layout).
fn keyboards() -> Vec<HashMap<char, &'static str>> {
    let qwerty: &[(char, &str)] = &[
        ('1', "2q"),
        ('2', "3wq1"),
        ('3', "4ew2"),
        ('4', "5re3"),
        ('5', "6tr4"),
        ('6', "7yt5"),
        ('7', "8uy6"),
        ('8', "9iu7"),
        ('9', "0oi8"),
        ('0', "po9"),
        ('q', "12wa"),
        ('w', "3esaq2"),
        ('e', "4rdsw3"),
        ('r', "5tfde4"),
        ('t', "6ygfr5"),
        ('y', "7uhgt6"),
        ('u', "8ijhy7"),
        ('i', "9okju8"),
        ('o', "0plki9"),
        ('p', "lo0"),
        ('a', "qwsz"),
        ('s', "edxzaw"),
        ('d', "rfcxse"),
        ('f', "tgvcdr"),
        ('g', "yhbvft"),
        ('h', "ujnbgy"),
        ('j', "ikmnhu"),
        ('k', "olmji"),
        ('l', "kop"),
        ('z', "asx"),
        ('x', "zsdc"),
        ('c', "xdfv"),
        ('v', "cfgb"),
        ('b', "vghn"),
        ('n', "bhjm"),
        ('m', "njk"),
    ];
    let qwertz: &[(char, &str)] = &[
        ('1', "2q"),
        ('2', "3wq1"),
        ('3', "4ew2"),
        ('4', "5re3"),
        ('5', "6tr4"),
        ('6', "7zt5"),
        ('7', "8uz6"),
        ('8', "9iu7"),
        ('9', "0oi8"),
        ('0', "po9"),
        ('q', "12wa"),
        ('w', "3esaq2"),
        ('e', "4rdsw3"),
        ('r', "5tfde4"),
        ('t', "6zgfr5"),
        ('z', "7uhgt6"),
        ('u', "8ijhz7"),
        ('i', "9okju8"),
        ('o', "0plki9"),
        ('p', "lo0"),
        ('a', "qwsy"),
        ('s', "edxyaw"),
        ('d', "rfcxse"),
        ('f', "tgvcdr"),
        ('g', "zhbvft"),
        ('h', "ujnbgz"),
        ('j', "ikmnhu"),
        ('k', "olmji"),
        ('l', "kop"),
        ('y', "asx"),
        ('x', "ysdc"),
        ('c', "xdfv"),
        ('v', "cfgb"),
        ('b', "vghn"),
        ('n', "bhjm"),
        ('m', "njk"),
    ];
    let azerty: &[(char, &str)] = &[
        ('1', "2a"),
        ('2', "3za1"),
        ('3', "4ez2"),
        ('4', "5re3"),
        ('5', "6tr4"),
        ('6', "7yt5"),
        ('7', "8uy6"),
        ('8', "9iu7"),
        ('9', "0oi8"),
        ('0', "po9"),
        ('a', "2zq1"),
        ('z', "3esqa2"),
        ('e', "4rdsz3"),
        ('r', "5tfde4"),
        ('t', "6ygfr5"),
        ('y', "7uhgt6"),
        ('u', "8ijhy7"),
        ('i', "9okju8"),
        ('o', "0plki9"),
        ('p', "lo0m"),
        ('q', "zswa"),
        ('s', "edxwqz"),
        ('d', "rfcxse"),
        ('f', "tgvcdr"),
        ('g', "yhbvft"),
        ('h', "ujnbgy"),
        ('j', "iknhu"),
        ('k', "olji"),
        ('l', "kopm"),
        ('m', "lp"),
        ('w', "sxq"),
        ('x', "wsdc"),
        ('c', "xdfv"),
        ('v', "cfgb"),
        ('b', "vghn"),
        ('n', "bhj"),
    ];
    [qwerty, qwertz, azerty]
        .iter()
        .map(|t| t.iter().copied().collect())
        .collect()
}

/// The reference's Cyrillic twins.
const CYRILLIC: &[(char, char)] = &[
    ('a', 'а'),
    ('b', 'ь'),
    ('c', 'с'),
    ('d', 'ԁ'),
    ('e', 'е'),
    ('g', 'ԍ'),
    ('h', 'һ'),
    ('i', 'і'),
    ('j', 'ј'),
    ('k', 'к'),
    ('l', 'ӏ'),
    ('m', 'м'),
    ('o', 'о'),
    ('p', 'р'),
    ('q', 'ԛ'),
    ('s', 'ѕ'),
    ('t', 'т'),
    ('v', 'ѵ'),
    ('w', 'ԝ'),
    ('x', 'х'),
    ('y', 'у'),
];

/// ASCII lookalikes (0↔o, 1→l/i, m→rn/nn, w→vv, cl→d) and Latin diacritics (á, ä, ạ, ɑ, ...).
fn glyphs() -> Vec<(&'static str, Vec<String>)> {
    let mut g: Vec<(&str, Vec<String>)> = vec![
        ("0", vec!["o".into()]),
        ("1", vec!["l".into(), "i".into()]),
        ("o", vec!["0".into()]),
        ("l", vec!["1".into(), "i".into()]),
        ("i", vec!["1".into(), "l".into()]),
        ("m", vec!["rn".into(), "nn".into(), "n".into()]),
        ("w", vec!["vv".into()]),
        ("cl", vec!["d".into()]),
        ("rn", vec!["m".into()]),
        ("d", vec!["b".into(), "cl".into()]),
        ("b", vec!["d".into()]),
        ("g", vec!["q".into()]),
        ("q", vec!["g".into()]),
        ("u", vec!["v".into()]),
        ("v", vec!["u".into()]),
        ("n", vec!["m".into(), "r".into()]),
        ("e", vec!["c".into()]),
        ("c", vec!["e".into()]),
    ];
    for (k, accents) in [
        ("a", "áàâãäåạɑăą"),
        ("c", "ćçčċ"),
        ("e", "éèêëēėẹę"),
        ("i", "íìïîıịī"),
        ("l", "ĺľļł"),
        ("n", "ńñņňṅ"),
        ("o", "óòôõöọơ"),
        ("r", "ŕřŗ"),
        ("s", "śšşṣ"),
        ("u", "úùûüũūůűụư"),
        ("y", "ýÿŷỵ"),
        ("z", "źżẓ"),
        ("m", "ṃḿ"),
        ("b", "ḃḅ"),
        ("g", "ǵğĝġģ"),
    ] {
        g.push((k, accents.chars().map(|c| c.to_string()).collect()));
    }
    g
}

fn one_substitution(label: &str, glyphs: &[(&str, Vec<String>)]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (key, reps) in glyphs {
        let mut start = 0;
        while let Some(pos) = label[start..].find(key) {
            let i = start + pos;
            for r in reps {
                out.insert(format!("{}{r}{}", &label[..i], &label[i + key.len()..]));
            }
            start = i + label[i..].chars().next().map_or(1, char::len_utf8);
        }
    }
    out
}

/// Every variant the reference's default fuzzers make of `label`.
fn reference_variants(label: &str) -> BTreeSet<String> {
    let cs: Vec<char> = label.chars().collect();
    let s = |v: &[char]| v.iter().collect::<String>();
    let mut out = BTreeSet::new();
    // addition
    for c in "abcdefghijklmnopqrstuvwxyz0123456789".chars() {
        out.insert(format!("{label}{c}"));
    }
    // bitsquatting
    for (i, c) in cs.iter().enumerate() {
        for m in [1u8, 2, 4, 8, 16, 32, 64, 128] {
            let f = ((*c as u8) ^ m) as char;
            if f.is_ascii_lowercase() || f.is_ascii_digit() || f == '-' {
                let mut v = cs.clone();
                v[i] = f;
                out.insert(s(&v));
            }
        }
    }
    // cyrillic, only when every letter has a twin
    let twins: Option<String> = cs
        .iter()
        .map(|c| {
            if c.is_ascii_digit() || *c == '-' {
                Some(*c)
            } else {
                CYRILLIC.iter().find(|(l, _)| l == c).map(|(_, t)| *t)
            }
        })
        .collect();
    if let Some(t) = twins {
        out.insert(t);
    }
    // homoglyph: one or two substitutions
    let g = glyphs();
    let singles = one_substitution(label, &g);
    for one in &singles {
        out.insert(one.clone());
        // a second substitution on the ASCII part only (diacritic glyphs are not keys)
        if one.is_ascii() {
            out.extend(one_substitution(one, &g));
        } else {
            let plain_positions: Vec<usize> = one
                .char_indices()
                .filter(|(_, c)| c.is_ascii())
                .map(|(i, _)| i)
                .collect();
            for (key, reps) in &g {
                for &i in &plain_positions {
                    if one[i..].starts_with(key) {
                        for r in reps {
                            out.insert(format!("{}{r}{}", &one[..i], &one[i + key.len()..]));
                        }
                    }
                }
            }
        }
    }
    // hyphenation
    for i in 1..cs.len() {
        out.insert(format!("{}-{}", s(&cs[..i]), s(&cs[i..])));
    }
    // insertion and replacement, all three keyboards
    for kb in keyboards() {
        for (i, c) in cs.iter().enumerate() {
            for k in kb.get(c).copied().unwrap_or("").chars() {
                if (1..cs.len() - 1).contains(&i) {
                    out.insert(format!("{}{k}{}", s(&cs[..i]), s(&cs[i..])));
                    out.insert(format!("{}{k}{}", s(&cs[..=i]), s(&cs[i + 1..])));
                }
                let mut v = cs.clone();
                v[i] = k;
                out.insert(s(&v));
            }
        }
    }
    // omission, repetition
    for i in 0..cs.len() {
        let mut v = cs.clone();
        v.remove(i);
        out.insert(s(&v));
        let mut v = cs.clone();
        v.insert(i, cs[i]);
        out.insert(s(&v));
    }
    // plural
    for i in 2..cs.len().saturating_sub(2) {
        let ending = if "sxz".contains(cs[i]) { "es" } else { "s" };
        out.insert(format!("{}{ending}{}", s(&cs[..=i]), s(&cs[i + 1..])));
    }
    // subdomain
    for i in 1..cs.len() {
        if cs[i] != '-' && cs[i - 1] != '-' {
            out.insert(format!("{}.{}", s(&cs[..i]), s(&cs[i..])));
        }
    }
    // transposition
    for i in 0..cs.len() - 1 {
        if cs[i] != cs[i + 1] {
            let mut v = cs.clone();
            v.swap(i, i + 1);
            out.insert(s(&v));
        }
    }
    // vowel-swap
    for (i, c) in cs.iter().enumerate() {
        if "aeiou".contains(*c) {
            for v in "aeiou".chars() {
                let mut x = cs.clone();
                x[i] = v;
                out.insert(s(&x));
            }
        }
    }
    out.remove(label);
    out
}

/// A valid registrable name: LDH labels in punycode, and a Unicode round trip.
fn registrable(domain: &str) -> bool {
    let Ok(ascii) = idna::domain_to_ascii(domain) else {
        return false;
    };
    let ldh = ascii.split('.').all(|l| {
        let b = l.as_bytes();
        !b.is_empty()
            && b.len() <= 63
            && b.iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
            && b[0] != b'-'
            && b[b.len() - 1] != b'-'
            && (b.len() < 4 || &b[2..4] != b"--" || l.starts_with("xn--"))
    });
    let (back, r) = idna::domain_to_unicode(&ascii);
    ldh && r.is_ok() && back == domain
}

#[test]
fn output_contains_every_reference_variant_for_six_brands() {
    for domain in [
        "paypal.com",
        "google.com",
        "microsoft.com",
        "bankofamerica.com",
        "amazon.de",
        "barclays.co.uk",
    ] {
        let (label, suffix) = domain.split_once('.').unwrap();
        let ours: BTreeSet<String> = generate(domain, &GenerateOptions::default())
            .unwrap()
            .into_iter()
            .map(|v| v.unicode)
            .collect();
        let expected: Vec<String> = reference_variants(label)
            .into_iter()
            .map(|v| format!("{v}.{suffix}"))
            .filter(|d| registrable(d))
            .collect();
        let missing: Vec<&String> = expected.iter().filter(|e| !ours.contains(*e)).collect();
        assert!(
            missing.is_empty(),
            "{domain}: {} of {} reference variants missing, e.g. {:?}",
            missing.len(),
            expected.len(),
            &missing[..missing.len().min(10)]
        );
        assert!(
            ours.len() > expected.len(),
            "{domain}: more complete than the reference"
        );
    }
}

#[test]
fn confusables_cover_cyrillic_greek_and_diacritics_and_apple_has_its_famous_twin() {
    let apple: BTreeSet<String> = generate("apple.com", &GenerateOptions::default())
        .unwrap()
        .into_iter()
        .map(|v| v.unicode)
        .collect();
    assert!(apple.contains("аррӏе.com"));
    assert!(apple.contains("аpple.com"), "Cyrillic а");
    assert!(apple.contains("αpple.com"), "Greek α");
    assert!(apple.contains("applé.com"), "Latin diacritic");
    // every letter with a Cyrillic, Greek or Latin-diacritic lookalike gets it in some variant
    let alphabet: BTreeSet<String> = generate(
        "abcdefghijklmnopqrstuvwxyz.com",
        &GenerateOptions {
            fuzzers: vec![
                certsentry::generator::Fuzzer::Confusable,
                certsentry::generator::Fuzzer::Homoglyph,
            ],
            ..Default::default()
        },
    )
    .unwrap()
    .into_iter()
    .map(|v| v.unicode)
    .collect();
    for (latin, lookalike) in [
        ('a', 'а'),
        ('c', 'с'),
        ('e', 'е'),
        ('o', 'ο'),
        ('p', 'р'),
        ('x', 'х'),
        ('y', 'у'),
        ('i', 'і'),
        ('k', 'κ'),
        ('n', 'ñ'),
        ('u', 'ü'),
        ('z', 'ż'),
    ] {
        let want: String = "abcdefghijklmnopqrstuvwxyz"
            .chars()
            .map(|c| if c == latin { lookalike } else { c })
            .collect::<String>()
            + ".com";
        assert!(alphabet.contains(&want), "{latin} -> {lookalike}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn every_variant_of_a_random_label_is_valid(label in "[a-z0-9][a-z0-9-]{0,10}[a-z0-9]|[a-z]{2}", tld in prop_oneof![Just("com"), Just("co.uk"), Just("de")]) {
        let domain = format!("{label}.{tld}");
        if let Ok(variants) = generate(&domain, &GenerateOptions::default()) {
            for v in variants {
                prop_assert!(registrable(&v.unicode), "{} from {domain}", v.unicode);
                prop_assert!(certsentry::Fqdn::parse(&v.ascii).is_ok(), "{} is not registrable", v.ascii);
                prop_assert_eq!(idna::domain_to_ascii(&v.unicode).unwrap(), v.ascii.clone());
                prop_assert!(v.ascii != domain);
            }
        }
    }

    #[test]
    fn generator_never_panics_on_any_input(s in "\\PC{0,30}") {
        let _ = generate(&s, &GenerateOptions::default());
    }
}

// ---- the endpoint -----------------------------------------------------------------

/// An app whose list comes from an XSOAR stand-in (`GET /lists`), which also takes `POST /lists/save`.
async fn spawn_with_xsoar(xsoar: &Receiver) -> TestApp {
    let certstream = FakeCertstream::start().await;
    let receiver = Receiver::start().await;
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let mut settings = test_settings(dir.path(), &certstream.url, &receiver);
    settings.watchlist.path = std::path::PathBuf::new();
    settings.watchlist.xsoar.base_url = xsoar.base.clone();
    settings.watchlist.xsoar.api_key = Secret::new("xsoar-key");
    xsoar.serve_get("/lists", json!([{"id": "Other", "name": "Other", "data": "{}"}, {"id": "DomainsList", "name": "DomainsList", "type": "json", "data": TEST_LIST}]));
    spawn_app_with(settings, dir).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generate_endpoint_lists_explains_and_rejects_bad_input() {
    let (app, _c, _r) = spawn_app().await;
    let post = |body: Value, query: &str| {
        app.client
            .post(format!("{}/v1/lists/generate{query}", app.address))
            .json(&body)
            .send()
    };
    let r = post(
        json!({"domains": ["paypal.com", "barclays.co.uk"], "limit": 50}),
        "",
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let list: Value = r.json().await.unwrap();
    let paypal = list["paypal.com"].as_array().unwrap();
    assert!(paypal.iter().any(|v| v == "раураӏ.com"));
    assert!(
        paypal.iter().any(|v| v == "xn--80aa0cbo65f.com"),
        "punycode form too"
    );
    assert!(
        list["barclays.co.uk"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v.as_str().unwrap().ends_with(".co.uk"))
    );
    // and the list format is what the watchlist accepts
    certsentry::Watchlist::parse(&list.to_string(), 1 << 24).unwrap();

    let r = post(json!({"domains": ["paypal.com"], "format": "labels", "fuzzers": ["omission"], "include_punycode": false}), "?explain=true").await.unwrap();
    let explained: Value = r.json().await.unwrap();
    let first = &explained["paypal.com"][0];
    assert_eq!(first["variant"], "aypal");
    assert_eq!(first["fuzzer"], "omission");

    for (body, needle) in [
        (json!({"domains": []}), "empty"),
        (json!({"domains": ["10.0.0.1"]}), "10.0.0.1"),
        (json!({"domains": ["not a domain"]}), "not a domain"),
        (
            json!({"domains": ["paypal.com"], "fuzzers": ["typosquat"]}),
            "typosquat",
        ),
        (json!({"domains": ["paypal.com"], "limit": 0}), "limit"),
        (json!({"domains": ["paypal.com"], "format": "csv"}), "csv"),
        (json!({"domains": vec!["a.com"; 101]}), "at most 100"),
        (json!({"domains": ["paypal.com"], "save_as": "X"}), "XSOAR"),
    ] {
        let r = post(body.clone(), "").await.unwrap();
        assert_eq!(r.status(), 400, "{body}");
        let e: Value = r.json().await.unwrap();
        assert!(
            e["detail"].as_str().unwrap().contains(needle),
            "{body} -> {e}"
        );
    }
    let fuzzers = app.get_json("/v1/lists/generate/fuzzers").await;
    assert_eq!(
        fuzzers["fuzzers"].as_array().unwrap().len(),
        certsentry::generator::Fuzzer::ALL.len()
    );
    assert_eq!(fuzzers["fuzzers"][0]["name"], "cyrillic");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn save_as_stores_the_list_in_xsoar_and_refuses_an_oversize_one() {
    let xsoar = Receiver::start().await;
    let app = spawn_with_xsoar(&xsoar).await;
    // the watchlist came from the XSOAR list
    assert_eq!(app.get_json("/v1/status").await["list"]["brands"], 3);
    let r = app
        .client
        .post(format!("{}/v1/lists/generate", app.address))
        .json(&json!({"domains": ["paypal.com"], "format": "labels", "limit": 20, "save_as": "DomainsList"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["saved"]["name"], "DomainsList");
    let saved = xsoar.delivered("/lists/save");
    assert_eq!(saved.len(), 1);
    let req = &saved[0];
    assert_eq!(req.method, "POST");
    assert_eq!(req.headers["authorization"], "xsoar-key");
    assert_eq!(req.body["name"], "DomainsList");
    assert_eq!(req.body["type"], "JSON");
    assert_eq!(req.body["version"], -1);
    let data: Value = serde_json::from_str(req.body["data"].as_str().unwrap()).unwrap();
    assert_eq!(data, body["list"]);

    // bankofamerica.com with every fuzzer is far over XSOAR's 209,715 characters
    let r = app
        .client
        .post(format!("{}/v1/lists/generate", app.address))
        .json(&json!({"domains": ["bankofamerica.com", "microsoft.com"], "save_as": "Big"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let e: Value = r.json().await.unwrap();
    assert!(e["detail"].as_str().unwrap().contains("209715"), "{e}");
    assert_eq!(
        xsoar.delivered("/lists/save").len(),
        1,
        "nothing truncated or sent"
    );
    app.stop().await;
}

#[test]
fn a_generated_list_for_real_brands_loads_as_a_watchlist() {
    let brands: Vec<String> = include_str!("../../benches/support/brands.txt")
        .lines()
        .take(40)
        .map(str::to_owned)
        .collect();
    let opts = GenerateOptions {
        limit: Some(300),
        ..GenerateOptions::default()
    };
    let list = certsentry::generator::build_list(&brands, &opts, false, |_| {}).unwrap();
    let parsed = certsentry::Watchlist::parse(&list.to_string(), usize::MAX).unwrap();
    assert_eq!(parsed.brands.len(), 40);
    // the Unicode and punycode forms of a variant are one variant
    assert_eq!(parsed.variant_count(), 40 * 300);
}

/// dnstwist 20250130's own output (the evaluation's sample of it, in
/// `tests/eval/lookalikes.tsv`, for 227 brands): every variant of a fuzzer
/// that does not read a dictionary file is in `certsentry generate`'s list.
#[test]
fn output_contains_dnstwists_own_variants_for_227_brands() {
    const FUZZERS: &[&str] = &[
        "addition",
        "bitsquatting",
        "cyrillic",
        "homoglyph",
        "hyphenation",
        "insertion",
        "omission",
        "plural",
        "repetition",
        "replacement",
        "subdomain",
        "transposition",
        "vowel-swap",
        "various",
    ];
    let mut by_brand: HashMap<&str, Vec<&str>> = HashMap::new();
    for line in include_str!("../eval/lookalikes.tsv").lines() {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() >= 4 && f[2] == "dnstwist" && FUZZERS.contains(&f[3]) {
            by_brand.entry(f[1]).or_default().push(f[0]);
        }
    }
    assert!(by_brand.len() > 200, "{}", by_brand.len());
    let (mut total, mut missing) = (0, Vec::new());
    for (brand, names) in &by_brand {
        let ours: std::collections::HashSet<String> = generate(brand, &GenerateOptions::default())
            .unwrap()
            .into_iter()
            .map(|v| v.ascii)
            .collect();
        for name in names {
            // dnstwist does not know `cn.com` is a public suffix (a
            // platform's own name, which nobody registers)
            let suffix = psl::suffix(name.as_bytes()).map_or(0, |s| s.as_bytes().len());
            if certsentry::Fqdn::parse(name).is_err() || suffix == name.len() {
                continue;
            }
            total += 1;
            if !ours.contains(*name) {
                missing.push(format!("{name} ({brand})"));
            }
        }
    }
    assert!(total > 8_000, "{total}");
    assert!(
        missing.is_empty(),
        "{} of {total} dnstwist variants missing, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(20)]
    );
}

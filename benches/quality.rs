//! The detection-quality report (issue #15) on the independent evaluation of
//! `tests/eval/`: recall per class and per family, for a brands-only list
//! and for the list `certsentry generate` makes, and false positives on the
//! popular-domains corpus at 40 and 1,000 brands. Prints tables; measures
//! no time. `cargo bench --bench quality` (`-- brands-only` to skip the
//! generated lists, which take a while to build; `-- sweep` for the table
//! of recall and false positives at each `matcher.min_score`).

// A report: unwrap on set-up failure is the right answer.
#![allow(clippy::unwrap_used, unreachable_pub)]

#[path = "../tests/eval/harness.rs"]
#[allow(dead_code)]
mod harness;

use harness::*;
use std::time::Instant;

fn report(what: &str, list: &str, brands_for_fp: &[(&str, String)]) {
    let started = Instant::now();
    let m = compile(list, &config());
    println!(
        "\n== {what} ({} brands, {} variants, compiled in {:.1?})",
        m.brand_count(),
        m.variant_count(),
        started.elapsed()
    );
    let (by_class, by_family, misses) = recall(&m, &lookalikes());
    for c in CLASSES {
        let (hit, total, rate) = by_class.rate(c.classes);
        println!(
            "{:<40} {hit:>6} / {total:<6} {rate:6.2}%  (goal {}%, floor {}%)",
            c.name, c.goal, c.floor
        );
    }
    for (class, (hit, total)) in &by_class.0 {
        println!(
            "  class {class:<14} {hit:>6} / {total:<6} {:6.2}%",
            100.0 * *hit as f64 / *total as f64
        );
    }
    for (family, (hit, total)) in &by_family.0 {
        if hit < total {
            println!(
                "  {family:<52} {hit:>5} / {total:<5} {:6.2}%",
                100.0 * *hit as f64 / *total as f64
            );
        }
    }
    if std::env::var_os("QUALITY_MISSES").is_some() {
        for l in &misses {
            println!(
                "  missed {}\t{}\t{}/{}\t{}",
                l.class, l.brand, l.source, l.fuzzer, l.name
            );
        }
    }
    let benign_hits: Vec<String> = benign()
        .iter()
        .enumerate()
        .filter_map(|(i, (name, kind))| {
            alerts(&m, &certificate_names(name, i))
                .first()
                .map(|(b, s, k)| format!("{name} [{kind}]: {k} of {b} ({s})"))
        })
        .collect();
    println!(
        "hand-written benign names alerting: {} {benign_hits:?}",
        benign_hits.len()
    );
    for (label, fp_list) in brands_for_fp {
        let m = compile(fp_list, &config());
        let (fp, counted, flagged) = false_positives(&m, &popular());
        let goal = if label.starts_with("40") {
            FP_40.0
        } else {
            FP_1000.0
        };
        println!(
            "false positives, {label}: {fp} of {counted} popular domains ({:.3}%, goal {goal}%)",
            100.0 * fp as f64 / counted as f64
        );
        let shown = if std::env::var_os("QUALITY_MISSES").is_some() {
            usize::MAX
        } else {
            25
        };
        for f in flagged.iter().take(shown) {
            println!("    {f}");
        }
    }
}

/// How `matcher.min_score` trades recall for quiet, brands-only lists:
/// recall per threshold class with all brands, and false positives with 40
/// and with 1,000 brands, at each threshold.
fn sweep(brands: &[String], forty: &[String], thousand: &[String], popular: &[String]) {
    let looks = lookalikes();
    let (own, _) = score_profile(&compile(&brands_only_list(brands), &config()), &looks, &[]);
    let (_, fp40) = score_profile(&compile(&brands_only_list(forty), &config()), &[], popular);
    let (_, fp1000) = score_profile(
        &compile(&brands_only_list(thousand), &config()),
        &[],
        popular,
    );
    print!("\n== min_score sweep, brands-only lists\nmin_score");
    for c in CLASSES {
        print!(" | {}", c.name);
    }
    println!(" | FP, 40 brands | FP, 1,000 brands");
    for threshold in (40..=80).step_by(5) {
        print!("{threshold}");
        for c in CLASSES {
            let (hit, total) = looks
                .iter()
                .zip(&own)
                .filter(|(l, _)| c.classes.contains(&l.class.as_str()))
                .fold((0, 0), |(h, t), (_, s)| {
                    (h + usize::from(*s >= threshold), t + 1)
                });
            print!(" | {:.2}%", 100.0 * hit as f64 / total.max(1) as f64);
        }
        for fp in [&fp40, &fp1000] {
            let flagged = fp.iter().filter(|s| **s >= threshold).count();
            print!(" | {:.3}%", 100.0 * flagged as f64 / fp.len().max(1) as f64);
        }
        println!();
    }
}

/// Every lookalike's best verdict for its own brand and every counted
/// popular domain's best verdict at 1,000 brands, as TSV (`QUALITY_DUMP`):
/// what an analysis of a scoring change reads.
fn dump(path: &str, brands: &[String], thousand: &[String], popular: &[String]) {
    use std::fmt::Write as _;
    let mut out = String::new();
    let m = compile(&brands_only_list(brands), &config());
    for (i, l) in lookalikes().iter().enumerate() {
        let (verdicts, _) = m.match_names(&certificate_names(&l.name, i));
        let best = verdicts
            .iter()
            .filter(|v| v.brand == l.brand)
            .max_by_key(|v| v.score);
        let (score, kind, why) = best.map_or((0, "", ""), |v| {
            (
                v.score,
                v.detail.kind.as_str(),
                v.detail.explanation.as_str(),
            )
        });
        let _ = writeln!(
            out,
            "look\t{}\t{}\t{}/{}\t{}\t{score}\t{kind}\t{why}",
            l.class, l.brand, l.source, l.fuzzer, l.name
        );
    }
    let m = compile(&brands_only_list(thousand), &config());
    for (i, name) in popular.iter().enumerate() {
        let Ok(f) = certsentry::Fqdn::parse(name) else {
            continue;
        };
        if m.is_own(&f) {
            continue;
        }
        let (verdicts, _) = m.match_names(&certificate_names(name, i));
        if let Some(v) = verdicts.iter().max_by_key(|v| v.score) {
            let _ = writeln!(
                out,
                "fp\t-\t{}\t-\t{name}\t{}\t{}\t{}",
                v.brand,
                v.score,
                v.detail.kind.as_str(),
                v.detail.explanation
            );
        }
    }
    std::fs::write(path, out).unwrap();
}

fn main() {
    let brands_only = std::env::args().any(|a| a == "brands-only");
    let (brands, popular) = (brands(), popular());
    let forty = forty(&brands);
    let thousand = thousand(&popular, &forty);
    if let Some(path) = std::env::var_os("QUALITY_DUMP") {
        dump(&path.to_string_lossy(), &brands, &thousand, &popular);
        return;
    }
    if std::env::args().any(|a| a == "sweep") {
        sweep(&brands, &forty, &thousand, &popular);
        return;
    }
    report(
        "brands-only list",
        &brands_only_list(&brands),
        &[
            ("40 brands, brands only", brands_only_list(&forty)),
            ("1,000 brands, brands only", brands_only_list(&thousand)),
        ],
    );
    if brands_only {
        return;
    }
    let started = Instant::now();
    let generated = generated_list(&brands);
    println!(
        "\ngenerated the list for {} brands in {:.1?} ({} bytes)",
        brands.len(),
        started.elapsed(),
        generated.len()
    );
    let forty_generated = generated_list(&forty);
    let started = Instant::now();
    let thousand_generated = generated_list(&thousand);
    println!(
        "generated the list for {} brands in {:.1?} ({} bytes)",
        thousand.len(),
        started.elapsed(),
        thousand_generated.len()
    );
    report(
        "generated list",
        &generated,
        &[
            ("40 brands, generated", forty_generated),
            ("1,000 brands, generated", thousand_generated),
        ],
    );
}

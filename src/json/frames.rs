//! Test data for readers held to serde_json's answers.

/// Real `/full-stream` messages (the 40 fixture entries, in turn) with one
/// to three bytes deleted, inserted or replaced by JSON's structural
/// characters: for tests that hold a reader to serde_json's answers.
pub(crate) fn mutated_real_frames(count: usize) -> Vec<Vec<u8>> {
    let entries: Vec<serde_json::Value> =
        serde_json::from_str(include_str!("../../tests/fixtures/live_ct.json")).unwrap();
    let frames: Vec<Vec<u8>> = entries
        .iter()
        .map(|e| e["expected_full"].as_str().unwrap().as_bytes().to_vec())
        .collect();
    let alphabet = b"{}[],:\"\\-.0e1tnu \x01";
    let mut rng = fastrand::Rng::with_seed(7);
    (0..count)
        .map(|round| {
            let mut doc = frames[round % frames.len()].clone();
            for _ in 0..rng.usize(1..=3) {
                let at = rng.usize(..doc.len());
                match rng.u8(..3) {
                    0 => {
                        doc.remove(at);
                    }
                    1 => doc.insert(at, alphabet[rng.usize(..alphabet.len())]),
                    _ => doc[at] = alphabet[rng.usize(..alphabet.len())],
                }
            }
            doc
        })
        .collect()
}

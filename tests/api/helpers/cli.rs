//! The `certsentry` binary, run as a user would.

use serde_json::Value;
use std::process::{Command, Output};

/// The binary, run from the repository (so `lists/`, `demo/` resolve).
pub fn certsentry() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_certsentry"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c.env("RUST_LOG", "warn");
    c
}

/// Run `cmd`, which must succeed (its stderr is shown when it does not).
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// One JSON value per line of `stdout`.
pub fn json_lines(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

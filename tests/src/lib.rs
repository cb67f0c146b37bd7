//! # clearance-tests
//!
//! Tests that run the project's real binaries as separate processes, in temporary directories:
//! command-line tools, and clusters of `clearance-node` processes on 127.0.0.1 ([`cluster`]).
//!
//! The binaries must be built first (`scripts/test` does `cargo build --workspace --bins`); this crate
//! never builds or mocks them.

pub mod cluster;

use std::path::PathBuf;
use std::process::{Command, Output};

/// The path of a workspace binary in the same target directory as the running test or tool.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test knows its own path");
    // target/<profile>/deps/<test> or target/<profile>/<tool> -> target/<profile>/<name>
    let mut dir = exe.parent().expect("an executable lives in a directory");
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir = dir.parent().expect("deps lives in target/<profile>");
    }
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build the binaries first (cargo build --workspace --bins, as scripts/test does)",
        path.display()
    );
    path
}

/// Runs a workspace binary with `args` and returns its output.
pub fn run(name: &str, args: &[&str]) -> Output {
    Command::new(binary(name))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("starting {name}: {e}"))
}

/// Standard output as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Standard error as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

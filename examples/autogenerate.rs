//! `revision --autogenerate` from first table to contract, on SQLite (no
//! server): `cargo run --example autogenerate`.
//!
//! Runs [`ebbtide_examples::autogenerate::walkthrough`] in a temporary
//! directory and prints its transcript, with the command line's equivalent
//! of each step. `cargo run --example autogenerate -- DIR` keeps the
//! files in `DIR` (which must hold no `migrations` directory yet).

#![deny(warnings)]

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    match run() {
        Ok(transcript) => {
            print!("{transcript}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<String, ebbtide_examples::autogenerate::Error> {
    let temporary;
    let dir = match std::env::args_os().nth(1) {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            dir
        }
        None => {
            temporary = tempfile::tempdir().map_err(|e| format!("cannot create a temporary directory: {e}"))?;
            temporary.path().to_path_buf()
        }
    };
    ebbtide_examples::autogenerate::walkthrough(&dir)
}

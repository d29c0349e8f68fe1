//! Rebuild tracking, on a crate of its own built with cargo: editing an
//! embedded migration rebuilds the crate; adding one rebuilds it when the
//! crate has the one-line build.rs, and without that build.rs the macro
//! warns at build time.

use std::path::{Path, PathBuf};
use std::process::Command;

fn cargo(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/rebuild-probe");
    let out = Command::new(env!("CARGO"))
        .args(args)
        .arg("--offline")
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target)
        .env_remove("RUSTFLAGS")
        // `cargo test` exports OUT_DIR to tests; rustc would pass it on to the macro.
        .env_remove("OUT_DIR")
        .output()
        .expect("run cargo");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn write(dir: &Path, path: &str, text: &str) {
    let full = dir.join(path);
    std::fs::create_dir_all(full.parent().unwrap()).unwrap();
    std::fs::write(full, text).unwrap();
}

fn probe_crate() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let runtime = Path::new(env!("CARGO_MANIFEST_DIR")).join("../runtime").canonicalize().unwrap();
    write(
        &dir,
        "Cargo.toml",
        &format!(
            "[package]\nname = \"rebuild-probe\"\nversion = \"0.0.0\"\nedition = \"2024\"\n\n[dependencies]\nebbtide = {{ path = {:?}, default-features = false }}\n\n[workspace]\n",
            runtime.display().to_string()
        ),
    );
    // Same dependency versions as the workspace, so nothing is fetched.
    std::fs::copy(Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    write(
        &dir,
        "src/main.rs",
        "ebbtide::embed_migrations!(\"migrations\");\n\nfn main() {\n    for m in migrations::MIGRATIONS.iter() {\n        println!(\"{} {}\", m.id(), m.up.sql.trim());\n    }\n}\n",
    );
    write(&dir, "migrations/expand/0001_create_users.sql", "CREATE TABLE users (id INTEGER);\n");
    std::fs::create_dir_all(dir.join("migrations/contract")).unwrap();
    (tmp, dir)
}

#[test]
fn edits_and_new_files_rebuild_the_embedding_crate() {
    let (_tmp, dir) = probe_crate();

    let (ok, _, stderr) = cargo(&dir, &["build"]);
    assert!(ok, "{stderr}");
    assert!(stderr.contains("will not rebuild this crate"), "the macro warns without build.rs:\n{stderr}");
    assert!(stderr.contains("cargo:rerun-if-changed=migrations"), "{stderr}");

    // Editing an embedded file rebuilds, build.rs or not.
    write(&dir, "migrations/expand/0001_create_users.sql", "CREATE TABLE users (id BIGINT);\n");
    let (ok, stdout, stderr) = cargo(&dir, &["run", "-q"]);
    assert!(ok, "{stderr}");
    assert_eq!(stdout, "0001_create_users CREATE TABLE users (id BIGINT);\n");

    // With the build.rs README.md shows, the warning goes and new files rebuild.
    write(&dir, "build.rs", "fn main() {\n    println!(\"cargo:rerun-if-changed=migrations\");\n}\n");
    let (ok, _, stderr) = cargo(&dir, &["build"]);
    assert!(ok, "{stderr}");
    assert!(!stderr.contains("will not rebuild"), "{stderr}");
    write(&dir, "migrations/expand/0002_add_users_email.sql", "ALTER TABLE users ADD COLUMN email TEXT;\n");
    let (ok, stdout, stderr) = cargo(&dir, &["run", "-q"]);
    assert!(ok, "{stderr}");
    assert_eq!(
        stdout,
        "0001_create_users CREATE TABLE users (id BIGINT);\n0002_add_users_email ALTER TABLE users ADD COLUMN email TEXT;\n"
    );
    // The build script, watching the directory, is then what rebuilds on an
    // edit too (the macro leaves its per-file tracking out).
    write(&dir, "migrations/expand/0001_create_users.sql", "CREATE TABLE users (id INTEGER);\n");
    let (ok, stdout, stderr) = cargo(&dir, &["run", "-q"]);
    assert!(ok, "{stderr}");
    assert!(stdout.starts_with("0001_create_users CREATE TABLE users (id INTEGER);\n"), "{stdout}");

    // A broken migration added later fails the build with the macro's message.
    write(&dir, "migrations/expand/0003_rename_users_id.sql", "ALTER TABLE users RENAME COLUMN id TO uid;\n");
    let (ok, _, stderr) = cargo(&dir, &["build"]);
    assert!(!ok);
    assert!(
        stderr.contains(
            "migrations/expand/0003_rename_users_id.sql:1: expand migration: this statement renames column users.id to uid"
        ),
        "{stderr}"
    );
}

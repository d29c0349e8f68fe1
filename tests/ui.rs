//! Every diagnostic of `embed_migrations!`, as a compile error with the
//! exact message a user sees (`ui/fail/*.rs` beside `ui/fail/*.stderr`),
//! and the cases that must compile (`ui/pass/*.rs`).
//!
//! trybuild compiles the cases in a project of its own under
//! `target/tests/trybuild/`, whose `CARGO_MANIFEST_DIR` is that project, so
//! the fixtures are copied there first; the messages then name
//! `ui/fixtures/...` in every checkout.

use std::fs;
use std::path::{Path, PathBuf};

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The project trybuild compiles the cases in.
fn trybuild_project() -> PathBuf {
    // target/<profile>/deps/ui-<hash>
    let exe = std::env::current_exe().unwrap();
    let target = exe.ancestors().nth(3).unwrap().to_path_buf();
    target.join("tests").join("trybuild").join(env!("CARGO_PKG_NAME"))
}

#[test]
fn ui() {
    let fixtures = trybuild_project().join("ui").join("fixtures");
    let _ = fs::remove_dir_all(&fixtures);
    copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("ui").join("fixtures"), &fixtures);
    // Kept out of git, which would rightly complain about it: a Latin-1 file.
    fs::write(
        fixtures.join("non_utf8_file/expand/0002_add_users_name.sql"),
        b"-- Caf\xe9 names\nALTER TABLE users ADD COLUMN name TEXT;\n",
    )
    .unwrap();

    let t = trybuild::TestCases::new();
    t.pass("ui/pass/*.rs");
    t.compile_fail("ui/fail/*.rs");
}

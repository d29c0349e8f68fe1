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

/// README's "Use it" program, as written there, beside a copy of the
/// example application's migrations: it must build and run (on a new
/// database, which it migrates before it serves).
fn readme_use_it() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let readme = fs::read_to_string(root.join("README.md")).unwrap();
    let marker = "<!-- tests/ui.rs compiles and runs the next block as it is written here -->\n```rust,ignore\n";
    let start = readme.find(marker).expect("README marks its startup program") + marker.len();
    let program = &readme[start..start + readme[start..].find("```\n").expect("the block ends")];
    let project = trybuild_project();
    let migrations = project.join("migrations");
    let _ = fs::remove_dir_all(&migrations);
    copy_dir(&root.join("migrations"), &migrations);
    let _ = fs::remove_file(project.join("app.db"));
    let readme_dir = project.join("readme");
    fs::create_dir_all(&readme_dir).unwrap();
    let path = readme_dir.join("use_it.rs");
    fs::write(&path, program).unwrap();
    path
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
    t.pass(readme_use_it());
    t.compile_fail("ui/fail/*.rs");
}

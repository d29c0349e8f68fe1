//! Checksums on a real database: a comment or layout edit of an applied
//! migration is not a divergence, an edit of what it runs is, and says
//! what to do; a version table written before ebbtide checksummed
//! statements (each record holding the checksum of its whole file) is
//! accepted as it is, and rewritten once the rollout ends.
//!
//! The migrations are read from a directory at run time, with the rules
//! `embed_migrations!` applies, so that a test can edit them.

use std::fs;
use std::path::Path;

use ebbtide::{Migrations, Migrator, Scope, Verdict};
use ebbtide_core::checksum;
use rusqlite::Connection;

const CREATE_USERS: &str = "-- Users sign in by email.\nCREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT);\n";
const ADD_NICK: &str = "ALTER TABLE users ADD COLUMN nick TEXT;\n";

/// A migrations directory holding `create_users` (0001) and `add_nick` (0002).
fn directory(create_users: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("expand")).unwrap();
    fs::write(dir.path().join("expand/0001_create_users.sql"), create_users).unwrap();
    fs::write(dir.path().join("expand/0002_add_nick.sql"), ADD_NICK).unwrap();
    dir
}

fn load(dir: &Path) -> Migrations {
    Migrations::from_dir(dir, "migrations").unwrap_or_else(|d| panic!("{d}")).0
}

fn edit(dir: &Path, create_users: &str) -> Migrations {
    fs::write(dir.join("expand/0001_create_users.sql"), create_users).unwrap();
    load(dir)
}

/// The checksum and fingerprint recorded for a version.
fn recorded(conn: &Connection, version: u32) -> (String, String) {
    conn.query_row("SELECT checksum, fingerprint FROM ebbtide_migrations WHERE version = ?1", [version], |row| {
        Ok((row.get(0)?, row.get(1)?))
    })
    .unwrap()
}

/// Rewrites a record as ebbtide wrote it before it checksummed statements:
/// the checksum of the whole file, and the fingerprint of that checksum.
fn record_whole_text_checksum(conn: &Connection, version: u32, branch: &str, name: &str, text: &str) {
    let sum = checksum::of_text(text);
    let fingerprint = checksum::fingerprint(branch, name, &sum);
    let updated = conn
        .execute(
            "UPDATE ebbtide_migrations SET checksum = ?1, fingerprint = ?2 WHERE version = ?3",
            rusqlite::params![sum, fingerprint, version],
        )
        .unwrap();
    assert_eq!(updated, 1);
}

#[test]
fn a_comment_or_layout_edit_is_not_a_divergence() {
    let dir = directory(CREATE_USERS);
    let conn = Connection::open_in_memory().unwrap();
    let migrations = load(dir.path());
    Migrator::new(&migrations).sqlite(&conn).sync(Scope::All).unwrap();
    let before = recorded(&conn, 1);

    let migrations = edit(
        dir.path(),
        "-- Users sign in by email (see the login service).\n\
         CREATE TABLE users (\n    id INTEGER PRIMARY KEY,\n    email TEXT -- unique later\n);\r\n",
    );
    let db = Migrator::new(&migrations);
    let db = db.sqlite(&conn);
    assert_eq!(db.check().unwrap(), Verdict::Current);
    assert!(db.sync(Scope::All).unwrap().is_empty());
    assert_eq!(recorded(&conn, 1), before, "nothing is rewritten");
}

#[test]
fn an_edit_of_what_runs_is_divergent_says_what_to_do_and_repair_records_it() {
    let dir = directory(CREATE_USERS);
    let conn = Connection::open_in_memory().unwrap();
    let migrations = load(dir.path());
    Migrator::new(&migrations).sqlite(&conn).sync(Scope::All).unwrap();

    // The column's type changes: what runs on a new database differs.
    let edited = "-- Users sign in by email.\nCREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL);\n";
    let migrations = edit(dir.path(), edited);
    let migrator = Migrator::new(&migrations);
    let db = migrator.sqlite(&conn);
    let verdict = db.check().unwrap();
    assert!(matches!(verdict, Verdict::Incompatible { ref divergent, .. } if divergent.len() == 1), "{verdict:?}");
    let message = verdict.to_string();
    assert!(message.contains("0001_create_users had its statements edited after it was applied"), "{message}");
    assert!(message.contains("revert the edit") && message.contains("`ebbtide repair`"), "{message}");
    let refused = db.sync(Scope::All).unwrap_err().to_string();
    assert!(refused.contains("`ebbtide repair`"), "{refused}");

    // A deliberate edit: the database is brought in line by hand, then recorded.
    let report = db.repair().unwrap();
    assert_eq!(report.to_string().lines().count(), 1, "{report}");
    assert!(report.to_string().starts_with("re-recorded expand 0001_create_users"), "{report}");
    assert_eq!(recorded(&conn, 1).0, migrations.get(1).unwrap().checksum);
    assert_eq!(db.check().unwrap(), Verdict::Current);
    assert!(db.repair().unwrap().is_empty(), "a second repair has nothing to do");
}

#[test]
fn a_whole_text_checksum_of_an_earlier_ebbtide_is_accepted_then_rewritten_after_the_rollout() {
    let dir = directory(CREATE_USERS);
    let conn = Connection::open_in_memory().unwrap();
    let migrations = load(dir.path());
    let migrator = Migrator::new(&migrations);
    let db = migrator.sqlite(&conn);
    db.sync(Scope::All).unwrap();
    record_whole_text_checksum(&conn, 1, "expand", "create_users", CREATE_USERS);
    record_whole_text_checksum(&conn, 2, "expand", "add_nick", ADD_NICK);
    let old = recorded(&conn, 1);
    assert_ne!(old.0, migrations.get(1).unwrap().checksum);

    // The startup check accepts it; so do the status and a sync of expand,
    // which leave it for a previous release that may still serve.
    assert_eq!(db.check().unwrap(), Verdict::Current);
    assert!(db.status().unwrap().iter().all(|row| row.state.as_str() == "applied"));
    assert!(db.sync(Scope::Expand).unwrap().is_empty());
    assert_eq!(recorded(&conn, 1), old);

    // A sync of every branch rewrites both records with the statement checksum.
    let report = db.sync(Scope::All).unwrap();
    assert_eq!(
        report.steps.iter().map(|s| (s.verb, s.version.get())).collect::<Vec<_>>(),
        [("rerecord", 1), ("rerecord", 2)]
    );
    for version in [1, 2] {
        let m = migrations.get(version).unwrap();
        assert_eq!(recorded(&conn, version), (m.checksum.to_string(), m.fingerprint.to_string()));
    }
    assert_eq!(db.check().unwrap(), Verdict::Current);
    assert!(db.sync(Scope::All).unwrap().is_empty());

    // From now on, a comment edit is no divergence.
    let migrations = edit(dir.path(), &CREATE_USERS.replace("by email", "by e-mail"));
    assert_eq!(Migrator::new(&migrations).sqlite(&conn).check().unwrap(), Verdict::Current);
}

#[test]
fn an_all_or_nothing_sync_rewrites_whole_text_checksums_in_its_transaction() {
    let dir = directory(CREATE_USERS);
    let conn = Connection::open_in_memory().unwrap();
    let migrations = load(dir.path());
    Migrator::new(&migrations).sqlite(&conn).sync(Scope::All).unwrap();
    record_whole_text_checksum(&conn, 2, "expand", "add_nick", ADD_NICK);
    let migrator = Migrator::new(&migrations).all_or_nothing(true);
    let report = migrator.sqlite(&conn).sync(Scope::All).unwrap();
    assert_eq!(
        report.to_string(),
        format!("re-recorded expand 0002_add_nick ({} ms)", report.steps[0].duration.as_millis())
    );
    assert_eq!(recorded(&conn, 2).0, migrations.get(2).unwrap().checksum);
    assert!(conn.is_autocommit(), "the run's transaction is closed");
}

#[test]
fn a_whole_text_checksum_does_not_survive_a_comment_edit_until_repair() {
    // The text checksum knows the file, not its statements: with it
    // recorded, an edited comment still counts as an edit, which `repair`
    // (after a look at the edit) records.
    let dir = directory(CREATE_USERS);
    let conn = Connection::open_in_memory().unwrap();
    let migrations = load(dir.path());
    Migrator::new(&migrations).sqlite(&conn).sync(Scope::All).unwrap();
    record_whole_text_checksum(&conn, 1, "expand", "create_users", CREATE_USERS);
    let migrations = edit(dir.path(), &CREATE_USERS.replace("by email", "by e-mail"));
    let migrator = Migrator::new(&migrations);
    let db = migrator.sqlite(&conn);
    assert!(matches!(db.check().unwrap(), Verdict::Incompatible { .. }));
    db.repair().unwrap();
    assert_eq!(db.check().unwrap(), Verdict::Current);
}

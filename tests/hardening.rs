#![deny(warnings)]

//! What a careful team probes before trusting ebbtide in production: no
//! statement escapes the rules, no migration runs twice, no wait without a
//! word. Each test names the point it proves.

mod support;

use ebbtide::{Error, Migrations, Migrator, Refusal, Request, Scope, Verdict, Version};
use support::{Db, Dir};

/// The build-time errors of a migrations directory, one string each.
fn errors(dir: &Dir) -> Vec<String> {
    match Migrations::from_dir(dir.path(), "migrations") {
        Ok(_) => Vec::new(),
        Err(diagnostics) => diagnostics.errors().map(ToString::to_string).collect(),
    }
}

fn users() -> (&'static str, &'static str) {
    ("initial/0001_create_users.sql", "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);\n")
}

/// Point 1: a data-modifying statement hidden in a CTE or behind EXPLAIN
/// ANALYZE is classified with its real target, in expand an error.
#[test]
fn data_modifications_hidden_in_other_statements_are_seen() {
    for (i, sql) in [
        "WITH moved AS (DELETE FROM users RETURNING id, name) INSERT INTO accounts SELECT * FROM moved;",
        "WITH u AS (UPDATE users SET name = 'x' RETURNING 1) SELECT 1;",
        "EXPLAIN ANALYZE DELETE FROM users;",
    ]
    .into_iter()
    .enumerate()
    {
        let dir = Dir::new(&[users(), ("expand/0002_purge.sql", sql)]);
        let errors = errors(&dir);
        assert_eq!(errors.len(), 1, "{i}: {errors:#?}");
        assert!(errors[0].contains("users") && errors[0].contains("[rule: data-modification]"), "{}", errors[0]);
    }
}

/// The trigger a migration of each engine writes, with columns named like
/// the keywords that open and close a trigger's body, followed by a drop.
fn keyword_columns(db: &Db) -> String {
    let trigger = db.fixture().keyword_trigger_sql();
    format!("CREATE TABLE events (id INTEGER, begin INTEGER, atomic INTEGER);\n{trigger}DROP TABLE users;\n")
}

/// Point 2: a column named `begin` never hides the statement after a
/// trigger from the rules, and the engine runs the statements ebbtide sees.
async fn a_keyword_named_column_never_hides_a_statement(db: Db) {
    let script = keyword_columns(&db);
    let expand = Dir::new(&[users(), ("expand/0002_events.sql", &script)]);
    let errors = errors(&expand);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(errors[0].contains("drops table users") && errors[0].contains("[rule: destructive]"), "{}", errors[0]);
    // In initial/, where anything goes, it runs as the engine reads it.
    let initial = Dir::new(&[users(), ("initial/0002_events.sql", &script)]);
    let m = initial.migrations();
    db.run(&Migrator::new(&m), Request::Sync(Scope::All)).await.unwrap();
    assert_eq!(db.tables().await, ["events"]);
}

/// Point 3: what looks like a directive and is not one is an error, with
/// the right spelling.
#[test]
fn misspelled_directives_are_errors() {
    for text in ["-- ebbtide : no-transaction", "-- ebbtide no-transaction", "/* ebbtide: no-transaction */"] {
        let dir = Dir::new(&[
            users(),
            ("expand/0002_index.sql", &format!("{text}\nCREATE INDEX users_name ON users (name);\n")),
        ]);
        let errors = errors(&dir);
        assert_eq!(errors.len(), 1, "{text}: {errors:#?}");
        assert!(errors[0].contains("looks like an ebbtide directive but is not one"), "{}", errors[0]);
        assert!(errors[0].contains("`-- ebbtide: no-transaction`"), "{}", errors[0]);
    }
}

/// Point 4: statements the engine refuses in a transaction are caught at
/// build time, and run once the migration says `no-transaction`; a
/// byte-order mark is dropped; `COPY ... FROM stdin` is refused.
async fn statements_that_cannot_run_in_a_transaction_are_caught_at_build_time(db: Db) {
    let outside = &format!("{}\n", db.refused_in_transaction_sql().unwrap_or("CREATE TABLE outside (id INTEGER);"));
    let dir = Dir::new(&[users(), ("expand/0002_outside.sql", outside)]);
    if db.refused_in_transaction_sql().is_some() {
        let errors = errors(&dir);
        assert_eq!(errors.len(), 1, "{errors:#?}");
        assert!(
            errors[0].contains("cannot run inside a transaction") && errors[0].contains("no-transaction"),
            "{}",
            errors[0]
        );
    }
    dir.write("expand/0002_outside.sql", &format!("-- ebbtide: no-transaction\n{outside}"));
    // Saved by an editor that writes a byte-order mark.
    dir.write("expand/0003_add_users_email.sql", "\u{feff}ALTER TABLE users ADD COLUMN email TEXT;\n");
    let m = dir.migrations();
    let report = db.run(&Migrator::new(&m), Request::Sync(Scope::All)).await.unwrap();
    assert_eq!(report.steps.len(), 3, "{report}");
    assert_eq!(db.columns("users").await, ["email", "id", "name"]);

    let copy =
        Dir::new(&[users(), ("initial/0002_data.sql", "COPY public.users (id, name) FROM stdin;\n1\tada\n\\.\n")]);
    let errors = self::errors(&copy);
    assert!(errors.iter().any(|e| e.contains("COPY ... FROM stdin reads the rows that follow it")), "{errors:#?}");
}

/// Point 4, PostgreSQL: an enum value added in a migration cannot be used
/// in the same transaction; in the next migration it can.
async fn a_new_enum_value_is_used_in_a_later_migration(db: Db) {
    let dir = Dir::new(&[
        ("initial/0001_create_mood.sql", "CREATE TYPE mood AS ENUM ('happy');\nCREATE TABLE people (feeling mood);\n"),
        ("expand/0002_add_meh.sql", "ALTER TYPE mood ADD VALUE 'meh';\nINSERT INTO people VALUES ('meh');\n"),
    ]);
    let errors = errors(&dir);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(
        errors[0].contains("uses 'meh', which ALTER TYPE ... ADD VALUE added earlier in this migration"),
        "{}",
        errors[0]
    );
    dir.write("expand/0002_add_meh.sql", "ALTER TYPE mood ADD VALUE 'meh';\n");
    dir.write("expand/0003_insert_meh.sql", "INSERT INTO people VALUES ('meh');\n");
    let m = dir.migrations();
    db.run(&Migrator::new(&m), Request::Sync(Scope::All)).await.unwrap();
    assert_eq!(db.strings("SELECT feeling::text FROM people").await, ["meh"]);
}

/// Point 8: a database with tables but no version table (a wrong
/// `--table`, a dropped version table) is not migrated a second time.
async fn a_schema_without_its_version_table_is_not_migrated_again(db: Db) {
    let dir = Dir::new(&[users(), ("expand/0002_seed_admin.sql", "INSERT INTO users VALUES (1, 'admin');\n")]);
    let m = dir.migrations();
    let migrator = Migrator::new(&m);
    db.run(&migrator, Request::Sync(Scope::All)).await.unwrap();
    let wrong = Migrator::new(&m).table("versions").unwrap();
    let err = db.run(&wrong, Request::Sync(Scope::All)).await.unwrap_err();
    assert!(matches!(&err, Error::Refused(Refusal::ExistingSchema { .. })), "{err}");
    assert!(err.to_string().contains("versions, but already holds"), "{err}");
    assert!(err.to_string().contains("users"), "{err}");
    db.exec("DROP TABLE ebbtide_migrations").await.unwrap();
    let err = db.run(&migrator, Request::Upgrade(Version::new(2))).await.unwrap_err();
    assert!(matches!(&err, Error::Refused(Refusal::ExistingSchema { .. })), "{err}");
    assert!(db.script(&migrator, Request::Sync(Scope::All)).await.is_err(), "--sql refuses too");
    assert_eq!(db.strings("SELECT count(*) FROM users").await, ["1"], "the seed did not run twice");
    // The startup check only warns (a database managed by other means, not
    // an empty one: no sync is due, and the service serves); version-control
    // and goto record it.
    let verdict = db.check(&migrator).await.unwrap();
    assert_eq!(verdict, Verdict::Unmanaged);
    assert!(verdict.may_serve() && verdict.sync_to_serve().is_none());
    assert_eq!(verdict.exit_code(), 0, "{verdict}");
    db.run(&migrator, Request::VersionControl).await.unwrap();
    db.run(&migrator, Request::Goto(Version::new(2))).await.unwrap();
    assert_eq!(db.check(&migrator).await.unwrap(), Verdict::Current);
    // Told otherwise, it applies (here on a fresh version table name, where
    // creating users again fails, as it must).
    let anyway = Migrator::new(&m).table("other_versions").unwrap().allow_existing_schema(true);
    let err = db.run(&anyway, Request::Sync(Scope::All)).await.unwrap_err();
    assert!(matches!(err, Error::MigrationFailed(_)), "{err}");
}

/// Point 11: a record deleted by hand below an applied contract migration,
/// and a record whose name was edited by hand, get one verdict from the
/// startup check and the planner, and a message that says what happened.
async fn hand_edited_version_tables_get_one_verdict(db: Db) {
    let dir = Dir::new(&[
        users(),
        ("expand/0002_add_users_email.sql", "ALTER TABLE users ADD COLUMN email TEXT;\n"),
        ("contract/0003_seed_nothing.sql", "DELETE FROM users WHERE id < 0;\n"),
        ("expand/0004_add_users_phone.sql", "ALTER TABLE users ADD COLUMN phone TEXT;\n"),
    ]);
    let m = dir.migrations();
    let migrator = Migrator::new(&m);
    db.run(&migrator, Request::Upgrade(Version::new(3))).await.unwrap();
    db.exec("DELETE FROM ebbtide_migrations WHERE version = 2").await.unwrap();
    assert!(!db.check(&migrator).await.unwrap().may_serve());
    let err = db.run(&migrator, Request::Sync(Scope::All)).await.unwrap_err();
    assert!(matches!(&err, Error::Refused(Refusal::MissingBelowContract { .. })), "{err}");
    assert!(err.to_string().contains("expand migration 0002_add_users_email is not recorded, but contract migration 0003_seed_nothing above it is"), "{err}");
    assert_eq!(db.versions(&migrator).await, [1, 3], "nothing ran");
    db.run(&migrator, Request::Goto(Version::new(3))).await.unwrap();

    // A name edited by hand: the fingerprint still says which migration it
    // is, for the check and for sync alike; status says it was edited.
    db.exec("UPDATE ebbtide_migrations SET name = 'renamed_by_hand' WHERE version = 2").await.unwrap();
    assert!(
        matches!(db.check(&migrator).await.unwrap(), Verdict::Outdated { missing } if missing == ["0004_add_users_phone"])
    );
    db.run(&migrator, Request::Sync(Scope::All)).await.unwrap();
    assert_eq!(db.check(&migrator).await.unwrap(), Verdict::Current);
    let records = db.records(&migrator).await.unwrap();
    let rows = ebbtide::status::rows(&m, Some(&records));
    assert_eq!(rows[1].state, ebbtide::status::State::Edited);
    assert_eq!(rows[1].state.to_string(), "applied, record edited by hand");
}

on_every_engine!(
    hand_edited_version_tables_get_one_verdict,
    a_keyword_named_column_never_hides_a_statement,
    statements_that_cannot_run_in_a_transaction_are_caught_at_build_time,
    a_schema_without_its_version_table_is_not_migrated_again,
);

/// Point 7, SQLite: waiting for SQLite's write lock, which another
/// connection holds, is told to the observer, bounded by the busy timeout,
/// and the application's connection gets its own busy timeout back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_for_sqlites_write_lock_is_told_and_bounded() {
    let db = Db::of("sqlite").await.unwrap();
    db.exec("PRAGMA busy_timeout = 1234").await.unwrap();
    let dir = Dir::new(&[users()]);
    let m = dir.migrations();
    let told = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let heard = told.clone();
    let migrator = Migrator::new(&m).busy_timeout(std::time::Duration::from_millis(2500)).observe(move |event| {
        if let ebbtide::Event::Waiting { lock, holder, .. } = event {
            heard.lock().unwrap().push(format!("{lock} held by {holder}"));
        }
    });
    let writer = db.reconnect().await;
    writer.exec("BEGIN IMMEDIATE").await.unwrap();
    let started = std::time::Instant::now();
    let err = db.run(&migrator, Request::Sync(Scope::All)).await.unwrap_err();
    assert!(started.elapsed() >= std::time::Duration::from_millis(2500), "{:?}", started.elapsed());
    assert!(err.to_string().contains("another connection kept SQLite's write lock"), "{err}");
    let told = told.lock().unwrap().clone();
    assert!(!told.is_empty() && told[0].starts_with("SQLite's write lock on "), "{told:?}");
    assert!(told[0].ends_with("held by another connection, writing to the database"), "{told:?}");
    assert_eq!(db.strings("PRAGMA busy_timeout").await, ["1234"]);
    writer.exec("COMMIT").await.unwrap();
    db.run(&migrator, Request::Sync(Scope::All)).await.unwrap();
    assert_eq!(db.tables().await, ["users"]);
}

on_engine!(postgres, a_new_enum_value_is_used_in_a_later_migration);

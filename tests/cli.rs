//! End-to-end tests of the `ebbtide` binary, against SQLite files and the
//! PostgreSQL server: every subcommand, every `check` exit code, `--sql`
//! output replayed by `sqlite3`/`psql`, `revision` numbering, and the
//! errors a user meets first.
//!
//! Compiled as an integration test of the `ebbtide` package (see its
//! Cargo.toml), so cargo builds the binary it runs.

mod support;

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use support::{Db, Dir};

const WORKSPACE_MIGRATIONS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations");

fn ebbtide(dir: &Path, url: &str, args: &[&str]) -> Output {
    support::ebbtide_cli(env!("CARGO_BIN_EXE_ebbtide"), dir, url).args(args).output().expect("run ebbtide")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exited normally, not by a signal")
}

/// Asserts the exit code and returns stdout.
fn expect(o: Output, expected: i32) -> String {
    assert_eq!(code(&o), expected, "stdout:\n{}\nstderr:\n{}", stdout(&o), stderr(&o));
    stdout(&o)
}

/// Asserts a successful run and returns its stdout.
fn ok(o: Output) -> String {
    expect(o, 0)
}

/// The two releases of a small service: release 2 adds an expand and a
/// contract migration.
fn releases() -> (Dir, Dir) {
    let r1 = [
        ("expand/0001_create_users.sql", "CREATE TABLE users (id INTEGER PRIMARY KEY, nick TEXT);\n"),
        ("expand/0002_add_users_email.sql", "ALTER TABLE users ADD COLUMN email TEXT;\n"),
        ("expand/0002_add_users_email.down.sql", "ALTER TABLE users DROP COLUMN email;\n"),
    ];
    let mut r2 = r1.to_vec();
    r2.push(("expand/0003_create_roles.sql", "CREATE TABLE roles (id INTEGER PRIMARY KEY, name TEXT);\n"));
    r2.push(("expand/0003_create_roles.down.sql", "DROP TABLE roles;\n"));
    r2.push(("contract/0004_drop_users_nick.sql", "ALTER TABLE users DROP COLUMN nick;\n"));
    r2.push(("contract/0004_drop_users_nick.down.sql", "ALTER TABLE users ADD COLUMN nick TEXT;\n"));
    (Dir::new(&r1), Dir::new(&r2))
}

async fn every_check_exit_code_and_a_rolling_upgrade(db: Db) {
    let url = db.url();
    let (r1, r2) = releases();
    let check = |dir: &Dir| code(&ebbtide(dir.path(), &url, &["check"]));

    assert_eq!(check(&r1), 2, "empty: not under version control");
    let json = expect(ebbtide(r1.path(), &url, &["check", "--json"]), 2);
    assert!(json.contains(r#""verdict":"empty""#) && json.contains(r#""may_serve":false"#), "{json}");

    // Told in the order it happened: the table, then the step.
    let out = ok(ebbtide(r1.path(), &url, &["upgrade", "1"]));
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("created the version table"), "{out}");
    assert!(lines[1].starts_with("applied expand 0001"), "{out}");
    assert_eq!(check(&r1), 2, "expand pending");
    ok(ebbtide(r1.path(), &url, &["sync"]));
    assert_eq!(check(&r1), 0, "current");

    // Release 2 rolls out: expand, deploy, contract.
    let out = ok(ebbtide(r2.path(), &url, &["sync", "--expand"]));
    assert!(out.contains("applied expand 0003_create_roles"), "{out}");
    assert_eq!(check(&r1), 0, "the old release still serves during the rollout");
    assert_eq!(check(&r2), 4, "contract pending");
    let json = stdout(&ebbtide(r2.path(), &url, &["check", "--json"]));
    assert!(json.contains(r#""pending":["0004_drop_users_nick"]"#), "{json}");
    ok(ebbtide(r2.path(), &url, &["sync", "--contract"]));
    assert_eq!(check(&r2), 0);
    let old = ebbtide(r1.path(), &url, &["check"]);
    assert_eq!(code(&old), 3, "incompatible: contracted by a newer release");
    assert!(stderr(&old).contains("contracted by a newer release"), "{}", stderr(&old));

    // Status and version, as text and JSON.
    let status = ok(ebbtide(r1.path(), &url, &["status"]));
    assert!(status.lines().next().unwrap().starts_with("VERSION  BRANCH"), "{status}");
    assert!(status.contains("0004     contract  ?          drop_users_nick  unknown"), "{status}");
    let json = ok(ebbtide(r2.path(), &url, &["history", "--json"]));
    assert_eq!(json.matches(r#""state":"applied""#).count(), 4, "{json}");
    let version = ok(ebbtide(r2.path(), &url, &["version", "--json"]));
    assert!(version.contains(r#""version":4"#) && version.contains(r#""contract":4"#), "{version}");

    // Rolling back: downgrade asks for confirmation, says what loses data.
    let refused = ebbtide(r2.path(), &url, &["downgrade", "2"]);
    assert_eq!(code(&refused), 1);
    assert!(stderr(&refused).contains("pass --yes"), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("0003_create_roles: LOSES DATA, drops table roles"), "{}", stderr(&refused));
    assert_eq!(db.tables().await, ["roles", "users"], "nothing reverted without --yes");
    ok(ebbtide(r2.path(), &url, &["downgrade", "2", "--yes"]));
    assert_eq!(db.tables().await, ["users"]);
    assert_eq!(db.columns("users").await, ["email", "id", "nick"]);
    assert_eq!(check(&r1), 0, "release 1 serves again after the rollback");
}

async fn goto_version_control_and_version(db: Db) {
    let url = db.url();
    let dir = Path::new(WORKSPACE_MIGRATIONS);
    // A database that already has the schema of migrations 1 to 3.
    db.exec(
        "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, legacy_login TEXT, email TEXT);
         CREATE TABLE sessions (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, token TEXT NOT NULL, created_at TEXT NOT NULL);",
    )
    .await
    .unwrap();
    ok(ebbtide(dir, &url, &["version-control"]));
    let again = ebbtide(dir, &url, &["version-control"]);
    assert_eq!(code(&again), 1);
    assert!(stderr(&again).starts_with("error: the database is already under version control"), "{}", stderr(&again));
    let out = ok(ebbtide(dir, &url, &["goto", "3"]));
    assert!(out.contains("stamped expand 0003_add_users_email"), "{out}");
    assert!(!db.schema().await.iter().any(|s| s.contains("users_email")), "goto runs nothing");
    assert!(ok(ebbtide(dir, &url, &["version"])).starts_with("version 0003"));
    let out = ok(ebbtide(dir, &url, &["sync", "--expand"]));
    assert!(out.contains("applied expand 0005_index_users_email"), "{out}");
    assert!(db.schema().await.contains(&"index users_email".to_string()));
}

async fn sql_output_builds_the_same_schema_as_sync(db: Db) {
    let url = db.url();
    let dir = Path::new(WORKSPACE_MIGRATIONS);
    let script = ok(ebbtide(dir, &url, &["sync", "--sql"]));
    assert!(db.tables().await.is_empty(), "--sql changes nothing");
    // The version table is addressed in its schema, whatever a migration sets.
    let table = db.version_table_in_script();
    assert!(script.contains(&format!("INSERT INTO {table}")), "{script}");

    // Replay the script with the engine's own client, into a second database.
    let other = db.sibling().await;
    // Where a database is a schema (MySQL), the script names its own.
    let script = match (&db.server, &other.server) {
        (Some(from), Some(to)) => script.replace(&from.name, &to.name),
        _ => script,
    };
    let mut child = other.client().spawn().expect("psql, sqlite3 and mariadb are installed");
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), script.as_bytes()).unwrap();
    let replayed = child.wait_with_output().unwrap();
    assert!(replayed.status.success(), "{}", stderr(&replayed));

    ok(ebbtide(dir, &url, &["sync"]));
    assert_eq!(other.schema().await, db.schema().await);
    assert_eq!(code(&ebbtide(dir, &other.url(), &["check"])), 0, "the replayed database is current");
    let upgrade = ok(ebbtide(dir, &url, &["upgrade", "5", "--sql"]));
    assert!(upgrade.contains("0 step(s)"), "{upgrade}");
    let downgrade = ok(ebbtide(dir, &url, &["downgrade", "1", "--sql"]));
    assert!(downgrade.contains(&format!("DELETE FROM {table} WHERE version = 5")), "{downgrade}");
    assert!(!downgrade.contains("RESET ALL"), "a script that sets nothing has nothing to reset: {downgrade}");
}

async fn errors_are_one_line_without_panics(db: Db) {
    let url = db.url();
    let dir = WORKSPACE_MIGRATIONS;
    let cases: [(&[&str], &str); 6] = [
        (
            &["--dir", dir, "--database", "oracle://root:hunter2@localhost/app", "sync"],
            "error: unsupported database URL",
        ),
        (
            &["--dir", dir, "--database", "postgres://nobody:hunter2@127.0.0.1:1/none", "check"],
            "error: cannot connect to postgres://nobody:***@127.0.0.1:1/none",
        ),
        (
            &["--dir", dir, "--database", &url, "sync", "--table", "x; DROP TABLE users"],
            "error: invalid version table name",
        ),
        (
            &["--dir", "/nonexistent/migrations", "--database", &url, "sync"],
            "error: /nonexistent/migrations: the migrations directory does not exist",
        ),
        (&["--dir", dir, "--database", &url, "upgrade", "99"], "error: version 0099 is unknown to this release"),
        (&["--dir", dir, "sync"], "error: no database given"),
    ];
    for (args, expected) in cases {
        let out = Command::new(env!("CARGO_BIN_EXE_ebbtide")).args(args).env_remove("DATABASE_URL").output().unwrap();
        let err = stderr(&out);
        assert_eq!(code(&out), 1, "{args:?}: {err}");
        assert!(err.starts_with(expected), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1 + err.matches("\n  help:").count(), "one line (and its help): {err}");
        assert!(!err.contains("panicked") && !err.contains("RUST_BACKTRACE"), "{err}");
        assert!(!err.contains("hunter2"), "passwords stay out of messages: {err}");
    }
    assert!(db.tables().await.is_empty(), "no failed command touched the database");
}

/// A down script stored in the version table keeps its directives and its
/// warning: an older release that does not embed the migration reverts it
/// outside a transaction when it says so, and the listing says it loses data.
async fn stored_down_scripts_keep_their_directives_and_their_warning(db: Db) {
    let url = db.url();
    let (index, unindex) = db.index_without_transaction();
    let up = format!("-- ebbtide: no-transaction\n{index}\n");
    let down = format!("-- ebbtide: no-transaction\n{unindex}\n");
    let (up, down) = (up.as_str(), down.as_str());
    let users = ("expand/0001_create_users.sql", "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);\n");
    let newer =
        Dir::new(&[users, ("expand/0002_index_users_name.sql", up), ("expand/0002_index_users_name.down.sql", down)]);
    ok(ebbtide(newer.path(), &url, &["sync"]));
    let older = Dir::new(&[users]);
    let out = ebbtide(older.path(), &url, &["downgrade", "1", "--yes"]);
    assert!(
        stderr(&out).contains(
            "expand 0002_index_users_name (down script stored in the version table): LOSES DATA, drops index users_name"
        ),
        "{}",
        stderr(&out)
    );
    let out = ok(out);
    assert!(out.contains("reverted expand 0002_index_users_name"), "{out}");
    assert!(!db.schema().await.contains(&"index users_name".to_string()));
    // The all-or-nothing transaction cannot hold it: refused, nothing reverted.
    ok(ebbtide(newer.path(), &url, &["sync"]));
    let refused = ebbtide(older.path(), &url, &["downgrade", "1", "--yes", "--all-or-nothing"]);
    assert_eq!(code(&refused), 1);
    let why = match db.capabilities().transactional_ddl {
        true => "0002_index_users_name is marked `no-transaction`",
        false => "commits each one on its own",
    };
    assert!(stderr(&refused).contains(why), "{}", stderr(&refused));
    assert!(db.schema().await.contains(&"index users_name".to_string()));
}

/// A migration that stopped half-way blocks `check` and `sync` until the
/// operator says how it ended; where the engine records its progress,
/// `status` says where it stopped, in text and JSON.
async fn a_migration_that_stopped_half_way_is_resolved(db: Db) {
    let url = db.url();
    let dir = Dir::new(&[
        ("expand/0001_create_users.sql", "CREATE TABLE users (id INTEGER PRIMARY KEY);\n"),
        (
            "expand/0002_add_two.sql",
            "-- ebbtide: no-transaction\nCREATE TABLE first_half (id INTEGER);\nCREATE TABLE users (id INTEGER);\n",
        ),
    ]);
    let failed = ebbtide(dir.path(), &url, &["sync"]);
    assert_eq!(code(&failed), 1);
    assert!(
        stderr(&failed).contains("`ebbtide resolve") || stderr(&failed).contains("`resolve VERSION"),
        "{}",
        stderr(&failed)
    );
    let status = ok(ebbtide(dir.path(), &url, &["status"]));
    assert!(status.contains("started, not finished"), "{status}");
    let json: serde_json::Value = serde_json::from_str(&ok(ebbtide(dir.path(), &url, &["status", "--json"]))).unwrap();
    if db.capabilities().transactional_ddl {
        assert!(json[1]["stopped"].is_null(), "{json}");
    } else {
        assert!(status.contains("\n0002_add_two: failed at statement 2 of 2: "), "{status}");
        assert_eq!(json[1]["stopped"]["statements_done"], 1, "{json}");
        assert_eq!(json[1]["stopped"]["statements"], 2, "{json}");
        assert!(json[1]["stopped"]["failure"].as_str().unwrap().contains("users"), "{json}");
    }
    let check = ebbtide(dir.path(), &url, &["check"]);
    assert_eq!(code(&check), 3);
    let said = format!("{}{}", stdout(&check), stderr(&check));
    assert!(said.contains("resolve VERSION applied"), "{said}");
    // Finished by hand (the table it meant to create is there): recorded.
    let out = ok(ebbtide(dir.path(), &url, &["resolve", "2", "applied"]));
    assert!(out.contains("re-recorded expand 0002_add_two"), "{out}");
    let again = ebbtide(dir.path(), &url, &["resolve", "2", "forgotten"]);
    assert_eq!(code(&again), 1);
    assert!(
        stderr(&again).contains("0002 is not marked as started: there is nothing to resolve"),
        "{}",
        stderr(&again)
    );
    assert_eq!(code(&ebbtide(dir.path(), &url, &["check"])), 0);
    assert!(!ok(ebbtide(dir.path(), &url, &["status"])).contains("started"));
}

on_persistent_engines!(
    a_migration_that_stopped_half_way_is_resolved,
    stored_down_scripts_keep_their_directives_and_their_warning,
    every_check_exit_code_and_a_rolling_upgrade,
    goto_version_control_and_version,
    sql_output_builds_the_same_schema_as_sync,
    errors_are_one_line_without_panics,
);

#[test]
fn revision_numbers_across_branches() {
    let dir = Dir::new(&[
        ("initial/0001_legacy.sql", "CREATE TABLE legacy (id INTEGER);"),
        ("expand/0002_create_users.sql", "CREATE TABLE users (id INTEGER);"),
    ]);
    let run = |args: &[&str]| ok(ebbtide(dir.path(), "sqlite::memory:", args));
    let made = run(&["revision", "--contract", "-m", "Drop legacy table!"]);
    assert_eq!(made.trim(), dir.path().join("contract/0003_drop_legacy_table.sql").display().to_string());
    let made = run(&["revision", "--expand", "-m", "add users email", "--reversible"]);
    let lines: Vec<&str> = made.lines().collect();
    assert!(lines[0].ends_with("expand/0004_add_users_email.sql"), "{made}");
    assert!(lines[1].ends_with("expand/0004_add_users_email.down.sql"), "{made}");
    let header = std::fs::read_to_string(dir.path().join("contract/0003_drop_legacy_table.sql")).unwrap();
    assert!(header.contains("Contract migration: runs once no instance of the previous release is left"), "{header}");
    // The new files are empty migrations: lint says so, and where.
    let lint = ebbtide(dir.path(), "sqlite::memory:", &["lint"]);
    assert_eq!(code(&lint), 1);
    assert!(
        stderr(&lint)
            .contains("0003_drop_legacy_table.sql: the migration is still the template `ebbtide revision` wrote"),
        "{}",
        stderr(&lint)
    );
}

#[test]
fn revision_writes_a_table_rebuild_that_builds_and_runs() {
    let dir = Dir::new(&[(
        "initial/0001_create_parent.sql",
        "CREATE TABLE parent (id INTEGER PRIMARY KEY, name TEXT);\n\
         CREATE INDEX parent_name ON parent (name);\n\
         CREATE VIEW named AS SELECT id FROM parent WHERE name IS NOT NULL;\n\
         CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent (id) ON DELETE CASCADE);\n",
    )]);
    let db = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", db.path().join("app.db").display());
    let made = ok(ebbtide(dir.path(), &url, &["revision", "--rebuild", "parent", "-m", "rebuild parent"]));
    assert!(made.trim().ends_with("contract/0002_rebuild_parent.sql"), "{made}");
    let script = std::fs::read_to_string(made.trim()).unwrap();
    for part in [
        "-- ebbtide: foreign-keys-off",
        "CREATE TABLE parent_new (id INTEGER PRIMARY KEY, name TEXT);",
        "INSERT INTO parent_new (id, name) SELECT id, name FROM parent;",
        "DROP VIEW named;",
        "ALTER TABLE parent_new RENAME TO parent;",
        "CREATE INDEX parent_name ON parent (name);",
        "CREATE VIEW named AS",
    ] {
        assert!(script.contains(part), "{part:?} in\n{script}");
    }
    // As written, it passes every rule and runs.
    ok(ebbtide(dir.path(), &url, &["lint"]));
    let out = ok(ebbtide(dir.path(), &url, &["sync"]));
    assert!(out.contains("applied contract 0002_rebuild_parent"), "{out}");
    // A table the migrations never create is an error, and writes nothing.
    let missing = ebbtide(dir.path(), &url, &["revision", "--rebuild", "nowhere", "-m", "x"]);
    assert_eq!(code(&missing), 1);
    assert!(stderr(&missing).contains("table nowhere does not exist"), "{}", stderr(&missing));
    assert!(!dir.path().join("contract/0003_x.sql").exists());
}

#[test]
fn reading_a_missing_sqlite_database_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nowhere.db");
    let url = format!("sqlite:{}", path.display());
    for command in [&["check"][..], &["status"], &["version"], &["sync", "--sql"]] {
        let out = ebbtide(Path::new(WORKSPACE_MIGRATIONS), &url, command);
        assert_eq!(code(&out), 1, "{command:?}");
        assert!(stderr(&out).contains("there is no SQLite database at"), "{command:?}: {}", stderr(&out));
        assert!(!path.exists(), "{command:?} created the file");
    }
    ok(ebbtide(Path::new(WORKSPACE_MIGRATIONS), &url, &["sync"]));
    assert!(path.exists());
}

#[test]
fn releases_show_in_status_and_version_and_revision_starts_one() {
    let dir = Dir::new(&[
        (
            "expand/0001_create_users.sql",
            "-- ebbtide: release 1.0\nCREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);\n",
        ),
        ("expand/0002_add_users_email.sql", "-- ebbtide: release 2.0\nALTER TABLE users ADD COLUMN email TEXT;\n"),
        ("contract/0003_drop_users_name.sql", "ALTER TABLE users DROP COLUMN name;\n"),
    ]);
    let db = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", db.path().join("app.db").display());
    ok(ebbtide(dir.path(), &url, &["sync", "--expand"]));
    let version = ok(ebbtide(dir.path(), &url, &["version"]));
    assert!(version.contains("release 2.0, rollout under way (its contract pending)"), "{version}");
    let status = ok(ebbtide(dir.path(), &url, &["status"]));
    let lines: Vec<&str> = status.lines().collect();
    assert!(lines[0].starts_with("VERSION  BRANCH    RELEASE  NAME"), "{status}");
    assert!(lines[1].contains("expand    1.0      create_users"), "{status}");
    assert!(lines[3].contains("contract  2.0      drop_users_name"), "{status}");
    ok(ebbtide(dir.path(), &url, &["sync", "--contract"]));
    let version = ok(ebbtide(dir.path(), &url, &["version"]));
    assert!(version.contains("; release 2.0; this release's latest"), "{version}");
    let made = ok(ebbtide(dir.path(), &url, &["revision", "--expand", "--release", "3.0", "-m", "add users phone"]));
    let text = std::fs::read_to_string(made.trim()).unwrap();
    assert!(text.starts_with("-- add users phone\n-- ebbtide: release 3.0\n-- Expand migration"), "{text}");
    let lint = ebbtide(dir.path(), &url, &["lint"]);
    assert!(stderr(&lint).contains("still the template"), "{}", stderr(&lint));
}

#[test]
fn lint_reports_rule_errors_and_lock_risks() {
    let dir = Dir::new(&[
        ("expand/0001_create_users.sql", "CREATE TABLE users (id INTEGER, name TEXT);"),
        ("expand/0002_index_users_name.sql", "CREATE INDEX users_name ON users (name);"),
    ]);
    let out = ebbtide(dir.path(), "sqlite::memory:", &["lint"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("0002_index_users_name.sql:1: CREATE INDEX without CONCURRENTLY"),
        "{}",
        stderr(&out)
    );
    dir.write("expand/0003_drop_name.sql", "ALTER TABLE users DROP COLUMN name;");
    let out = ebbtide(dir.path(), "sqlite::memory:", &["lint"]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("0003_drop_name.sql:1: expand migration: this statement drops column users.name"),
        "{}",
        stderr(&out)
    );
}

/// Read as MySQL, lint gives MySQL's advice and warns about a migration
/// that can fail half-way; read as PostgreSQL, the same files get
/// PostgreSQL's advice.
#[test]
fn lint_speaks_the_engine_of_the_migrations() {
    let dir = Dir::new(&[
        ("expand/0001_create_users.sql", "CREATE TABLE users (id INTEGER, name VARCHAR(80));"),
        ("expand/0002_index_users_name.sql", "ALTER TABLE `users` ADD INDEX users_name (name);"),
        (
            "expand/0003_add_users_email.sql",
            "ALTER TABLE users ADD COLUMN email VARCHAR(200), ALGORITHM=INSTANT;\nALTER TABLE users ADD COLUMN nick VARCHAR(20), ALGORITHM=INSTANT;\n",
        ),
    ]);
    let out = ebbtide(dir.path(), "sqlite::memory:", &["lint", "--engine", "mysql"]);
    let said = stderr(&out);
    assert_eq!(code(&out), 0, "{said}");
    assert!(said.contains("0002_index_users_name.sql:1: ") && said.contains("INPLACE"), "{said}");
    assert!(said.contains("0003_add_users_email.sql:2: ") && said.contains("split"), "{said}");
    assert!(!said.contains("CONCURRENTLY"), "no PostgreSQL advice for MySQL: {said}");
    // Backticks are MySQL's: read as PostgreSQL, the file does not lex.
    let portable = ebbtide(dir.path(), "sqlite::memory:", &["lint"]);
    assert_ne!(stderr(&portable), said);
}

#[test]
fn a_reader_that_goes_away_is_not_a_panic() {
    let files: Vec<(String, String)> = (1..=1500)
        .map(|v| (format!("expand/{v:04}_create_t{v}.sql"), format!("CREATE TABLE t{v} (id INTEGER);\n")))
        .collect();
    let borrowed: Vec<(&str, &str)> = files.iter().map(|(p, s)| (p.as_str(), s.as_str())).collect();
    let dir = Dir::new(&borrowed);
    // `ebbtide sync --sql | head -1`: far more output than a pipe buffers.
    let mut child = Command::new(env!("CARGO_BIN_EXE_ebbtide"))
        .arg("--dir")
        .arg(dir.path())
        .args(["--database", "sqlite::memory:", "sync", "--sql"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut first).unwrap();
    assert!(first.starts_with("-- ebbtide sync: 1500 step(s)"), "{first}");
    let out = child.wait_with_output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
}

#[test]
fn repair_records_a_deliberate_edit_and_says_what_it_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let migrations = dir.path().join("migrations");
    fs::create_dir_all(migrations.join("expand")).unwrap();
    let file = migrations.join("expand/0001_create_users.sql");
    fs::write(&file, "-- Users.\nCREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT);\n").unwrap();
    let url = format!("sqlite:{}", dir.path().join("app.db").display());
    ok(ebbtide(&migrations, &url, &["sync"]));

    // A comment and layout edit changes nothing that runs.
    fs::write(
        &file,
        "-- Users, who sign in by email.\nCREATE TABLE users (\n  id INTEGER PRIMARY KEY,\n  email TEXT\n);\n",
    )
    .unwrap();
    ok(ebbtide(&migrations, &url, &["check"]));
    assert_eq!(ok(ebbtide(&migrations, &url, &["repair"])).trim(), "nothing to do");

    // An edit of a statement is divergent, and the messages say what to do.
    fs::write(&file, "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL);\n").unwrap();
    let check = ebbtide(&migrations, &url, &["check"]);
    assert_eq!(code(&check), 3);
    assert!(
        stderr(&check).contains("0001_create_users had its statements edited after it was applied"),
        "{}",
        stderr(&check)
    );
    assert!(stderr(&check).contains("`ebbtide repair`"), "{}", stderr(&check));
    let sync = ebbtide(&migrations, &url, &["sync"]);
    assert_eq!(code(&sync), 1);
    assert!(
        stderr(&sync).contains("revert the edit") && stderr(&sync).contains("`ebbtide repair`"),
        "{}",
        stderr(&sync)
    );

    let out = ok(ebbtide(&migrations, &url, &["repair"]));
    assert!(out.lines().next().unwrap().starts_with("re-recorded expand 0001_create_users"), "{out}");
    ok(ebbtide(&migrations, &url, &["check"]));
}

//! Coming from refinery, sqlx or diesel: a real database migrated by the
//! real tool (`tests/peers`, a workspace of its own) at a history of 24
//! migrations, imported and adopted by the `ebbtide` binary, then carried
//! on with an expand and a contract migration while the old release keeps
//! running its tool; and every history that differs from the imported
//! files (edited, missing, failed) refused with nothing changed.
//!
//! Compiled as an integration test of the `ebbtide` package, so cargo
//! builds the binary it runs.

mod support;

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use ebbtide::registry::{self, Access};
use support::Db;
use support::peers::{PeerMigration, Tool, history, peer_migrate, write_layout};

const BIN: &str = env!("CARGO_BIN_EXE_ebbtide");

/// `ebbtide --dir WORK/migrations ARGS`, with `--database URL` when given.
fn ebbtide(work: &Path, url: Option<&str>, args: &[&str]) -> Output {
    let mut command = Command::new(BIN);
    // A development server in the environment, as README suggests: read
    // only by the commands that need one.
    command
        .arg("--dir")
        .arg(work.join("migrations"))
        .args(args)
        .current_dir(work)
        .env_remove("DATABASE_URL")
        .env("EBBTIDE_DEV_DATABASE", support::admin_url("postgres"));
    if let Some(url) = url {
        command.args(["--database", url]);
    }
    command.output().expect("run ebbtide")
}

fn text(o: &Output) -> (i32, String, String) {
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[track_caller]
fn ok(o: Output) -> String {
    let (code, out, err) = text(&o);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    out
}

fn database(engine: &str) -> Option<Db> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(Db::of(engine))
}

/// What the tool's table holds, row by row, every column as text.
fn tool_rows(url: &str, tool: Tool) -> Vec<Vec<Option<String>>> {
    let sql = match tool {
        Tool::Refinery => "SELECT version, name, applied_on, checksum FROM refinery_schema_history ORDER BY version",
        Tool::Sqlx => {
            "SELECT version, description, success, checksum, execution_time FROM _sqlx_migrations ORDER BY version"
        }
        Tool::Diesel => "SELECT version FROM __diesel_schema_migrations ORDER BY version",
    };
    let (_, db) = registry::open(url, Access::Read).unwrap();
    db.rows(sql).unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// `adopt --compare-schema`, with a scratch server where it needs one.
fn compare_schema(engine: &str) -> Vec<&'static str> {
    static DEV: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    match engine {
        "sqlite" => vec!["--compare-schema"],
        "postgres" => vec!["--compare-schema", "--dev-database", DEV.get_or_init(|| support::admin_url("postgres"))],
        _ => vec![],
    }
}

/// Whether ebbtide's version table exists.
fn ebbtide_table(db: &Db) -> bool {
    db.try_rows("SELECT count(*) FROM ebbtide_migrations").is_ok()
}

/// The tool migrates `url` from `dir`; how many it applied.
#[track_caller]
fn tool_migrates(tool: Tool, dir: &Path, url: &str) -> usize {
    let out = peer_migrate(tool, dir, url);
    let (code, stdout, stderr) = text(&out);
    assert_eq!(code, 0, "{tool:?} failed:\n{stdout}\n{stderr}");
    stdout.trim().strip_prefix("applied ").and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("{stdout}"))
}

/// The whole switch: the tool at 24 migrations, import, `adopt --sql`
/// (nothing written), adopt, the old release's tool still content, an
/// expand and a contract migration, and `check` passing throughout.
fn switches(tool: Tool, engine: &str) {
    let Some(db) = database(engine) else { return };
    let url = db.url();
    let work = tempfile::tempdir().unwrap();
    let work = work.path();
    let old = work.join("old");
    let migrations = history(engine);
    assert!(migrations.len() >= 20);
    write_layout(tool, &old, &migrations);
    assert_eq!(tool_migrates(tool, &old, &url), migrations.len());
    let before = tool_rows(&url, tool);
    assert_eq!(before.len(), migrations.len());

    let imported =
        ok(ebbtide(work, None, &["--engine", engine, "import", "--from", tool.name(), old.to_str().unwrap()]));
    assert_eq!(imported.lines().count(), migrations.len(), "{imported}");
    let initial = work.join("migrations/initial");
    let ups = fs::read_dir(&initial)
        .unwrap()
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().ends_with(".down.sql"))
        .count();
    assert_eq!(ups, migrations.len());
    // Down scripts and no-transaction markers come along where the tool has them.
    let downs = fs::read_dir(&initial)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".down.sql"))
        .count();
    let with_down = migrations.iter().filter(|m| m.down.is_some()).count();
    assert_eq!(downs, if tool == Tool::Refinery { 0 } else { with_down });
    // The up scripts the tool runs outside a transaction, and only those.
    let outside: Vec<String> = migrations
        .iter()
        .enumerate()
        .filter(|(_, m)| m.no_transaction && tool != Tool::Refinery)
        .map(|(i, m)| format!("{:04}_{}.sql", i + 1, m.name))
        .collect();
    let marked: Vec<String> = files(&initial)
        .into_iter()
        .filter(|f| !f.ends_with(".down.sql"))
        .filter(|f| fs::read_to_string(initial.join(f)).unwrap().starts_with("-- ebbtide: no-transaction"))
        .collect();
    assert_eq!(sorted(marked), outside);
    assert!(tool == Tool::Refinery || !outside.is_empty(), "the history has no migration outside a transaction");
    assert!(work.join("migrations/imported.json").is_file());

    // `--sql` shows the records and writes nothing.
    let script = ok(ebbtide(work, Some(&url), &["adopt", "--from", tool.name(), "--sql"]));
    assert!(script.contains("ebbtide_migrations"), "{script}");
    assert!(!ebbtide_table(&db), "adopt --sql wrote the version table");

    // What the tool built is what the imported migrations build.
    let adopt = [&["adopt", "--from", tool.name()][..], &compare_schema(engine)].concat();
    let adopted = ok(ebbtide(work, Some(&url), &adopt));
    assert!(adopted.contains("adopted"), "{adopted}");
    assert_eq!(tool_rows(&url, tool), before, "adopt touched {tool:?}'s table");
    let version = ok(ebbtide(work, Some(&url), &["version"]));
    assert!(version.starts_with(&format!("version {:04}", migrations.len())), "{version}");
    assert_eq!(db.rows("SELECT count(*) FROM ebbtide_migrations"), [migrations.len().to_string()]);
    let check = ok(ebbtide(work, Some(&url), &["check"]));
    assert!(check.contains("current"), "{check}");
    // Adopting again does nothing.
    let again = ok(ebbtide(work, Some(&url), &["adopt", "--from", tool.name()]));
    assert!(again.contains("nothing to do"), "{again}");

    // The old release, with its tool embedded, still starts.
    assert_eq!(tool_migrates(tool, &old, &url), 0);

    // The new release goes on in expand and contract.
    let n = migrations.len();
    let column = if engine == "mysql" { "VARCHAR(200)" } else { "TEXT" };
    fs::create_dir_all(work.join("migrations/expand")).unwrap();
    fs::create_dir_all(work.join("migrations/contract")).unwrap();
    fs::write(
        work.join(format!("migrations/expand/{:04}_add_users_phone.sql", n + 1)),
        format!("ALTER TABLE users ADD COLUMN phone {column};\n"),
    )
    .unwrap();
    fs::write(
        work.join(format!("migrations/contract/{:04}_drop_users_legacy_note.sql", n + 2)),
        "ALTER TABLE users DROP COLUMN legacy_note;\n",
    )
    .unwrap();
    ok(ebbtide(work, Some(&url), &["sync", "--expand"]));
    assert_eq!(tool_migrates(tool, &old, &url), 0, "the old release's tool after expand");
    ok(ebbtide(work, Some(&url), &["sync", "--contract"]));
    let check = ok(ebbtide(work, Some(&url), &["check"]));
    assert!(check.contains("current"), "{check}");
    assert_eq!(tool_rows(&url, tool), before, "ebbtide's migrations touched {tool:?}'s table");
    db.rows("SELECT phone FROM users");
    assert!(db.try_rows("SELECT legacy_note FROM users").is_err(), "contract did not run");
}

#[test]
fn refinery_on_sqlite_switches() {
    switches(Tool::Refinery, "sqlite");
}

#[test]
fn refinery_on_postgres_switches() {
    switches(Tool::Refinery, "postgres");
}

#[test]
fn sqlx_on_sqlite_switches() {
    switches(Tool::Sqlx, "sqlite");
}

#[test]
fn sqlx_on_postgres_switches() {
    switches(Tool::Sqlx, "postgres");
}

#[test]
fn diesel_on_sqlite_switches() {
    switches(Tool::Diesel, "sqlite");
}

#[test]
fn diesel_on_postgres_switches() {
    switches(Tool::Diesel, "postgres");
}

#[test]
fn sqlx_on_mysql_switches() {
    switches(Tool::Sqlx, "mysql");
}

#[test]
fn refinery_on_mysql_switches() {
    switches(Tool::Refinery, "mysql");
}

/// What goes wrong between the tool's history and its directory.
#[derive(Copy, Clone, Debug)]
enum Mishap {
    /// A migration edited after the tool applied it.
    Edited,
    /// An applied migration's file deleted.
    Missing,
    /// The last migration failed when the tool ran it.
    Failed,
}

/// The tool migrates, the directory then differs from what it applied,
/// the import goes through, and adopt refuses, naming the difference,
/// with the tool's table and the database left as they were.
fn refuses(tool: Tool, engine: &str, mishap: Mishap, expected: &str) {
    let Some(db) = database(engine) else { return };
    let url = db.url();
    let work = tempfile::tempdir().unwrap();
    let work = work.path();
    let old = work.join("old");
    let mut migrations: Vec<PeerMigration> = history(engine);
    if let Mishap::Failed = mishap {
        // DDL first (MySQL commits it, and with it sqlx's row), then a failure.
        migrations.push(PeerMigration {
            name: "add_audit".into(),
            up: "CREATE TABLE audit (id INT PRIMARY KEY);\nINSERT INTO no_such_table VALUES (1);\n".into(),
            down: None,
            no_transaction: false,
        });
    }
    write_layout(tool, &old, &migrations);
    let out = peer_migrate(tool, &old, &url);
    match mishap {
        Mishap::Failed => assert_ne!(out.status.code(), Some(0), "the failing migration did not fail"),
        _ => assert_eq!(text(&out).0, 0, "{}", text(&out).2),
    }
    let victim = migrations.len() / 2;
    match mishap {
        Mishap::Edited => {
            let edited = PeerMigration {
                up: format!("{}\n-- edited\nCREATE TABLE edited_later (id INT);\n", migrations[victim].up),
                ..migrations[victim].clone()
            };
            migrations[victim] = edited;
            fs::remove_dir_all(&old).unwrap();
            write_layout(tool, &old, &migrations);
        }
        Mishap::Missing => {
            // The layout written again without one migration, which the tool
            // applied: the rest keep their versions.
            let before: Vec<_> = files(&old);
            fs::remove_dir_all(&old).unwrap();
            write_layout(tool, &old, &migrations);
            let prefix = prefix(tool, victim + 1);
            let victim_files: Vec<_> = files(&old).into_iter().filter(|f| f.starts_with(&prefix)).collect();
            assert!(!victim_files.is_empty());
            for f in &victim_files {
                let path = old.join(f);
                if path.is_dir() { fs::remove_dir_all(&path).unwrap() } else { fs::remove_file(&path).unwrap() }
            }
            assert!(files(&old).len() < before.len());
        }
        Mishap::Failed => {}
    }
    let rows = tool_rows(&url, tool);
    ok(ebbtide(work, None, &["--engine", engine, "import", "--from", tool.name(), old.to_str().unwrap()]));
    // The history is checked first; the schema where the history cannot tell.
    let adopt = [&["adopt", "--from", tool.name()][..], &compare_schema(engine)].concat();
    let (code, out, err) = text(&ebbtide(work, Some(&url), &adopt));
    assert_eq!(code, 1, "adopt did not refuse {mishap:?}:\n{out}\n{err}");
    assert!(err.contains(expected) && err.contains("nothing was written"), "{mishap:?}: {err}");
    assert!(!ebbtide_table(&db), "a refused adopt created the version table");
    assert_eq!(tool_rows(&url, tool), rows, "a refused adopt touched {tool:?}'s table");
}

/// How the files of the `i`th migration (from 1) of `tool`'s layout start.
fn prefix(tool: Tool, i: usize) -> String {
    match tool {
        Tool::Refinery => format!("V{i}__"),
        Tool::Sqlx => format!("{}_", 20240101000000u64 + i as u64),
        Tool::Diesel => format!("2024-01-01-{i:06}_"),
    }
}

fn sorted(mut names: Vec<String>) -> Vec<String> {
    names.sort();
    names
}

/// Every file and directory directly in `dir`, by name.
fn files(dir: &Path) -> Vec<String> {
    fs::read_dir(dir).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect()
}

#[test]
fn an_edited_migration_is_refused() {
    refuses(Tool::Refinery, "sqlite", Mishap::Edited, "edited since it was applied");
    refuses(Tool::Sqlx, "sqlite", Mishap::Edited, "edited since it was applied");
    refuses(Tool::Sqlx, "postgres", Mishap::Edited, "edited since it was applied");
    // diesel records no checksum: the schema the edit changes tells.
    let differs = "- table edited_later";
    refuses(Tool::Diesel, "sqlite", Mishap::Edited, differs);
    refuses(Tool::Diesel, "postgres", Mishap::Edited, differs);
}

#[test]
fn a_missing_migration_is_refused() {
    for tool in Tool::ALL {
        refuses(tool, "sqlite", Mishap::Missing, "not among the imported migrations");
    }
    refuses(Tool::Diesel, "postgres", Mishap::Missing, "not among the imported migrations");
}

#[test]
fn a_failed_migration_is_refused() {
    for tool in Tool::ALL {
        refuses(tool, "sqlite", Mishap::Failed, "not applied to this database");
    }
    refuses(Tool::Refinery, "postgres", Mishap::Failed, "not applied to this database");
    // sqlx on MySQL records the migration before it runs, and a DDL
    // statement commits that record: the row stays, marked failed.
    refuses(Tool::Sqlx, "mysql", Mishap::Failed, "recorded as failed");
}

/// Every file under `root`, relative, with its text: to see that nothing changed.
fn snapshot(root: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let name = path.strip_prefix(root).unwrap().display().to_string();
                out.push((name, fs::read_to_string(&path).unwrap_or_default()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn import_writes_nothing_when_any_migration_cannot_come_along() {
    let work = tempfile::tempdir().unwrap();
    let work = work.path();
    let old = work.join("old");
    /// What is wrong, the tool, its files, and what the error must say.
    type Case<'a> = (&'a str, Tool, &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case; 3] = [
        (
            "a refinery migration in Rust",
            Tool::Refinery,
            &[
                ("V1__users.sql", "CREATE TABLE users (id INT);\n"),
                ("V2__seed.rs", "pub fn migration() -> String { String::new() }\n"),
            ],
            "V2__seed.rs",
        ),
        (
            "a migration ebbtide cannot read (a string that never ends)",
            Tool::Sqlx,
            &[("1_users.sql", "CREATE TABLE users (id INT);\n"), ("2_later.sql", "INSERT INTO users VALUES ('1);\n")],
            "do not load",
        ),
        (
            "a diesel migration without up.sql",
            Tool::Diesel,
            &[
                ("2024-01-01-000001_users/up.sql", "CREATE TABLE users (id INT);\n"),
                ("2024-01-01-000002_empty/down.sql", "SELECT 1;\n"),
            ],
            "no up.sql",
        ),
    ];
    for (what, tool, files, expected) in cases {
        let _ = fs::remove_dir_all(&old);
        for (path, text) in files {
            let path = old.join(path);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, text).unwrap();
        }
        let (code, _, err) = text(&ebbtide(work, None, &["import", "--from", tool.name(), old.to_str().unwrap()]));
        assert_eq!(code, 1, "{what}: {err}");
        assert!(err.contains(expected), "{what}: {err}");
        assert!(!work.join("migrations").exists(), "{what}: import left {:?}", snapshot(&work.join("migrations")));
    }

    // A migrations directory that holds migrations already is left alone.
    fs::create_dir_all(work.join("migrations/expand")).unwrap();
    fs::write(work.join("migrations/expand/0001_create_users.sql"), "CREATE TABLE users (id INT);\n").unwrap();
    let _ = fs::remove_dir_all(&old);
    fs::create_dir_all(&old).unwrap();
    fs::write(old.join("1_users.sql"), "CREATE TABLE users (id INT);\n").unwrap();
    let before = snapshot(&work.join("migrations"));
    let (code, _, err) = text(&ebbtide(work, None, &["import", "--from", "sqlx", old.to_str().unwrap()]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("already holds expand/"), "{err}");
    assert_eq!(snapshot(&work.join("migrations")), before);
}

#[test]
fn adopt_refuses_what_it_cannot_check_and_writes_nothing() {
    let Some(db) = database("sqlite") else { return };
    let url = db.url();
    let work = tempfile::tempdir().unwrap();
    let work = work.path();
    let old = work.join("old");
    write_layout(Tool::Sqlx, &old, &history("sqlite"));
    ok(ebbtide(work, None, &["import", "--from", "sqlx", old.to_str().unwrap()]));

    // The tool never ran here: no history table.
    let (code, _, err) = text(&ebbtide(work, Some(&url), &["adopt", "--from", "sqlx"]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("cannot read sqlx's history table _sqlx_migrations"), "{err}");
    assert!(!ebbtide_table(&db));

    tool_migrates(Tool::Sqlx, &old, &url);
    // Another tool than the one imported, another history table.
    let (code, _, err) = text(&ebbtide(work, Some(&url), &["adopt", "--from", "diesel"]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("imported from sqlx, not diesel"), "{err}");
    let (code, _, err) = text(&ebbtide(work, Some(&url), &["adopt", "--from", "sqlx", "--history-table", "elsewhere"]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("history table elsewhere"), "{err}");
    // An imported file edited after import.
    let first = work.join("migrations/initial/0001_create_users.sql");
    let original = fs::read_to_string(&first).unwrap();
    fs::write(&first, format!("{original}\nSELECT 1;\n")).unwrap();
    let (code, _, err) = text(&ebbtide(work, Some(&url), &["adopt", "--from", "sqlx"]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("0001_create_users.sql: changed since `ebbtide import`"), "{err}");
    assert!(!ebbtide_table(&db));
    fs::write(&first, original).unwrap();

    // A database ebbtide manages already, otherwise, is not rewritten.
    let other = work.join("other");
    fs::create_dir_all(other.join("migrations/expand")).unwrap();
    fs::write(other.join("migrations/expand/0001_create_things.sql"), "CREATE TABLE things (id INT);\n").unwrap();
    let (_, _, err) = text(&ebbtide(&other, Some(&url), &["sync"]));
    assert!(err.contains("`ebbtide adopt --from sqlx`"), "the refusal does not say how to adopt: {err}");
    ok(ebbtide(&other, Some(&url), &["sync", "--allow-existing-schema"]));
    let (code, _, err) = text(&ebbtide(work, Some(&url), &["adopt", "--from", "sqlx"]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("under ebbtide's control already (version 0001)"), "{err}");
    assert_eq!(db.rows("SELECT name FROM ebbtide_migrations"), ["create_things"]);
}

/// A `sqlx.toml` that changes sqlx's checksums and its table: sqlx (as
/// `migrate!` reads the file) and import agree; without the file, every
/// checksum differs.
fn sqlx_toml_carries_over(engine: &str) {
    let Some(db) = database(engine) else { return };
    let url = db.url();
    let work = tempfile::tempdir().unwrap();
    let work = work.path();
    let app = work.join("app");
    let old = app.join("migrations");
    let migrations = history(engine);
    write_layout(Tool::Sqlx, &old, &migrations);
    fs::write(
        app.join("sqlx.toml"),
        "[migrate]\nignored-chars = [\" \", \"\\t\", \"\\r\", \"\\n\"]\ntable-name = \"app_sqlx_history\"\n",
    )
    .unwrap();
    assert_eq!(tool_migrates(Tool::Sqlx, &old, &url), migrations.len());
    assert_eq!(db.rows("SELECT count(*) FROM app_sqlx_history"), [migrations.len().to_string()]);
    assert!(db.try_rows("SELECT count(*) FROM _sqlx_migrations").is_err(), "sqlx did not read sqlx.toml");

    ok(ebbtide(work, None, &["import", "--from", "sqlx", old.to_str().unwrap()]));
    let mapping = fs::read_to_string(work.join("migrations/imported.json")).unwrap();
    assert!(mapping.contains("\"history_table\": \"app_sqlx_history\""), "{mapping}");

    // The same files without sqlx.toml: sqlx's own checksums, all different.
    let bare = work.join("bare");
    fs::create_dir_all(&bare).unwrap();
    let plain = bare.join("old");
    write_layout(Tool::Sqlx, &plain, &migrations);
    ok(ebbtide(&bare, None, &["import", "--from", "sqlx", plain.to_str().unwrap()]));
    let (code, _, err) =
        text(&ebbtide(&bare, Some(&url), &["adopt", "--from", "sqlx", "--history-table", "app_sqlx_history"]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(&format!("{} differences", migrations.len())), "{err}");
    assert!(!ebbtide_table(&db));

    // The history table of another name is no difference of the schema.
    let adopt = [&["adopt", "--from", "sqlx"][..], &compare_schema(engine)].concat();
    let adopted = ok(ebbtide(work, Some(&url), &adopt));
    assert!(adopted.contains("adopted"), "{adopted}");
    let check = ok(ebbtide(work, Some(&url), &["check"]));
    assert!(check.contains("current"), "{check}");
    assert_eq!(tool_migrates(Tool::Sqlx, &old, &url), 0);
}

#[test]
fn sqlx_toml_carries_over_on_sqlite() {
    sqlx_toml_carries_over("sqlite");
}

#[test]
fn sqlx_toml_carries_over_on_postgres() {
    sqlx_toml_carries_over("postgres");
}

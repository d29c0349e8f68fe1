//! `ebbtide revision --autogenerate` and `ebbtide diff` as a user runs
//! them: the rolling upgrade's column split regenerated from its schema
//! files, `diff`'s exit codes, drift of a live database, a possible rename
//! that writes nothing, a backfill left to write, and Ctrl-C in the middle.
//!
//! Compiled as an integration test of the `ebbtide` package, so cargo
//! builds the binary it runs.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use ebbtide::registry::{self, Access};
use support::Dir;

const BIN: &str = env!("CARGO_BIN_EXE_ebbtide");
const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/rolling_upgrade");

fn ebbtide(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--dir")
        .arg(dir.join("migrations"))
        .args(args)
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .env_remove("EBBTIDE_DEV_DATABASE")
        .output()
        .expect("run ebbtide")
}

fn text(o: &Output) -> (i32, String, String) {
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// The PostgreSQL server of the tests, if it answers; `None` (after one
/// line saying so) when it does not, except under `CI=true`.
fn postgres() -> Option<String> {
    let url = support::admin_url("postgres");
    match registry::open(&url, Access::Read).and_then(|(_, db)| db.strings("SELECT 1")) {
        Ok(_) => Some(url),
        Err(e) if support::in_ci() => panic!("PostgreSQL is required under CI=true: {e}"),
        Err(e) => {
            eprintln!("skipped: no PostgreSQL server at {url}: {e}");
            None
        }
    }
}

/// Every file under `root`, relative, sorted.
fn files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                out.push(path.strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn the_rolling_upgrade_column_split_regenerates_from_its_two_schema_files() {
    let Some(url) = postgres() else { return };
    let out = tempfile::tempdir().unwrap();
    let run = Command::new("bash")
        .arg(Path::new(EXAMPLE).join("regenerate.sh"))
        .arg(out.path())
        .env("EBBTIDE", BIN)
        .env("EBBTIDE_DEV_DATABASE", &url)
        .output()
        .unwrap();
    let (code, _, err) = text(&run);
    assert_eq!(code, 0, "{err}");
    for release in ["release1/migrations", "release2/migrations"] {
        let generated = out.path().join(release);
        let checked_in = Path::new(EXAMPLE).join(release);
        assert_eq!(files(&generated), files(&checked_in), "{release}");
        for file in files(&generated) {
            assert_eq!(
                fs::read_to_string(generated.join(&file)).unwrap(),
                fs::read_to_string(checked_in.join(&file)).unwrap(),
                "{release}/{} is not what regenerate.sh writes: run it again",
                file.display()
            );
        }
    }
}

#[test]
fn diff_exits_0_when_equal_2_when_different_and_1_on_a_bad_schema_file() {
    let dir = Dir::new(&[(
        "migrations/expand/0001_create_users.sql",
        "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL);\n",
    )]);
    dir.write("schema.sql", "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL);\n");
    let (code, out, err) = text(&ebbtide(dir.path(), &["diff"]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("no difference"), "{out}");

    dir.write(
        "schema.sql",
        "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, email TEXT);\nCREATE INDEX users_email ON users (email);\n",
    );
    let (code, out, err) = text(&ebbtide(dir.path(), &["diff"]));
    assert_eq!(code, 2, "{out}{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            "~ column users.name TEXT NOT NULL -> name TEXT",
            "+ column users.email TEXT",
            "+ index users_email: CREATE INDEX users_email ON users (email)",
        ]
    );

    dir.write("schema.sql", "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL,);\n");
    let (code, _, err) = text(&ebbtide(dir.path(), &["diff"]));
    assert_eq!(code, 1);
    assert!(err.contains("the schema file does not apply to a scratch SQLite database"), "{err}");
    let (code, _, err) = text(&ebbtide(dir.path(), &["diff", "--schema", "nowhere.sql"]));
    assert_eq!(code, 1);
    assert!(err.contains("cannot read the schema file nowhere.sql"), "{err}");
}

#[test]
fn diff_with_a_database_finds_what_was_changed_by_hand() {
    let dir = Dir::new(&[
        (
            "migrations/expand/0001_create_users.sql",
            "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL);\n",
        ),
        ("migrations/expand/0002_add_users_email.sql", "ALTER TABLE users ADD COLUMN email TEXT;\n"),
    ]);
    let db = dir.path().join("app.db");
    let url = format!("sqlite:{}", db.display());
    // Only the first migration is applied: the second is not drift.
    let (code, out, err) = text(&ebbtide(dir.path(), &["--database", &url, "upgrade", "1"]));
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = text(&ebbtide(dir.path(), &["--database", &url, "diff"]));
    assert_eq!(code, 0, "{out}{err}");

    let conn = ebbtide::rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch("ALTER TABLE users ADD COLUMN hack TEXT; CREATE INDEX users_name ON users (name);").unwrap();
    drop(conn);
    let (code, out, err) = text(&ebbtide(dir.path(), &["--database", &url, "diff"]));
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.contains("+ column users.hack TEXT"), "{out}");
    assert!(out.contains("+ index users_name"), "{out}");
    assert!(!out.contains("email"), "{out}");
}

#[test]
fn a_possible_rename_writes_nothing_until_the_user_decides() {
    let dir = Dir::new(&[(
        "migrations/expand/0001_create_users.sql",
        "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL);\n",
    )]);
    dir.write("schema.sql", "CREATE TABLE users (id INTEGER PRIMARY KEY, full_name TEXT NOT NULL);\n");
    let before = files(dir.path());
    let (code, _, err) = text(&ebbtide(dir.path(), &["revision", "--autogenerate", "-m", "rename"]));
    assert_eq!(code, 1);
    assert!(err.contains("--rename users.name=full_name"), "{err}");
    assert!(err.contains("--drop users.name"), "{err}");
    assert_eq!(files(dir.path()), before, "nothing may be written");

    // A hint that names nothing the schema file changes is refused too.
    let (code, _, err) =
        text(&ebbtide(dir.path(), &["revision", "--autogenerate", "-m", "rename", "--rename", "users.nick=full_name"]));
    assert_eq!(code, 1);
    assert!(err.contains("no column users.nick"), "{err}");
    assert_eq!(files(dir.path()), before);

    let (code, out, err) =
        text(&ebbtide(dir.path(), &["revision", "--autogenerate", "-m", "rename", "--rename", "users.name=full_name"]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("expand/0002_rename.sql"), "{out}");
    assert!(out.contains("contract/0003_rename"), "{out}");
    let (code, out, err) = text(&ebbtide(dir.path(), &["lint"]));
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = text(&ebbtide(dir.path(), &["diff"]));
    assert_eq!((code, out.contains("no difference")), (0, true), "{out}{err}");
}

#[test]
fn a_backfill_left_to_write_is_named_and_refused_until_written() {
    let dir = Dir::new(&[(
        "migrations/expand/0001_create_users.sql",
        "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL);\n",
    )]);
    dir.write("schema.sql", "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL);\n");
    let (code, _, err) = text(&ebbtide(dir.path(), &["revision", "--autogenerate", "-m", "add users email"]));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("0002_add_users_email.sql:"), "{err}");
    assert!(err.contains("write the backfill's value"), "{err}");
    let (code, _, err) = text(&ebbtide(dir.path(), &["lint"]));
    assert_eq!(code, 1);
    assert!(err.contains("left this value for you to write: the value of users.email"), "{err}");

    // The user writes the value, in each placeholder.
    for path in files(dir.path()).iter().filter(|p| p.extension().is_some_and(|e| e == "sql")) {
        let path = dir.path().join(path);
        let sql = fs::read_to_string(&path).unwrap();
        let filled = sql.replace(
            "NULL /* ebbtide: fill in: the value of users.email for existing rows */",
            "lower(name) || '@example.com'",
        );
        fs::write(&path, filled).unwrap();
    }
    let (code, out, err) = text(&ebbtide(dir.path(), &["lint"]));
    assert_eq!(code, 0, "{out}{err}");
    let db = dir.path().join("app.db");
    let url = format!("sqlite:{}", db.display());
    let (code, out, err) = text(&ebbtide(dir.path(), &["--database", &url, "upgrade", "1"]));
    assert_eq!(code, 0, "{out}{err}");
    let conn = ebbtide::rusqlite::Connection::open(&db).unwrap();
    conn.execute("INSERT INTO users (name) VALUES ('Ada')", []).unwrap();
    drop(conn);
    let (code, out, err) = text(&ebbtide(dir.path(), &["--database", &url, "sync"]));
    assert_eq!(code, 0, "{out}{err}");
    let conn = ebbtide::rusqlite::Connection::open(&db).unwrap();
    let email: String = conn.query_row("SELECT email FROM users", [], |r| r.get(0)).unwrap();
    assert_eq!(email, "ada@example.com");
    let (code, out, err) = text(&ebbtide(dir.path(), &["--database", &url, "diff"]));
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn ctrl_c_drops_the_scratch_databases() {
    let Some(url) = postgres() else { return };
    let dir = Dir::new(&[("migrations/expand/0001_create_t.sql", "CREATE TABLE t (id bigint);\n")]);
    dir.write("schema.sql", "CREATE TABLE t (id bigint);\nSELECT pg_sleep(60);\n");
    let child = Command::new(BIN)
        .arg("--dir")
        .arg(dir.path().join("migrations"))
        .args(["diff", "--dev-database", &url])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (_, admin) = registry::open(&url, Access::Read).unwrap();
    let ours = format!("SELECT datname FROM pg_database WHERE datname LIKE 'ebbtide_scratch_{}_%'", child.id());
    let started = Instant::now();
    // Both scratch databases exist, and the schema file sleeps in one.
    while admin.strings(&ours).unwrap().len() < 2 {
        assert!(started.elapsed() < Duration::from_secs(30), "no scratch database appeared");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    let signal = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(signal.success());
    let output = child.wait_with_output().unwrap();
    assert!(started.elapsed() < Duration::from_secs(30), "Ctrl-C did not stop the sleep");
    let (code, out, err) = text(&output);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("interrupted; the scratch databases were dropped"), "{err}");
    assert_eq!(admin.strings(&ours).unwrap(), Vec::<Option<String>>::new());
}

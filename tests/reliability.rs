//! The promises a migration tool must keep at the most dangerous moment of a
//! deployment, each proven against SQLite and the PostgreSQL server: real
//! processes racing, processes killed with SIGKILL mid-run, lock timeouts,
//! and hostile input.
//!
//! Compiled as an integration test of the `ebbtide` package (see its
//! Cargo.toml), so cargo builds the binary the racing processes run.

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ebbtide::{Aftermath, Error, Migrations, Migrator, Request, Scope, Verdict};
use support::{Db, Dir, release_after, retries_told, until};

fn spawn(dir: &Path, url: &str, args: &[&str]) -> Child {
    support::spawn_cli(env!("CARGO_BIN_EXE_ebbtide"), dir, url, args)
}

/// Twenty migrations, each recording that it ran in `runs`; a few slow
/// ones, so that racing runs overlap.
fn racing_migrations(db: &Db) -> Dir {
    let slow = db.moment_sql();
    let mut files = vec![(
        "expand/0001_create_runs.sql".to_string(),
        "CREATE TABLE runs (version INTEGER NOT NULL);\n".to_string(),
    )];
    for v in 2..=20 {
        // Contract migrations record their run too, which their rules forbid
        // unless allowed.
        let (branch, allow, kind) = if v % 5 == 0 {
            ("contract", "-- ebbtide: allow additive\n", "DELETE FROM runs WHERE version < 0;")
        } else {
            ("expand", "", "")
        };
        // Every third runs outside a transaction: exactly once all the same.
        let outside = if v % 3 == 0 { "-- ebbtide: no-transaction\n" } else { "" };
        let sql = format!(
            "{allow}{outside}INSERT INTO runs (version) VALUES ({v});\n{kind}\n{}\n",
            if v % 4 == 0 { slow } else { "" }
        );
        files.push((format!("{branch}/{v:04}_step_{v}.sql"), sql));
    }
    let borrowed: Vec<(&str, &str)> = files.iter().map(|(p, s)| (p.as_str(), s.as_str())).collect();
    Dir::new(&borrowed)
}

/// `count` processes sync `racing_migrations` at once, through the nodes
/// of `urls` in turn; each must succeed, every migration be recorded, and
/// each migration's own insert have run once: no double application.
async fn race_to_sync(db: &Db, urls: &[String], count: usize) {
    let dir = racing_migrations(db);
    let children: Vec<Child> = (0..count).map(|i| spawn(dir.path(), &urls[i % urls.len()], &["sync"])).collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "a racer failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let m = dir.migrations();
    let migrator = Migrator::new(&m);
    assert_eq!(db.versions(&migrator).await, (1..=20).collect::<Vec<_>>());
    let runs = db.strings("SELECT concat(count(*), '/', count(DISTINCT version)) FROM runs").await;
    assert_eq!(runs, ["19/19"]);
    assert_eq!(db.check(&migrator).await.unwrap(), Verdict::Current);
}

/// Promise 1: sixteen processes start at once and sync; every migration is
/// applied exactly once, all sixteen succeed, the version table is complete.
/// On a cluster, they are spread over its nodes.
async fn sixteen_processes_race_to_sync(db: Db) {
    race_to_sync(&db, &db.node_urls(), 16).await;
}

/// Promise 1, mixed: `sync --expand` callers race `check` callers; checks
/// never fail, only report what they see.
async fn expand_syncs_race_startup_checks(db: Db) {
    let dir = racing_migrations(&db);
    let url = db.url();
    let children: Vec<(bool, Child)> = (0..16)
        .map(|i| {
            let sync = i % 2 == 0;
            (sync, spawn(dir.path(), &url, if sync { &["sync", "--expand"] } else { &["check"] }))
        })
        .collect();
    for (sync, child) in children {
        let out = child.wait_with_output().unwrap();
        let code = out.status.code().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        if sync {
            assert_eq!(code, 0, "{stderr}");
        } else {
            assert!([0, 2, 4].contains(&code), "check exited {code}: {stderr}");
        }
    }
    let m = dir.migrations();
    let migrator = Migrator::new(&m);
    let expected: Vec<u32> = (1..=20).filter(|v| v % 5 != 0).collect();
    assert_eq!(db.versions(&migrator).await, expected);
    assert!(matches!(db.check(&migrator).await.unwrap(), Verdict::ContractPending { .. }));
}

/// Promise 2: SIGKILL in the middle of a long migration leaves the database
/// and the version table as before that migration, no lock behind, and the
/// next sync completes the run.
async fn killed_in_a_long_migration(db: Db) {
    let long = format!("CREATE TABLE b (id INTEGER);\n{}\n", db.fixture().long_sql());
    let dir = Dir::new(&[
        ("expand/0001_create_a.sql", "CREATE TABLE a (id INTEGER);\n"),
        ("expand/0002_create_b.sql", &long),
        ("expand/0003_create_c.sql", "CREATE TABLE c (id INTEGER);\n"),
    ]);
    let m = dir.migrations();
    let migrator = Migrator::new(&m);
    let observer = db.reconnect().await;
    let mut child = spawn(dir.path(), &db.url(), &["sync"]);
    // The first migration is committed: the run is in the long one.
    let in_long = until(Duration::from_secs(20), async || {
        observer.records(&migrator).await.is_some_and(|records| records.iter().filter(|r| !r.started()).count() == 1)
    })
    .await;
    assert!(in_long, "the run reached the long migration");
    tokio::time::sleep(Duration::from_millis(200)).await;
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    // No lock survives the process: the server's ends with its session.
    let released = until(Duration::from_secs(10), async || observer.run_lock_free().await).await;
    assert!(released, "the killed run's lock was released");
    if !db.capabilities().transactional_ddl {
        // Its committed CREATE TABLE stays, and the migration stays marked
        // as started after that statement, until an operator resolves it.
        assert_eq!(observer.versions(&migrator).await, [1, 2]);
        assert_eq!(observer.tables().await, ["a", "b"]);
        let rows = observer.status(&migrator).await;
        let stopped = rows[1].stopped.as_ref().expect("where it stopped").to_string();
        assert_eq!(stopped, "stopped after statement 1 of 2; statement 2 may or may not have run");
        let err = observer.run(&migrator, Request::Sync(Scope::All)).await.unwrap_err();
        assert!(matches!(err, Error::Refused(ebbtide::Refusal::Unfinished(_))), "{err}");
        observer.exec("DROP TABLE b").await.unwrap();
        observer.run(&migrator, Request::Resolve(ebbtide::Version::new(2), ebbtide::Outcome::Forgotten)).await.unwrap();
    }
    assert_eq!(observer.versions(&migrator).await, [1], "the killed migration is not recorded");
    assert_eq!(observer.tables().await, ["a"], "nothing of the killed migration remains");
    let report = observer.run(&migrator, Request::Sync(Scope::All)).await.unwrap();
    assert_eq!(report.steps.len(), 2, "the next sync completes the run");
    assert_eq!(observer.tables().await, ["a", "b", "c"]);
}

/// Promise 2, between migrations: runs of many small migrations killed at
/// arbitrary moments never leave a migration applied but unrecorded, or
/// recorded but not applied.
async fn killed_at_arbitrary_moments(db: Db) {
    let files: Vec<(String, String)> = (1..=150)
        .map(|v| {
            (
                format!("expand/{v:04}_create_t{v}.sql"),
                format!("CREATE TABLE t{v} (id INTEGER);\nINSERT INTO t{v} VALUES ({v});\n"),
            )
        })
        .collect();
    let borrowed: Vec<(&str, &str)> = files.iter().map(|(p, s)| (p.as_str(), s.as_str())).collect();
    let dir = Dir::new(&borrowed);
    let m = dir.migrations();
    let migrator = Migrator::new(&m);
    let observer = db.reconnect().await;
    for delay_ms in [40, 90, 170] {
        let mut child = spawn(dir.path(), &db.url(), &["sync"]);
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        let _ = child.kill();
        child.wait().unwrap();
        if observer.sessions().await.is_some() {
            // Whatever the killed client sent before dying still runs: wait
            // until its session is gone (this test holds two connections).
            let gone = until(Duration::from_secs(10), async || observer.sessions().await == Some(2)).await;
            assert!(gone, "the killed session ended");
        }
        if !db.capabilities().transactional_ddl {
            // Where the kill stopped a migration half-way, the operator
            // undoes what it did and says so.
            for record in observer.records(&migrator).await.unwrap_or_default().iter().filter(|r| r.started()) {
                observer.exec(&format!("DROP TABLE IF EXISTS t{}", record.version.get())).await.unwrap();
                let forget = Request::Resolve(record.version, ebbtide::Outcome::Forgotten);
                observer.run(&migrator, forget).await.unwrap();
            }
        }
        let recorded: Vec<String> = observer.versions(&migrator).await.iter().map(|v| format!("t{v}")).collect();
        let mut tables = observer.tables().await;
        tables.sort_by_key(|t| t[1..].parse::<u32>().unwrap_or(0));
        assert_eq!(tables, recorded, "after a kill at {delay_ms} ms, the tables are exactly the recorded migrations'");
    }
    observer.run(&migrator, Request::Sync(Scope::All)).await.unwrap();
    assert_eq!(observer.versions(&migrator).await.len(), 150);
}

/// Users and an `ALTER TABLE users` (or `extra` instead), with a
/// connection holding a lock on `users` in an open transaction; the first
/// migration applied.
async fn behind_a_lock(db: &Db, extra: &str) -> (Dir, Db, i64) {
    let dir = Dir::new(&[
        ("expand/0001_create_users.sql", "CREATE TABLE users (id INTEGER, email TEXT);\n"),
        ("expand/0002_add_users_nick.sql", extra),
    ]);
    db.run(&Migrator::new(&dir.migrations()), Request::Upgrade(ebbtide::Version::new(1))).await.unwrap();
    let holder = db.reconnect().await;
    holder.exec(&db.fixture().hold_lock_sql("users").expect("a lock to hold")).await.unwrap();
    let pid = holder.fixture().session_pid(&holder).expect("a server session");
    (dir, holder, pid)
}

/// The lock retries a run tells its observer: (attempt, blocking pids).
/// Promise 8: by default a migration behind a long transaction waits only
/// its lock timeout per attempt, is rolled back and retried, names the
/// session in the way each time, and goes through once the lock is free:
/// the sync succeeds without a rerun.
async fn a_migration_behind_a_lock_retries_until_it_goes_through(db: Db) {
    if !db.capabilities().lock_timeout {
        return;
    }
    let (dir, holder, pid) = behind_a_lock(&db, "ALTER TABLE users ADD COLUMN nick TEXT;\n").await;
    let m = dir.migrations();
    let (migrator, told) = retries_told(Migrator::new(&m));
    // Released once the migration has given up twice.
    let report = release_after(&holder, &told, 2, || db.run_now(&migrator, Request::Sync(Scope::All)));
    let report = report.unwrap();
    assert_eq!(report.steps.len(), 1, "{report}");
    let told = told.lock().unwrap().clone();
    assert!(told.len() >= 2, "{told:?}");
    assert!(told.iter().enumerate().all(|(i, (attempt, _))| *attempt as usize == i + 1), "{told:?}");
    assert!(
        told.iter().all(|(_, pids)| pids.contains(&pid)),
        "each retry names the session in the way ({pid}): {told:?}"
    );
    assert_eq!(db.versions(&migrator).await, [1, 2]);
    assert_eq!(db.columns("users").await, ["email", "id", "nick"]);
}

/// Promise 8: when the retry budget runs out (or retries are off), the
/// migration fails with who is in the way, unrecorded, and the database is
/// as before it: the directive and the run's options both set it.
async fn a_migration_whose_retries_run_out_fails_naming_the_blocker(db: Db) {
    if !db.capabilities().lock_timeout {
        return;
    }
    // MySQL waits for locks in whole seconds: a budget of 2.5 s holds
    // several attempts there too.
    let directive =
        "-- ebbtide: lock-timeout 100ms\n-- ebbtide: lock-retry 2500ms\nALTER TABLE users ADD COLUMN nick TEXT;\n";
    let (dir, holder, pid) = behind_a_lock(&db, directive).await;
    let m = dir.migrations();
    let (migrator, told) = retries_told(Migrator::new(&m));
    let err = db.run(&migrator, Request::Sync(Scope::All)).await.unwrap_err();
    let Error::MigrationFailed(failure) = &err else { panic!("{err}") };
    assert!(failure.lock_timeout, "{err}");
    assert_eq!(failure.aftermath, Aftermath::RolledBack);
    assert!(failure.message.contains("gave up after") && failure.message.contains("lock-retry budget"), "{err}");
    assert!(failure.message.contains(&format!("in the way: server process {pid}")), "{err}");
    assert!(!told.lock().unwrap().is_empty(), "retried before giving up");
    assert_eq!(db.versions(&migrator).await, [1], "not recorded");
    assert_eq!(db.columns("users").await, ["email", "id"], "nothing of it applied");

    // The run's options, for a migration without directives: retries off.
    dir.write("expand/0002_add_users_nick.sql", "ALTER TABLE users ADD COLUMN nick TEXT;\n");
    let m = dir.migrations();
    let (off, told) =
        retries_told(Migrator::new(&m).lock_timeout(Duration::from_millis(100)).lock_retry(Duration::ZERO));
    let err = db.run(&off, Request::Sync(Scope::All)).await.unwrap_err();
    assert!(err.to_string().contains("lock retries are off"), "{err}");
    assert!(err.to_string().contains(&format!("server process {pid}")), "{err}");
    assert!(told.lock().unwrap().is_empty(), "no retry: {:?}", told.lock().unwrap());
    holder.exec("COMMIT").await.unwrap();
    db.run(&off, Request::Sync(Scope::All)).await.unwrap();
    assert_eq!(db.versions(&off).await, [1, 2]);
}

/// Promise 8, outside a transaction: a `CREATE INDEX CONCURRENTLY` that
/// gives up on a lock leaves an invalid index, which is dropped before the
/// statement is tried again; it goes through once the way is free, and no
/// invalid index is kept.
async fn a_concurrent_index_behind_a_lock_is_retried_without_leftovers(db: Db) {
    if !db.capabilities().lock_timeout {
        return;
    }
    // A concurrent build waits for older transactions, not in a lock
    // queue: it has no lock timeout unless its directive sets one.
    let index = "-- ebbtide: no-transaction\n-- ebbtide: lock-timeout 200ms\n\
                 CREATE INDEX CONCURRENTLY users_email ON users (email);\n";
    let (dir, holder, pid) = behind_a_lock(&db, index).await;
    // A concurrent build waits for the transactions that write the table.
    holder.exec("INSERT INTO users (id) VALUES (0)").await.unwrap();
    let m = dir.migrations();
    let (migrator, told) = retries_told(Migrator::new(&m));
    let report = release_after(&holder, &told, 3, || db.run_now(&migrator, Request::Sync(Scope::All)));
    assert_eq!(report.unwrap().steps.len(), 1);
    let told = told.lock().unwrap().clone();
    assert!(told.iter().any(|(_, pids)| pids.contains(&pid)), "the session in the way is named: {told:?}");
    assert_eq!(db.versions(&migrator).await, [1, 2]);
    assert_eq!(db.fixture().invalid_indexes(&db), Vec::<String>::new(), "no invalid index is kept");
    assert!(db.schema().await.contains(&"index users_email".to_string()), "{:?}", db.schema().await);
}

/// A concurrent index (quoted, mixed case; or in a schema off the
/// search_path) that gave up is not left invalid: its leftover is found and
/// dropped under the name the server knows, and the retry builds it.
async fn a_concurrent_index_by_any_name_that_gave_up_is_built_again(db: Db) {
    if !db.capabilities().lock_timeout || !db.capabilities().schemas {
        return;
    }
    for (table, index) in
        [("users", "IF NOT EXISTS \"Users_Email\" ON users (email)"), ("app.users", "users_email ON app.users (email)")]
    {
        let dir = Dir::new(&[
            (
                "expand/0001_create_users.sql",
                "CREATE SCHEMA app;\nCREATE TABLE users (id INTEGER, email TEXT);\nCREATE TABLE app.users (id INTEGER, email TEXT);\n",
            ),
            (
                "expand/0002_index_users_email.sql",
                &format!(
                    "-- ebbtide: no-transaction\n-- ebbtide: lock-timeout 200ms\nCREATE INDEX CONCURRENTLY {index};\n"
                ),
            ),
        ]);
        let db = db.sibling().await;
        let m = dir.migrations();
        db.run(&Migrator::new(&m), Request::Upgrade(ebbtide::Version::new(1))).await.unwrap();
        let holder = db.reconnect().await;
        holder.exec(&format!("BEGIN; INSERT INTO {table} (id) VALUES (0);")).await.unwrap();
        let (migrator, told) = retries_told(Migrator::new(&m));
        let report = release_after(&holder, &told, 3, || db.run_now(&migrator, Request::Sync(Scope::All)));
        assert_eq!(report.unwrap().steps.len(), 1, "{index}");
        assert!(told.lock().unwrap().len() >= 3, "{index}: retried");
        assert_eq!(db.versions(&migrator).await, [1, 2]);
        assert_eq!(db.fixture().invalid_indexes(&db), Vec::<String>::new(), "{index}: no invalid index is kept");
    }
}

/// By default a concurrent index waits for the transactions before it
/// without a lock timeout (nothing queues behind it): no retry, no rebuild,
/// and it goes through when they end.
async fn a_concurrent_index_waits_for_older_transactions_without_retrying(db: Db) {
    if !db.capabilities().lock_timeout {
        return;
    }
    let index = "-- ebbtide: no-transaction\nCREATE INDEX CONCURRENTLY users_email ON users (email);\n";
    let (dir, holder, _) = behind_a_lock(&db, index).await;
    holder.exec("INSERT INTO users (id) VALUES (0)").await.unwrap();
    let m = dir.migrations();
    let (migrator, told) = retries_told(Migrator::new(&m));
    let report = std::thread::scope(|s| {
        s.spawn(|| {
            // Long enough for a default lock timeout to have given up twice.
            std::thread::sleep(Duration::from_millis(800));
            holder.exec_now("COMMIT").unwrap();
        });
        db.run_now(&migrator, Request::Sync(Scope::All))
    });
    assert_eq!(report.unwrap().steps.len(), 1);
    assert!(told.lock().unwrap().is_empty(), "no retry: {:?}", told.lock().unwrap());
    assert_eq!(db.fixture().invalid_indexes(&db), Vec::<String>::new());
}

/// A no-transaction migration whose only statement gave up on a lock ran
/// nothing: it is not left marked as started, and the next sync applies it.
async fn a_no_transaction_step_that_never_got_its_lock_is_not_left_started(db: Db) {
    if !db.capabilities().lock_timeout {
        return;
    }
    let script = "-- ebbtide: no-transaction\n-- ebbtide: lock-timeout 100ms\n-- ebbtide: lock-retry 300ms\n\
                  ALTER TABLE users ADD COLUMN nick TEXT;\n";
    let (dir, holder, _) = behind_a_lock(&db, script).await;
    let m = dir.migrations();
    let migrator = Migrator::new(&m);
    let err = db.run(&migrator, Request::Sync(Scope::All)).await.unwrap_err();
    let Error::MigrationFailed(failure) = &err else { panic!("{err}") };
    assert_eq!(failure.aftermath, Aftermath::RolledBack, "{err}");
    assert_eq!(db.versions(&migrator).await, [1], "not recorded, not marked as started");
    let verdict = db.check(&migrator).await.unwrap();
    assert!(matches!(&verdict, Verdict::Outdated { missing } if *missing == ["0002_add_users_nick"]), "{verdict}");
    holder.exec("COMMIT").await.unwrap();
    db.run(&migrator, Request::Sync(Scope::All)).await.unwrap();
    assert_eq!(db.versions(&migrator).await, [1, 2]);
}

/// A concurrent index behind an old snapshot of another table: the session
/// in the way is named (it holds no lock on the index's table), and so is
/// the invalid index left when the budget runs out.
async fn a_concurrent_index_behind_an_old_snapshot_names_who_is_in_the_way(db: Db) {
    if !db.capabilities().lock_timeout {
        return;
    }
    let index = "-- ebbtide: no-transaction\n-- ebbtide: lock-timeout 100ms\n-- ebbtide: lock-retry 500ms\n\
                 CREATE INDEX CONCURRENTLY users_email ON users (email);\n";
    let dir = Dir::new(&[
        (
            "expand/0001_create_users.sql",
            "CREATE TABLE users (id INTEGER, email TEXT);\nCREATE TABLE other (id INTEGER);\n",
        ),
        ("expand/0002_index_users_email.sql", index),
    ]);
    let m = dir.migrations();
    let migrator = Migrator::new(&m);
    db.run(&migrator, Request::Upgrade(ebbtide::Version::new(1))).await.unwrap();
    let holder = db.reconnect().await;
    let pid = holder.fixture().session_pid(&holder).expect("a server session");
    holder.exec(&db.fixture().hold_snapshot_sql("other").expect("a snapshot to hold")).await.unwrap();
    let err = db.run(&migrator, Request::Sync(Scope::All)).await.unwrap_err();
    holder.exec("COMMIT").await.unwrap();
    assert!(err.to_string().contains(&format!("server process {pid}")), "{err}");
    assert!(err.to_string().contains("invalid index users_email"), "the leftover is named: {err}");
}

/// A run waiting for the lock another run holds says who holds it and for
/// how long, and gives up after `--lock-wait` with a message that says so.
async fn a_wait_for_the_lock_says_who_holds_it_and_gives_up(db: Db) {
    // Longer than the test: the first run is killed once the second gave up.
    let long = format!("CREATE TABLE b (id INTEGER);\n{}\n", db.endless_sql());
    let dir = Dir::new(&[
        ("expand/0001_create_a.sql", "CREATE TABLE a (id INTEGER);\n"),
        ("expand/0002_create_b.sql", &long),
    ]);
    let m = dir.migrations();
    let migrator = Migrator::new(&m);
    let observer = db.reconnect().await;
    let mut holder = spawn(dir.path(), &db.url(), &["sync"]);
    let started = until(Duration::from_secs(20), async || observer.versions(&migrator).await.starts_with(&[1])).await;
    assert!(started, "the first run is in its long migration");
    let waiter = Command::new(env!("CARGO_BIN_EXE_ebbtide"))
        .arg("--dir")
        .arg(dir.path())
        .args(["--database", &db.url(), "sync", "--lock-wait", "2s"])
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&waiter.stderr);
    assert_eq!(waiter.status.code(), Some(1), "{stderr}");
    let who = db.lock_holder_prefix(holder.id());
    assert!(
        stderr.contains(&format!("waiting for the migration lock on ebbtide_migrations, held by {who}")),
        "{stderr}"
    );
    assert!(stderr.contains("gave up after 2 s waiting for the migration lock on"), "{stderr}");
    assert!(stderr.contains(&format!("held by {who}")), "{stderr}");
    holder.kill().unwrap();
    holder.wait().unwrap();
    // The lock died with its holder: the next run takes it at once.
    if !db.capabilities().transactional_ddl {
        let stopped = until(Duration::from_secs(10), async || observer.run_lock_free().await).await;
        assert!(stopped, "the killed run's lock was released");
        observer.exec("DROP TABLE IF EXISTS b").await.unwrap();
        observer.run(&migrator, Request::Resolve(ebbtide::Version::new(2), ebbtide::Outcome::Forgotten)).await.unwrap();
    }
    dir.write("expand/0002_create_b.sql", "CREATE TABLE b (id INTEGER);\n");
    let quick = dir.migrations();
    let started = Instant::now();
    let report =
        observer.run(&Migrator::new(&quick).lock_wait(Duration::from_secs(10)), Request::Sync(Scope::All)).await;
    assert_eq!(report.unwrap().steps.len(), 1);
    assert!(started.elapsed() < Duration::from_secs(5), "the killed run's lock was gone");
    assert_eq!(observer.versions(&migrator).await, [1, 2]);
}

on_persistent_engines!(
    a_wait_for_the_lock_says_who_holds_it_and_gives_up,
    sixteen_processes_race_to_sync,
    expand_syncs_race_startup_checks,
    killed_in_a_long_migration,
    killed_at_arbitrary_moments,
    a_migration_behind_a_lock_retries_until_it_goes_through,
    a_migration_whose_retries_run_out_fails_naming_the_blocker,
    a_no_transaction_step_that_never_got_its_lock_is_not_left_started,
);

// CREATE INDEX CONCURRENTLY is PostgreSQL's.
on_engine!(
    postgres,
    a_concurrent_index_behind_a_lock_is_retried_without_leftovers,
    a_concurrent_index_by_any_name_that_gave_up_is_built_again,
    a_concurrent_index_waits_for_older_transactions_without_retrying,
    a_concurrent_index_behind_an_old_snapshot_names_who_is_in_the_way,
);

/// Promise 6: a bad database URL fails fast with a clear message.
#[tokio::test]
async fn unreachable_servers_and_unknown_roles_fail_fast() {
    let started = Instant::now();
    // A non-routable address: only the timeout can end the attempt.
    let err =
        ebbtide::postgres::connect("postgres://app:secret@10.255.255.1:5432/app?connect_timeout=1").await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    let text = err.to_string();
    assert!(text.starts_with("cannot connect to postgres://app:***@10.255.255.1:5432/app"), "{text}");
    assert!(!text.contains("secret"), "{text}");

    if support::ServerDatabase::create("postgres").await.is_some() {
        let url = support::with_database(&support::admin_url("postgres"), "postgres").replacen(
            "postgres@",
            "no_such_role@",
            1,
        );
        let err = ebbtide::postgres::connect(&url).await.unwrap_err().to_string();
        assert!(err.contains("role \"no_such_role\" does not exist"), "{err}");
        // Through the registry, inside this test's runtime: an error, not
        // a panic of the runtime it made for the connection.
        for access in [ebbtide::registry::Access::Read, ebbtide::registry::Access::Write] {
            let err = ebbtide::registry::open(&url, access).err().expect("refused").to_string();
            assert!(err.contains("role \"no_such_role\" does not exist"), "{err}");
        }
    }
}

fn load_err(dir: &Path) -> String {
    match Migrations::from_dir(dir, "migrations") {
        Ok(_) => panic!("expected the directory to be refused"),
        Err(d) => d.to_string(),
    }
}

/// Promise 6: hostile migration directories get clear errors, never a
/// panic or a hang.
#[test]
fn hostile_directories_are_refused_clearly() {
    // A symlink to a file outside the directory.
    let outside = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(outside.path(), "CREATE TABLE stolen (id INTEGER);").unwrap();
    let dir = Dir::new(&[("expand/0001_create_users.sql", "CREATE TABLE users (id INTEGER);")]);
    std::os::unix::fs::symlink(outside.path(), dir.path().join("expand/0002_link.sql")).unwrap();
    let err = load_err(dir.path());
    assert!(
        err.contains("0002_link.sql: a symbolic link to") && err.contains("outside the migrations directory"),
        "{err}"
    );

    // A 100 MB file (sparse: nothing is written, nothing is read).
    let dir = Dir::new(&[("expand/0001_create_users.sql", "CREATE TABLE users (id INTEGER);")]);
    let big = std::fs::File::create(dir.path().join("expand/0002_huge.sql")).unwrap();
    big.set_len(100 * 1024 * 1024).unwrap();
    let err = load_err(dir.path());
    assert!(err.contains("0002_huge.sql: the file is 100 MiB; ebbtide reads scripts up to 16 MiB"), "{err}");

    // A file name that is not UTF-8.
    let dir = Dir::new(&[("expand/0001_create_users.sql", "CREATE TABLE users (id INTEGER);")]);
    let name = <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(b"0002_caf\xe9.sql");
    std::fs::write(dir.path().join("expand").join(name), "SELECT 1;").unwrap();
    let err = load_err(dir.path());
    assert!(err.contains("the file name is not valid UTF-8"), "{err}");

    // A down script whose up script is missing.
    let dir = Dir::new(&[
        ("expand/0001_create_users.sql", "CREATE TABLE users (id INTEGER);"),
        ("expand/0002_add_email.down.sql", "ALTER TABLE users DROP COLUMN email;"),
    ]);
    assert!(load_err(dir.path()).contains("0002_add_email.down.sql: a down script without its up script"));
}

/// Promise 6: ten thousand migrations load, in well under a second of work
/// per thousand.
#[test]
fn ten_thousand_migrations_load() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("expand")).unwrap();
    std::fs::create_dir_all(dir.path().join("contract")).unwrap();
    for v in 1..=10_000 {
        std::fs::write(
            dir.path().join(format!("expand/{v:05}_create_t{v}.sql")),
            format!("CREATE TABLE t{v} (id INTEGER);\n"),
        )
        .unwrap();
    }
    let (m, _) = Migrations::from_dir(dir.path(), "migrations").unwrap();
    assert_eq!(m.len(), 10_000);
    assert_eq!(m.latest().get(), 10_000);
    // Each in its place, whole: version, name, branch and SQL.
    for (i, migration) in m.iter().enumerate() {
        let v = i + 1;
        assert_eq!(migration.version.get() as usize, v);
        assert_eq!(migration.name, format!("create_t{v}"));
        assert_eq!(migration.branch, ebbtide::Branch::Expand);
        let statements: Vec<&str> = migration.up.statements().map(|(_, sql)| sql).collect();
        assert_eq!(statements, [format!("CREATE TABLE t{v} (id INTEGER);")]);
    }
    let fingerprints: std::collections::HashSet<&str> = m.iter().map(|m| m.fingerprint.as_ref()).collect();
    assert_eq!(fingerprints.len(), 10_000, "every migration has a fingerprint of its own");
}

/// A pgbouncer of one test's own, on a free loopback port, in front of the
/// test server; stopped when dropped.
struct Pgbouncer {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Pgbouncer {
    /// Starts one in `mode` (`session` or `transaction`), or returns `None`
    /// (after saying so) when pgbouncer is not installed outside CI.
    fn start(mode: &str, pool_size: u32) -> Option<Pgbouncer> {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        if Command::new("pgbouncer").arg("--version").output().is_err() {
            assert!(!support::in_ci(), "pgbouncer is required under CI=true (apt-get install pgbouncer)");
            eprintln!("skipped: pgbouncer is not installed (apt-get install pgbouncer)");
            return None;
        }
        let server: tokio_postgres::Config = support::admin_url("postgres").parse().unwrap();
        let host = match &server.get_hosts()[0] {
            tokio_postgres::config::Host::Tcp(host) => host.clone(),
            other => panic!("a TCP server is needed in front of pgbouncer, not {other:?}"),
        };
        let server_port = server.get_ports().first().copied().unwrap_or(5432);
        let user = server.get_user().unwrap_or("postgres").to_string();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = tempfile::tempdir().unwrap();
        let users = dir.path().join("users.txt");
        std::fs::write(&users, format!("\"{user}\" \"\"\n")).unwrap();
        let ini = dir.path().join("pgbouncer.ini");
        std::fs::write(
            &ini,
            format!(
                "[databases]\n* = host={host} port={server_port}\n[pgbouncer]\nlisten_addr = 127.0.0.1\n\
                 listen_port = {port}\nunix_socket_dir =\nauth_type = trust\nauth_file = {}\npool_mode = {mode}\n\
                 default_pool_size = {pool_size}\nmax_client_conn = 64\nquery_wait_timeout = 20\nignore_startup_parameters = extra_float_digits,options\n",
                users.display()
            ),
        )
        .unwrap();
        // pgbouncer refuses to run as root: it switches to the server's user.
        for path in [dir.path(), &users, &ini] {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
        let mut command = Command::new("pgbouncer");
        if root {
            command.args(["-u", "postgres"]);
        }
        let child = command.arg(&ini).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("start pgbouncer");
        let ready = (0..100).any(|_| {
            std::thread::sleep(Duration::from_millis(50));
            support::listening(port)
        });
        assert!(ready, "pgbouncer listens on {port}");
        Some(Pgbouncer { child, port, _dir: dir })
    }

    /// `url` through this pgbouncer.
    fn url(&self, database: &str) -> String {
        let server: tokio_postgres::Config = support::admin_url("postgres").parse().unwrap();
        let user = server.get_user().unwrap_or("postgres");
        format!("postgres://{user}@127.0.0.1:{}/{database}", self.port)
    }
}

impl Drop for Pgbouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Eight processes race `sync` through pgbouncer, in session and in
/// transaction mode: each holds the run lock in a transaction of its own
/// connection, which a pooler keeps on one server session, so every one
/// succeeds, every migration (no-transaction ones included) is applied
/// exactly once, and no lock stays behind.
async fn racing_through_pgbouncer(db: Db, mode: &str) {
    // In session mode each of a racer's two connections keeps a server
    // session for its life; in transaction mode only the lock's does.
    let pool_size = if mode == "session" { 20 } else { 4 };
    let Some(pooler) = Pgbouncer::start(mode, pool_size) else { return };
    race_to_sync(&db, &[pooler.url(&db.server.as_ref().unwrap().name)], 8).await;
    let locks = db
        .strings(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' \
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        )
        .await;
    assert_eq!(locks, ["0"], "no lock stays behind");
}

/// A library run on one connection through a pooler in transaction mode,
/// handed a server session that holds ebbtide's lock for another client,
/// refuses and names the pooler, instead of taking the lock a second time.
async fn a_session_handed_over_by_a_pooler_is_refused(db: Db) {
    // One server session: every client of the pool gets the same one.
    let Some(pooler) = Pgbouncer::start("transaction", 1) else { return };
    let pooled = pooler.url(&db.server.as_ref().unwrap().name);
    let dir = Dir::new(&[("expand/0001_create_a.sql", "CREATE TABLE a (id INTEGER);\n")]);
    let m = dir.migrations();
    let migrator = Migrator::new(&m);
    let other = ebbtide::postgres::connect(&pooled).await.unwrap();
    let key = ebbtide::dialect::TableName::default().lock_key();
    other.batch_execute(&format!("SELECT pg_advisory_lock({key})")).await.unwrap();
    let mine = ebbtide::postgres::connect(&pooled).await.unwrap();
    let err = migrator.postgres(&mine).sync(Scope::All).await.unwrap_err();
    assert!(err.to_string().contains("already holds ebbtide's migration lock, taken by another client"), "{err}");
    assert!(err.to_string().contains("pool_mode = transaction"), "{err}");
    assert!(db.tables().await.is_empty(), "nothing ran");
    other.batch_execute(&format!("SELECT pg_advisory_unlock({key})")).await.unwrap();
    // With one server session the session cannot move: the run works.
    migrator.postgres(&mine).sync(Scope::All).await.unwrap();
    assert_eq!(db.tables().await, ["a"]);
}

/// Through a pooler in transaction mode the CLI holds its lock in a
/// transaction of another connection. That transaction must not hold a
/// snapshot (which CREATE INDEX CONCURRENTLY waits for, forever: it waits
/// for the run itself) whatever the database's default isolation, and the
/// server's idle-in-transaction timeout must not end it mid-run.
async fn the_lock_transaction_stays_out_of_the_way(db: Db) {
    let Some(pooler) = Pgbouncer::start("transaction", 4) else { return };
    let name = &db.server.as_ref().unwrap().name;
    db.exec(&format!(
        "ALTER DATABASE \"{name}\" SET default_transaction_isolation = 'repeatable read';\n\
         ALTER DATABASE \"{name}\" SET idle_in_transaction_session_timeout = '1s';"
    ))
    .await
    .unwrap();
    let dir = Dir::new(&[
        ("initial/0001_create_a.sql", "CREATE TABLE a (id INTEGER);\n"),
        ("expand/0002_slow.sql", "-- ebbtide: no-transaction\nSELECT pg_sleep(2);\n"),
        ("expand/0003_index_a.sql", "-- ebbtide: no-transaction\nCREATE INDEX CONCURRENTLY a_id ON a (id);\n"),
    ]);
    let mut child = spawn(dir.path(), &pooler.url(name), &["sync", "--lock-timeout", "10s"]);
    let finished = until(Duration::from_secs(60), async || child.try_wait().unwrap().is_some()).await;
    if !finished {
        let _ = child.kill();
    }
    let out = child.wait_with_output().unwrap();
    assert!(finished, "the run hung");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let m = dir.migrations();
    assert_eq!(db.versions(&Migrator::new(&m)).await, [1, 2, 3]);
}

mod pgbouncer {
    use super::*;
    on_engine!(
        postgres,
        the_lock_transaction_stays_out_of_the_way,
        racing_through_pgbouncer_in_session_mode,
        racing_through_pgbouncer_in_transaction_mode,
        a_session_handed_over_by_a_pooler_is_refused,
    );

    async fn racing_through_pgbouncer_in_session_mode(db: Db) {
        racing_through_pgbouncer(db, "session").await;
    }

    async fn racing_through_pgbouncer_in_transaction_mode(db: Db) {
        racing_through_pgbouncer(db, "transaction").await;
    }
}

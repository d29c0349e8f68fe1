//! A MariaDB Galera cluster of three nodes (`EBBTIDE_TEST_GALERA_URLS`,
//! started by `tests/galera/cluster.sh`): what is true of a cluster and
//! not of one server. Reads through one node see what was committed
//! through another; a node that is not Synced is refused; DDL does not wait
//! behind transactions, it aborts them; a runner whose node dies leaves the
//! version table saying what happened, and another node finishes the run.
//!
//! The engine scenarios of the other suites run on the cluster too (its
//! target is `mysql (Galera cluster)`).

mod support;

use std::time::{Duration, Instant};

use ebbtide::{Migrator, Request, Scope, Verdict};
use support::{Db, Dir, Place, Target};

/// The tests of this file take the cluster in turn: one stops a node.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn cluster() -> Option<Db> {
    let engine = ebbtide::registry::ENGINES.iter().find(|e| e.name == "mysql").expect("the mysql engine");
    Db::open(Target { engine, place: Place::Cluster }).await
}

/// Runs `tests/galera/cluster.sh` with `args`.
fn cluster_sh(args: &[&str]) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/galera/cluster.sh");
    let mut command = std::process::Command::new("bash");
    command.arg(script).args(args);
    if let Ok(dir) = std::env::var("EBBTIDE_TEST_GALERA_DIR") {
        command.arg(dir);
    }
    let out = command.output().expect("run cluster.sh");
    assert!(out.status.success(), "cluster.sh {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_through_another_node_sees_a_sync_at_once() {
    let _serial = SERIAL.lock().await;
    let Some(db) = cluster().await else { return };
    let other = db.on_node(1).await;
    let dir = Dir::new(&[]);
    // Each sync through node 1 is followed at once by a startup check
    // through node 2, which must see it: without causal reads, node 2
    // answers from what it has applied so far, a moment behind.
    for v in 1..=25 {
        dir.write(&format!("expand/{v:04}_insert_{v}.sql"), &format!("INSERT INTO seen VALUES ({v});\n"));
        if v == 1 {
            dir.write("expand/0001_insert_1.sql", "CREATE TABLE seen (v INTEGER PRIMARY KEY);\n");
        }
        let m = dir.migrations();
        let migrator = Migrator::new(&m);
        db.run(&migrator, Request::Sync(Scope::All)).await.unwrap();
        assert_eq!(other.check(&migrator).await.unwrap(), Verdict::Current, "right after sync {v}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_names_the_cluster_and_the_node_s_state() {
    let _serial = SERIAL.lock().await;
    let Some(db) = cluster().await else { return };
    let dir = Dir::new(&[("expand/0001_create_a.sql", "CREATE TABLE a (id INTEGER PRIMARY KEY);\n")]);
    let m = dir.migrations();
    let info = db.version(&Migrator::new(&m)).await.unwrap();
    assert_eq!(info.cluster.as_deref(), Some("Galera cluster of 3 nodes; this node Synced, in the Primary component"));
    assert!(info.to_string().ends_with("; Galera cluster of 3 nodes; this node Synced, in the Primary component"));
}

/// Starts node N again when dropped, even when the test fails.
struct Restart(u32);

impl Drop for Restart {
    fn drop(&mut self) {
        cluster_sh(&["start-node", &self.0.to_string()]);
    }
}

/// Turns a node's `wsrep_desync` back off, even when the test fails.
struct Desynced<'a>(&'a Db);

impl Drop for Desynced<'_> {
    fn drop(&mut self) {
        let _ = self.0.exec_now("SET GLOBAL wsrep_desync = OFF");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_migration_runs_through_a_node_that_is_not_synced() {
    let _serial = SERIAL.lock().await;
    let Some(db) = cluster().await else { return };
    let third = db.on_node(2).await;
    third.exec("SET GLOBAL wsrep_desync = ON").await.unwrap();
    let _desynced = Desynced(&third);
    let dir = Dir::new(&[("expand/0001_create_a.sql", "CREATE TABLE a (id INTEGER PRIMARY KEY);\n")]);
    let m = dir.migrations();
    let migrator = Migrator::new(&m);
    let err = third.run(&migrator, Request::Sync(Scope::All)).await.unwrap_err().to_string();
    assert!(err.contains("this node of the Galera cluster is Donor/Desynced in a Primary component"), "{err}");
    assert!(err.contains("use a node that is Synced"), "{err}");
    assert_eq!(db.tables().await, Vec::<String>::new(), "nothing ran");
    // The other nodes migrate.
    db.run(&migrator, Request::Sync(Scope::All)).await.unwrap();
    assert_eq!(db.versions(&migrator).await, [1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ddl_does_not_wait_behind_a_transaction_it_aborts_it() {
    let _serial = SERIAL.lock().await;
    let Some(db) = cluster().await else { return };
    let dir = Dir::new(&[
        ("expand/0001_create_users.sql", "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);\n"),
        ("expand/0002_add_users_email.sql", "ALTER TABLE users ADD COLUMN email TEXT;\n"),
    ]);
    let m = dir.migrations();
    let migrator = Migrator::new(&m);
    db.run(&migrator, Request::Upgrade(ebbtide::Version::new(1))).await.unwrap();
    // The application writes through node 2, in a transaction left open.
    let app = db.on_node(1).await;
    app.exec("START TRANSACTION").await.unwrap();
    app.exec("INSERT INTO users (id, name) VALUES (1, 'ada')").await.unwrap();
    let started = Instant::now();
    db.run(&migrator, Request::Sync(Scope::All)).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(5), "the migration waited: {:?}", started.elapsed());
    // The transaction in its way was aborted: the application retries it.
    let err = app.exec("COMMIT").await.unwrap_err();
    assert!(err.contains("Deadlock") || err.contains("1213"), "{err}");
    app.exec("INSERT INTO users (id, name, email) VALUES (1, 'ada', 'ada@example.com')").await.unwrap();
    // Read through node 1 once it applied what node 2 committed.
    assert_eq!(db.rows("SET STATEMENT wsrep_sync_wait = 1 FOR SELECT count(*) FROM users"), ["1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runner_whose_node_dies_fails_cleanly_and_another_node_finishes_the_run() {
    let _serial = SERIAL.lock().await;
    let Some(db) = cluster().await else { return };
    let dir = Dir::new(&[
        ("expand/0001_create_a.sql", "CREATE TABLE a (id INTEGER PRIMARY KEY);\n"),
        ("expand/0002_create_b.sql", "CREATE TABLE b (id INTEGER PRIMARY KEY);\nSELECT SLEEP(60);\n"),
        ("expand/0003_create_c.sql", "CREATE TABLE c (id INTEGER PRIMARY KEY);\n"),
    ]);
    let m = dir.migrations();
    let migrator = Migrator::new(&m);
    let third = db.on_node(2).await;
    let run = {
        let m = m.clone();
        tokio::spawn(async move {
            let migrator = Migrator::new(&m);
            third.run(&migrator, Request::Sync(Scope::All)).await.map(|_| ()).map_err(|e| e.to_string())
        })
    };
    // Its first statement done and recorded: the run sleeps in the second.
    let in_sleep = support::until(Duration::from_secs(20), async || {
        db.status(&migrator)
            .await
            .get(1)
            .and_then(|row| row.stopped.as_ref())
            .is_some_and(|stopped| stopped.to_string().starts_with("stopped after statement 1 of 2"))
    })
    .await;
    assert!(in_sleep, "the run reached its second migration's second statement");
    cluster_sh(&["kill-node", "3"]);
    // Node 3 comes back whatever happens, for the tests after this one.
    let restart = Restart(3);
    let outcome = tokio::time::timeout(Duration::from_secs(30), run).await.expect("the run ends").unwrap();
    let err = outcome.expect_err("a run whose node died fails");
    assert!(err.contains("0002_create_b"), "{err}");

    // Through node 1: the version table says exactly where it stopped.
    let rows = db.status(&migrator).await;
    assert_eq!(
        rows[1].stopped.as_ref().map(ToString::to_string).as_deref(),
        Some("stopped after statement 1 of 2; statement 2 may or may not have run")
    );
    assert_eq!(db.tables().await, ["a", "b"]);
    // The operator undoes it, and another node finishes the run once the
    // dead runner's lock expired.
    db.exec("DROP TABLE b").await.unwrap();
    db.run(&migrator, Request::Resolve(ebbtide::Version::new(2), ebbtide::Outcome::Forgotten)).await.unwrap();
    dir.write("expand/0002_create_b.sql", "CREATE TABLE b (id INTEGER PRIMARY KEY);\n");
    let m = dir.migrations();
    let migrator = Migrator::new(&m);
    let report = db.run(&migrator.clone().lock_wait(Duration::from_secs(120)), Request::Sync(Scope::All)).await;
    assert_eq!(report.unwrap().steps.len(), 2);

    // The dead node rejoins and agrees.
    drop(restart);
    let rejoined = db.on_node(2).await;
    assert_eq!(rejoined.versions(&migrator).await, [1, 2, 3]);
    assert_eq!(rejoined.check(&migrator).await.unwrap(), Verdict::Current);
    assert_eq!(rejoined.tables().await, ["a", "b", "c"]);
}

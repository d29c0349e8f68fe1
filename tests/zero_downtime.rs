//! Zero downtime under load, shortened: `cargo run --release --example
//! zero_downtime` with 20,000 rows and a blocker holding its transactions
//! for 1.5 s, on SQLite, on PostgreSQL, on MySQL/MariaDB and on a MariaDB
//! Galera cluster. Asserts counts only, never a timing: no failed write or
//! read, no wrong read, both syncs through at their first run, a lock retry
//! naming the blocker (PostgreSQL, MySQL), release 1 refusing the
//! contracted schema; on Galera, writes aborted by the schema changes
//! tried again, and counted as failed when the application does not.
//!
//! The migrations run in a child process, which is this program run again
//! (see `load::sync_child`): hence a `main` of its own (`harness = false`).

mod support;

use std::process::ExitCode;
use std::time::Duration;

use ebbtide_examples::load::{self, Engine, Options, Outcome};

/// The shortened scenario's options.
fn shortened(engine: Engine, url: String) -> Options {
    let mut options = Options::new(engine, url);
    options.rows = 20_000;
    // Long enough that a sync started as the blocker opens a transaction
    // meets it even on a slow machine: its lock timeout is 250 ms.
    options.hold = Duration::from_millis(1500);
    options.gap = Duration::from_millis(300);
    options.settle = Duration::from_millis(700);
    options.reruns = 0;
    options
}

/// The promises the scenario keeps, whatever the timings.
fn assert_promises(outcome: &Outcome) {
    print!("{outcome}");
    assert_eq!(outcome.failed_writes, 0, "failed writes: {:?}", outcome.samples);
    assert_eq!(outcome.failed_reads, 0, "failed reads: {:?}", outcome.samples);
    assert_eq!(outcome.wrong_reads, 0, "wrong reads: {:?}", outcome.samples);
    assert_eq!(outcome.wrong_rows, 0, "wrong rows: {:?}", outcome.samples);
    assert!(outcome.rows_checked > 20_000, "every seeded row and every written row is checked");
    assert!(outcome.expand.first_time(), "sync --expand: {:?}", outcome.expand);
    assert!(outcome.expand.batches >= 2, "the backfill ran in batches: {:?}", outcome.expand);
    assert!(outcome.contract.first_time(), "sync --contract: {:?}", outcome.contract);
    assert!(outcome.old_release_after_expand.contains("rolling upgrade is under way"), "{outcome}");
    assert!(outcome.old_release_refused, "release 1 serves on the contracted schema: {outcome}");
    assert!(outcome.old_release_after_contract.contains("contracted by a newer release"), "{outcome}");
}

/// SQLite in WAL mode, the syncs in a child process: no lock is in the way
/// (readers never block a writer), so nothing is retried.
fn two_releases_under_load_through_expand_and_contract_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db").display().to_string();
    let outcome = load::run(&shortened(Engine::Sqlite, path)).unwrap_or_else(|e| panic!("{}", load::chain(&*e)));
    assert_promises(&outcome);
    assert_eq!(outcome.expand.retries + outcome.contract.retries, 0, "{outcome}");
}

/// PostgreSQL: both syncs find the blocker's transaction in the way, give up
/// after the lock timeout, say who holds the lock, and go through on a retry.
fn two_releases_under_load_through_expand_and_contract_on_postgres(runtime: &tokio::runtime::Runtime) {
    let Some(db) = runtime.block_on(support::ServerDatabase::create("postgres")) else { return };
    let outcome =
        load::run(&shortened(Engine::Postgres, db.url.clone())).unwrap_or_else(|e| panic!("{}", load::chain(&*e)));
    assert_promises(&outcome);
    assert!(outcome.expand.retries >= 1, "sync --expand met the blocker: {outcome}");
    assert!(outcome.contract.retries >= 1, "sync --contract met the blocker: {outcome}");
    let named = outcome.blockers().iter().any(|b| b.starts_with(load::BLOCKER));
    assert!(named, "the retries name the blocker: {:?}", outcome.blockers());
}

/// MySQL/MariaDB: the same as PostgreSQL, with a lock timeout of a whole
/// second (MySQL's `lock_wait_timeout` counts seconds). MySQL has no
/// `application_name`: the retries name the blocker's session by its user
/// and host, and as idle (`Sleep`) in its transaction.
fn two_releases_under_load_through_expand_and_contract_on_mysql(runtime: &tokio::runtime::Runtime) {
    let Some(db) = runtime.block_on(support::ServerDatabase::create("mysql")) else { return };
    let mut options = shortened(Engine::Mysql, db.url.clone());
    // A sync waits a whole second before it gives up: it meets the
    // blocker only if it starts within `hold` - 1 s of a transaction's
    // start.
    options.hold = Duration::from_millis(2500);
    let outcome = load::run(&options).unwrap_or_else(|e| panic!("{}", load::chain(&*e)));
    assert_promises(&outcome);
    assert!(outcome.expand.retries >= 1, "sync --expand met the blocker: {outcome}");
    assert!(outcome.contract.retries >= 1, "sync --contract met the blocker: {outcome}");
    let named = outcome.blockers().iter().any(|b| b.ends_with("(Sleep)"));
    assert!(named, "the retries name the blocker: {:?}", outcome.blockers());
}

/// The shortened scenario on a database of its own on the Galera test
/// cluster, through every node, or `None` (after saying so) without one.
fn on_galera(runtime: &tokio::runtime::Runtime, write_retries: u32) -> Option<Outcome> {
    let nodes = support::galera_urls()?;
    let db = runtime.block_on(support::ServerDatabase::create_on("mysql", &nodes[0]))?;
    let mut options = shortened(Engine::Galera, db.url.clone());
    options.nodes = nodes.iter().map(|node| support::with_database(node, &db.name)).collect();
    // One instance of each release through each node.
    options.writers = nodes.len();
    options.write_retries = write_retries;
    // A backfill batch that Galera aborts (1213: a writer's row in its
    // range, written through another node) is tried again by ebbtide:
    // the sync goes through the first time.
    options.reruns = 0;
    let outcome = load::run(&options).unwrap_or_else(|e| panic!("{}", load::chain(&*e)));
    print!("{outcome}");
    assert_eq!(outcome.nodes.len(), nodes.len(), "{outcome}");
    for (i, node) in outcome.nodes.iter().enumerate() {
        assert_eq!(node.writers, 2, "one instance of each release through node {}", i + 1);
    }
    // Aborts are counted, and nothing else failed: every failed write or
    // read is one the server aborted and the application did not try
    // again often enough.
    let node_failures: u64 = outcome.nodes.iter().map(|n| n.failed_writes).sum();
    assert_eq!(node_failures, outcome.failed_writes, "{outcome}");
    let node_retries: u64 = outcome.nodes.iter().map(|n| n.retried_writes).sum();
    assert_eq!(node_retries, outcome.retried_writes, "{outcome}");
    assert!(outcome.failed_writes <= outcome.aborted_writes, "a write failed otherwise: {:?}", outcome.samples);
    assert!(outcome.failed_reads <= outcome.aborted_reads, "a read failed otherwise: {:?}", outcome.samples);
    // Whatever failed, every row that was written reads as written, and
    // the upgrade itself went through: the schema changes waited for no
    // transaction, so there was no lock to retry.
    assert_eq!(outcome.wrong_reads, 0, "wrong reads: {:?}", outcome.samples);
    assert_eq!(outcome.wrong_rows, 0, "wrong rows: {:?}", outcome.samples);
    for sync in [&outcome.expand, &outcome.contract] {
        assert!(sync.succeeded && sync.errors.is_empty(), "{sync:?}");
    }
    assert!(outcome.expand.batches >= 2, "the backfill ran in batches: {:?}", outcome.expand);
    assert!(outcome.old_release_after_expand.contains("rolling upgrade is under way"), "{outcome}");
    assert!(outcome.old_release_refused, "release 1 serves on the contracted schema: {outcome}");
    Some(outcome)
}

/// A MariaDB Galera cluster, the migrations through node 1, one instance
/// of each release writing through each node, the blocker on node 3. A
/// schema change waits for no transaction there: it aborts the ones in its
/// way on every node (error 1213), the blocker's and any writer's
/// statement it meets. The application tries an aborted operation again:
/// no write fails, and the writers through every node keep going through
/// expand and after contract. A backfill batch can be aborted too (a
/// writer's row in its range): ebbtide tries it again.
fn two_releases_under_load_through_expand_and_contract_on_galera(runtime: &tokio::runtime::Runtime) {
    let Some(outcome) = on_galera(runtime, 5) else { return };
    assert_eq!(outcome.failed_writes, 0, "failed writes: {:?}", outcome.samples);
    assert_eq!(outcome.failed_reads, 0, "failed reads: {:?}", outcome.samples);
    assert_eq!(outcome.retried_writes, outcome.aborted_writes, "every aborted write was tried again: {outcome}");
    for (i, node) in outcome.nodes.iter().enumerate() {
        let [before, expand, _, _, after] = node.phase_ops[..] else { panic!("five phases: {:?}", node.phase_ops) };
        assert!(before > 0 && expand > 0 && after > 0, "the writers through node {} stopped: {outcome}", i + 1);
    }
}

/// The same without the application's retries: each operation aborted
/// fails, and is counted so; nothing else fails.
fn galera_without_retries_counts_each_aborted_write_as_failed(runtime: &tokio::runtime::Runtime) {
    let Some(outcome) = on_galera(runtime, 0) else { return };
    assert_eq!(outcome.retried_writes + outcome.retried_reads, 0, "{outcome}");
    assert_eq!(outcome.failed_writes, outcome.aborted_writes, "{:?}", outcome.samples);
    assert_eq!(outcome.failed_reads, outcome.aborted_reads, "{:?}", outcome.samples);
}

fn main() -> ExitCode {
    if let Some(code) = load::sync_child() {
        return code;
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let tests: [(&str, &dyn Fn()); 5] = [
        ("two_releases_under_load_through_expand_and_contract_on_sqlite", &|| {
            two_releases_under_load_through_expand_and_contract_on_sqlite()
        }),
        ("two_releases_under_load_through_expand_and_contract_on_postgres", &|| {
            two_releases_under_load_through_expand_and_contract_on_postgres(&runtime)
        }),
        ("two_releases_under_load_through_expand_and_contract_on_mysql", &|| {
            two_releases_under_load_through_expand_and_contract_on_mysql(&runtime)
        }),
        ("two_releases_under_load_through_expand_and_contract_on_galera", &|| {
            two_releases_under_load_through_expand_and_contract_on_galera(&runtime)
        }),
        ("galera_without_retries_counts_each_aborted_write_as_failed", &|| {
            galera_without_retries_counts_each_aborted_write_as_failed(&runtime)
        }),
    ];
    // `cargo test NAME` passes a filter; `--list` and other flags of the
    // usual harness are accepted and ignored.
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        for (name, _) in tests {
            println!("{name}: test");
        }
        return ExitCode::SUCCESS;
    }
    let filter: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let mut failed = 0;
    for (name, test) in tests {
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        println!("test {name} ...");
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(test)) {
            Ok(()) => println!("test {name} ... ok"),
            Err(_) => {
                println!("test {name} ... FAILED");
                failed += 1;
            }
        }
    }
    if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

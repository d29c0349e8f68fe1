#![deny(warnings)]

//! A real project's history as `initial/` migrations: 331 PostgreSQL schema
//! files of Matrix Synapse (Apache-2.0; see fixtures/real_history/README.md)
//! embed with `embed_migrations!` and apply, in order, on PostgreSQL.

mod support;

use std::path::Path;

use ebbtide::{Branch, How, Migrator, Scope, Verdict};

ebbtide::embed_migrations!("fixtures/real_history/migrations");

use migrations::MIGRATIONS;

const INITIAL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/real_history/migrations/initial");

/// The `.sql` files of the fixture's `initial/`.
fn files() -> usize {
    std::fs::read_dir(Path::new(INITIAL))
        .expect("read the fixture")
        .map(|e| e.expect("read the fixture").file_name().into_string().expect("UTF-8 file name"))
        .filter(|name| name.ends_with(".sql") && !name.starts_with('.'))
        .count()
}

#[test]
fn every_file_is_embedded_in_order() {
    let n = files();
    assert!(n >= 300, "the fixture holds {n} files");
    assert_eq!(MIGRATIONS.len(), n, "one embedded migration per file");
    for (i, m) in MIGRATIONS.iter().enumerate() {
        assert_eq!(m.version.get() as usize, i + 1, "{}", m.name);
        assert_eq!(m.branch, Branch::Initial, "{}", m.name);
    }
    let names: Vec<&str> = MIGRATIONS.iter().map(|m| m.name.as_ref()).collect();
    assert_eq!(names[0], "common_schema_version");
    assert_eq!(names[n - 1], "delta_83_06_event_push_summary_room");
}

async fn exists(client: &tokio_postgres::Client, relation: &str) -> bool {
    let row = client.query_one("SELECT to_regclass($1) IS NOT NULL", &[&relation]).await.expect("to_regclass");
    row.get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_history_applies_on_postgres() {
    let Some(pg) = support::ServerDatabase::create("postgres").await else { return };
    let client = ebbtide::postgres::connect(&pg.url).await.expect("connect to the test database");
    let m = Migrator::new(&MIGRATIONS);
    let n = MIGRATIONS.len();

    let started = std::time::Instant::now();
    let report = m.postgres(&client).sync(Scope::All).await.unwrap_or_else(|e| panic!("sync: {e}"));
    eprintln!("applied {n} migrations in {:?}", started.elapsed());
    assert!(report.created_table);
    assert_eq!(report.steps.iter().filter(|s| !s.skipped).count(), n, "{report}");

    let records = m.postgres(&client).records().await.unwrap().expect("the version table exists");
    assert_eq!(records.len(), n);
    assert!(records.iter().enumerate().all(|(i, r)| r.version.get() as usize == i + 1 && r.how == Some(How::Applied)));
    let rows: i64 = client.query_one("SELECT count(*) FROM ebbtide_migrations", &[]).await.unwrap().get(0);
    assert_eq!(rows, n as i64);
    assert_eq!(m.postgres(&client).check().await.unwrap(), Verdict::Current);

    // Tables from the full schema 16, from deltas, and one a late delta drops.
    for table in ["events", "room_memberships", "schema_version", "worker_read_write_locks"] {
        assert!(exists(&client, table).await, "table {table} exists");
    }
    assert!(!exists(&client, "event_txn_id").await, "delta 83 dropped event_txn_id");
    let locked: i64 = client
        .query_one(
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'locked'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(locked, 1, "delta 80 added users.locked");

    let again = m.postgres(&client).sync(Scope::All).await.unwrap();
    assert!(again.is_empty(), "{again}");
}

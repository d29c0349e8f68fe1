//! Batched backfills (`-- ebbtide: backfill <table>.<key> <batch-size>`),
//! on every engine: every row updated exactly once, in batches each
//! committed with its progress; the migration recorded only after the last
//! batch; a failing batch or a killed run leaves progress at a batch
//! boundary, and the next sync resumes there; the application's writes go
//! through while a backfill runs.
//!
//! Compiled as an integration test of the `ebbtide` package (see its
//! Cargo.toml), so cargo builds the binary the killed runs are.

mod support;

use std::path::Path;
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ebbtide::status::State;
use ebbtide::{Aftermath, Error, Event, Migrator, Request, Scope, Verdict};
use support::{Db, Dir, until};

/// `t` with an old column `v`; this release adds `w` (which the backfill
/// fills with `v * 2`, and whose CHECK refuses -2, so a row with `v = -1`
/// makes its batch fail) and `runs` (which
/// counts the updates of each row), then backfills them by `id`.
fn backfill_migrations(batch: u32) -> Dir {
    Dir::new(&[
        ("initial/0001_create_t.sql", "CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER NOT NULL);\n"),
        (
            "expand/0002_add_t_w.sql",
            "ALTER TABLE t ADD COLUMN w INTEGER CHECK (w <> -2);\nALTER TABLE t ADD COLUMN runs INTEGER NOT NULL DEFAULT 0;\n",
        ),
        (
            "expand/0003_backfill_t_w.sql",
            &format!(
                "-- Fills w, in batches.\n-- ebbtide: backfill t.id {batch}\n\
                 UPDATE t SET w = v * 2, runs = runs + 1 WHERE id > :after AND id <= :upto;\n"
            ),
        ),
    ])
}

/// `count` rows, with keys from -7 on in steps of 3 (negative keys, gaps)
/// and `v = i` for the i-th row (from 1).
/// Inserted a thousand at a time: MariaDB stops a recursive query after
/// 1000 iterations by default.
async fn fill(db: &Db, count: u32) {
    for start in (0..count).step_by(1000) {
        let end = count.min(start + 1000);
        db.exec(&format!(
            "INSERT INTO t (id, v) WITH RECURSIVE n(i) AS (SELECT {} UNION ALL SELECT i + 1 FROM n WHERE i < {end}) \
             SELECT 3 * i - 10, i FROM n",
            start + 1
        ))
        .await
        .unwrap();
    }
}

async fn count(db: &Db, sql: &str) -> i64 {
    db.strings(sql).await[0].parse().unwrap()
}

/// The progress rows: "version key_done batches".
async fn progress(db: &Db) -> Vec<String> {
    db.strings(
        "SELECT concat(version, ' ', key_done, ' ', batches) \
         FROM ebbtide_migrations_progress",
    )
    .await
}

/// Applies the schema before the backfill (versions 1 and 2), then `rows` rows.
async fn prepared(db: &Db, migrator: &Migrator<'_>, rows: u32) {
    db.run(migrator, Request::Upgrade(2.into())).await.unwrap();
    fill(db, rows).await;
}

/// 50,000 rows in batches of 1,000: fifty batches, each told to the
/// observer with a key above the last, every row updated exactly once,
/// and the migration recorded once the last is done.
async fn a_backfill_updates_every_row_exactly_once_in_batches(db: Db) {
    let dir = backfill_migrations(1000);
    let m = dir.migrations();
    let batches = Arc::new(Mutex::new(Vec::new()));
    let told = batches.clone();
    let migrator = Migrator::new(&m).observe(move |event| {
        if let Event::Batch { batches, reached, end, .. } = event {
            told.lock().unwrap().push((*batches, *reached, *end));
        }
    });
    prepared(&db, &migrator, 50_000).await;
    let report = db.run(&migrator, Request::Sync(Scope::Expand)).await.unwrap();
    assert_eq!(report.steps.len(), 1);
    assert_eq!(db.versions(&migrator).await, [1, 2, 3]);
    assert_eq!(count(&db, "SELECT count(*) FROM t WHERE runs = 1 AND w = 2 * v").await, 50_000);
    assert_eq!(count(&db, "SELECT count(*) FROM t WHERE runs <> 1 OR w IS NULL").await, 0);
    let batches = batches.lock().unwrap().clone();
    assert_eq!(batches.len(), 50, "{batches:?}");
    let last_key = 3 * 50_000 - 10;
    for (i, (n, reached, end)) in batches.iter().enumerate() {
        assert_eq!(*n, i as u64 + 1);
        assert_eq!(*reached, 3 * 1000 * (i as i64 + 1) - 10, "batch {n} ends after 1,000 rows");
        assert_eq!(*end, last_key);
    }
    assert!(progress(&db).await.is_empty(), "the progress of a recorded backfill is gone");
    assert_eq!(db.check(&migrator).await.unwrap(), Verdict::Current);
}

/// A batch that fails (a row that breaks w's CHECK) rolls back alone: the
/// batches before it stay, with their progress, the migration is not
/// recorded and the startup check says the schema is behind; status
/// shows the backfill and its key; once the row is fixed, sync resumes
/// after the last batch done: every row ends updated exactly once.
async fn a_failing_batch_stops_at_a_batch_boundary_and_sync_resumes(db: Db) {
    let dir = backfill_migrations(1000);
    let m = dir.migrations();
    let migrator = Migrator::new(&m);
    prepared(&db, &migrator, 50_000).await;
    // The 33,333rd row's w would be -2: batch 34 fails.
    db.exec("UPDATE t SET v = -1 WHERE v = 33333").await.unwrap();
    let err = db.run(&migrator, Request::Sync(Scope::Expand)).await.unwrap_err();
    let Error::MigrationFailed(failure) = &err else { panic!("{err}") };
    assert_eq!(failure.aftermath, Aftermath::BatchRolledBack, "{err}");
    assert!(err.to_string().contains("resumes after the last batch done"), "{err}");
    assert!(failure.statement.contains("id > 98990 AND id <= 101990"), "{}", failure.statement);
    assert_eq!(db.versions(&migrator).await, [1, 2], "a backfill under way is not recorded");
    let done = 3 * 33_000 - 10;
    assert_eq!(progress(&db).await, [format!("3 {done} 33")]);
    assert_eq!(count(&db, &format!("SELECT count(*) FROM t WHERE runs = 1 AND id <= {done}")).await, 33_000);
    assert_eq!(count(&db, &format!("SELECT count(*) FROM t WHERE runs = 0 AND id > {done}")).await, 17_000);
    assert!(matches!(db.check(&migrator).await.unwrap(), Verdict::Outdated { .. }));
    let rows = db.status(&migrator).await;
    assert_eq!((rows[2].state, rows[2].backfilled_to), (State::Backfilling, Some(done)));
    assert!(ebbtide::status::table(&rows).contains(&format!("backfilling, up to key {done}")));

    db.exec("UPDATE t SET v = 0 WHERE v = -1").await.unwrap();
    db.run(&migrator, Request::Sync(Scope::Expand)).await.unwrap();
    assert_eq!(db.versions(&migrator).await, [1, 2, 3]);
    assert_eq!(count(&db, "SELECT count(*) FROM t WHERE runs = 1 AND w = 2 * v").await, 50_000);
    assert!(progress(&db).await.is_empty());
}

/// A downgrade below a backfill under way forgets its progress (what it
/// filled may be gone): the backfill then starts again from the first row.
async fn a_downgrade_below_a_backfill_under_way_forgets_its_progress(db: Db) {
    let dir = backfill_migrations(1000);
    dir.write("expand/0002_add_t_w.down.sql", "ALTER TABLE t DROP COLUMN runs;\nALTER TABLE t DROP COLUMN w;\n");
    let m = dir.migrations();
    let migrator = Migrator::new(&m);
    prepared(&db, &migrator, 5_000).await;
    db.exec("UPDATE t SET v = -1 WHERE v = 2500").await.unwrap();
    assert!(db.run(&migrator, Request::Sync(Scope::Expand)).await.is_err());
    assert_eq!(progress(&db).await.len(), 1);
    db.run(&migrator, Request::Downgrade(1.into())).await.unwrap();
    assert!(progress(&db).await.is_empty(), "a downgrade below it forgets it");
    db.exec("UPDATE t SET v = 1 WHERE v = -1").await.unwrap();
    db.run(&migrator, Request::Sync(Scope::Expand)).await.unwrap();
    assert_eq!(count(&db, "SELECT count(*) FROM t WHERE runs = 1 AND w = 2 * v").await, 5_000);
}

fn spawn(dir: &Path, url: &str, args: &[&str]) -> Child {
    support::spawn_cli(env!("CARGO_BIN_EXE_ebbtide"), dir, url, args)
}

/// The last key done of the backfill under way, as `status` tells it
/// (`None` before its first batch and once it is recorded).
async fn key_done(db: &Db, migrator: &Migrator<'_>) -> Option<i64> {
    db.status(migrator).await[2].backfilled_to
}

/// SIGKILL in the middle of a backfill: the rows up to the recorded key
/// are updated once, none above it, the migration is not recorded, and the
/// next sync resumes: every row ends updated exactly once.
async fn a_killed_backfill_resumes_without_redoing_or_skipping_rows(db: Db) {
    let dir = backfill_migrations(100);
    let m = dir.migrations();
    let migrator = Migrator::new(&m);
    let observer = db.reconnect().await;
    observer.run(&migrator, Request::Upgrade(2.into())).await.unwrap();
    fill(&observer, 200_000).await;
    let mut child = spawn(dir.path(), &db.url(), &["sync", "--expand"]);
    let under_way =
        until(Duration::from_secs(30), async || key_done(&observer, &migrator).await.is_some_and(|k| k > 3000)).await;
    assert!(under_way, "the backfill got under way");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let released = until(Duration::from_secs(10), async || observer.run_lock_free().await).await;
    assert!(released, "the killed run's lock was released");
    assert_eq!(observer.versions(&migrator).await, [1, 2], "the killed backfill is not recorded");
    let done = key_done(&observer, &migrator).await.unwrap();
    assert!(done < 3 * 200_000 - 10, "killed before its end");
    assert_eq!((done + 10) % 300, 0, "progress stops at a batch boundary: {done}");
    let below = count(&observer, &format!("SELECT count(*) FROM t WHERE id <= {done}")).await;
    assert_eq!(count(&observer, &format!("SELECT count(*) FROM t WHERE id <= {done} AND runs = 1")).await, below);
    assert_eq!(count(&observer, &format!("SELECT count(*) FROM t WHERE id > {done} AND runs <> 0")).await, 0);

    observer.run(&migrator, Request::Sync(Scope::Expand)).await.unwrap();
    assert_eq!(observer.versions(&migrator).await, [1, 2, 3]);
    assert_eq!(count(&observer, "SELECT count(*) FROM t WHERE runs = 1 AND w = 2 * v").await, 200_000);
}

/// While a backfill runs in another process, the application updates rows
/// the backfill has not reached: each update returns while the backfill is
/// still under way (neither recorded nor past the row), not after it.
async fn the_application_writes_while_a_backfill_runs(db: Db) {
    let dir = backfill_migrations(100);
    let m = dir.migrations();
    let migrator = Migrator::new(&m);
    let app = db.reconnect().await;
    app.run(&migrator, Request::Upgrade(2.into())).await.unwrap();
    fill(&app, 200_000).await;
    let last = 3 * 200_000 - 10;
    let child = spawn(dir.path(), &db.url(), &["sync", "--expand"]);
    let under_way = until(Duration::from_secs(30), async || key_done(&app, &migrator).await.is_some()).await;
    assert!(under_way, "the backfill got under way");
    for i in 0..5 {
        let row = last - 3 * i;
        app.exec(&format!("UPDATE t SET v = v + 1000000 WHERE id = {row}")).await.unwrap();
        let reached = key_done(&app, &migrator).await.unwrap();
        assert!(reached < row, "update {i} returned before the backfill reached its row ({reached})");
        assert_eq!(app.versions(&migrator).await, [1, 2], "update {i} returned while the backfill ran");
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(app.versions(&migrator).await, [1, 2, 3]);
    assert_eq!(count(&app, "SELECT count(*) FROM t WHERE runs = 1 AND w = 2 * v").await, 200_000);
    assert_eq!(count(&app, "SELECT count(*) FROM t WHERE v > 1000000").await, 5);
}

/// A backfill stopped half-way (a failing batch), then stamped with `goto`
/// and reverted with its down script, starts again from the first row when
/// applied again: neither its record's stamp nor its revert keeps the old
/// progress.
async fn a_reverted_stamped_backfill_starts_again_from_the_first_row(db: Db) {
    let dir = Dir::new(&[
        ("initial/0001_create_t.sql", "CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER NOT NULL);\n"),
        ("expand/0002_add_t_w.sql", "ALTER TABLE t ADD COLUMN w INTEGER CHECK (w <> -2);\n"),
        (
            "expand/0003_backfill_t_w.sql",
            "-- ebbtide: backfill t.id 100\nUPDATE t SET w = v * 2 WHERE id > :after AND id <= :upto;\n",
        ),
        ("expand/0003_backfill_t_w.down.sql", "UPDATE t SET w = NULL;\n"),
    ]);
    let m = dir.migrations();
    let migrator = Migrator::new(&m);
    db.run(&migrator, Request::Upgrade(2.into())).await.unwrap();
    fill_t(&db, "id, v", |i| format!("{i}, {i}"), 1000).await;
    db.exec("UPDATE t SET v = -1 WHERE id = 550").await.unwrap();
    assert!(db.run(&migrator, Request::Sync(Scope::Expand)).await.is_err(), "batch 6 fails");
    db.run(&migrator, Request::Goto(3.into())).await.unwrap();
    db.run(&migrator, Request::Downgrade(2.into())).await.unwrap();
    assert_eq!(count(&db, "SELECT count(*) FROM t WHERE w IS NOT NULL").await, 0, "the down script ran");
    db.exec("UPDATE t SET v = 0 WHERE v = -1").await.unwrap();
    db.run(&migrator, Request::Sync(Scope::Expand)).await.unwrap();
    assert_eq!(db.versions(&migrator).await, [1, 2, 3]);
    assert_eq!(count(&db, "SELECT count(*) FROM t WHERE w IS NULL").await, 0, "every row is filled");
}

/// A backfill by a unique key that allows `NULL`: the keyed rows are all
/// updated (SQLite sorts `NULL`s first, which must not read as "no row
/// left"); rows without a key are in no batch.
async fn a_backfill_by_a_nullable_key_updates_every_keyed_row(db: Db) {
    let dir = Dir::new(&[
        ("initial/0001_create_t.sql", "CREATE TABLE t (k INTEGER UNIQUE, v INTEGER NOT NULL);\n"),
        ("expand/0002_add_t_w.sql", "ALTER TABLE t ADD COLUMN w INTEGER;\n"),
        (
            "expand/0003_backfill_t_w.sql",
            "-- ebbtide: backfill t.k 100\nUPDATE t SET w = v * 2 WHERE k > :after AND k <= :upto;\n",
        ),
    ]);
    let m = dir.migrations();
    let migrator = Migrator::new(&m);
    db.run(&migrator, Request::Upgrade(2.into())).await.unwrap();
    fill_t(&db, "k, v", |i| format!("CASE WHEN {i} <= 200 THEN NULL ELSE {i} END, {i}"), 1000).await;
    db.run(&migrator, Request::Sync(Scope::Expand)).await.unwrap();
    assert_eq!(db.versions(&migrator).await, [1, 2, 3]);
    assert_eq!(count(&db, "SELECT count(*) FROM t WHERE k IS NOT NULL AND w IS NULL").await, 0, "every keyed row");
    assert_eq!(count(&db, "SELECT count(*) FROM t WHERE k IS NULL AND w IS NULL").await, 200, "no key, no batch");
}

/// Rows `1..=n` of `t`'s `columns`, each row's values from `values(i)`
/// (SQL over `i`).
async fn fill_t(db: &Db, columns: &str, values: impl Fn(&str) -> String, n: u32) {
    let values = values("n.i");
    db.exec(&format!(
        "INSERT INTO t ({columns}) WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n}) \
         SELECT {values} FROM n"
    ))
    .await
    .unwrap();
}

/// A batch behind a row the application holds for longer than the lock
/// timeout rolls back with its progress and is tried again: the backfill
/// goes through once the row is free.
async fn a_backfill_batch_behind_a_row_lock_is_retried(db: Db) {
    let dir = Dir::new(&[
        ("initial/0001_create_t.sql", "CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER NOT NULL);\n"),
        ("expand/0002_add_t_w.sql", "ALTER TABLE t ADD COLUMN w INTEGER;\n"),
        (
            "expand/0003_backfill_t_w.sql",
            "-- ebbtide: backfill t.id 100\nUPDATE t SET w = v * 2 WHERE id > :after AND id <= :upto;\n",
        ),
    ]);
    let m = dir.migrations();
    db.run(&Migrator::new(&m), Request::Upgrade(2.into())).await.unwrap();
    fill_t(&db, "id, v", |i| format!("{i}, {i}"), 1000).await;
    let holder = db.reconnect().await;
    // The application holds one row (a long request).
    holder.exec("BEGIN; SELECT * FROM t WHERE id = 550 FOR UPDATE;").await.unwrap();
    let (migrator, told) = support::retries_told(Migrator::new(&m));
    let result = support::release_after(&holder, &told, 2, || db.run_now(&migrator, Request::Sync(Scope::Expand)));
    result.unwrap();
    assert!(told.lock().unwrap().len() >= 2);
    assert_eq!(count(&db, "SELECT count(*) FROM t WHERE w = 2 * v").await, 1000);
}

on_every_engine!(
    a_backfill_updates_every_row_exactly_once_in_batches,
    a_failing_batch_stops_at_a_batch_boundary_and_sync_resumes,
    a_downgrade_below_a_backfill_under_way_forgets_its_progress,
    a_reverted_stamped_backfill_starts_again_from_the_first_row,
    a_backfill_by_a_nullable_key_updates_every_keyed_row,
);

on_engine!(postgres, a_backfill_batch_behind_a_row_lock_is_retried);

on_persistent_engines!(
    a_killed_backfill_resumes_without_redoing_or_skipping_rows,
    the_application_writes_while_a_backfill_runs,
);

//! Batched backfills (`-- ebbtide: backfill <table>.<key> <batch-size>`):
//! the migration's one `UPDATE` runs batch by batch over an integer key,
//! each batch in a transaction of its own together with its progress, so
//! that rows are locked (and SQLite's write lock held) for one batch, never
//! for the whole backfill.
//!
//! Progress lives in a table of ebbtide's own beside the version table,
//! `<version table>_progress`: one row per backfill under way, with the
//! last key done. A batch and its progress commit together, so a crash
//! (or a failing batch) leaves the backfill at a batch boundary, and the
//! next run resumes after it: no row is updated twice, none is skipped.
//! The version table is not touched until the last batch is done: then
//! one transaction records the migration and deletes its progress row.
//! Until then the migration is pending for the planner and the startup
//! check (an expand migration still running: the old release serves on),
//! and `status` shows it as backfilling, with the key reached.

use std::time::Instant;

use ebbtide_core::Backfill;

use crate::dialect::{NewRecord, TableName};
use crate::engine::{DbError, Driver};
use crate::error::{Aftermath, Error, MigrationFailure};
use crate::lock_retry::Retry;
use crate::plan::Step;
use crate::record::{Cell, How};
use crate::report::{Done, Event};
use crate::settings::Settings;
use crate::{Migration, Version};

/// A backfill under way, as its progress row says.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct Progress {
    /// The backfill's migration.
    pub version: Version,
    /// The last key done.
    pub key_done: i64,
    /// Batches done.
    pub batches: u64,
}

/// Applies `m`, whose up script is a batched backfill, step `step` of a run.
pub(crate) async fn apply<D: Driver>(
    d: &mut D,
    settings: &Settings<'_>,
    step: &Step<'_>,
    m: &Migration,
    backfill: &Backfill,
) -> Result<Done, Error> {
    let started = Instant::now();
    let done = |skipped| Done {
        verb: step.verb(),
        version: m.version,
        branch: m.branch,
        name: m.name.to_string(),
        duration: started.elapsed(),
        skipped,
    };
    if d.annotates() {
        // A script for review cannot read the keys its batches will find.
        d.annotate(&format!(
            "{step} is a batched backfill of {}.{} ({} rows a batch): `sync` runs it; it is not part of this script",
            backfill.table, backfill.key, backfill.batch_size
        ));
        return Ok(done(false));
    }
    let dialect = d.sql();
    let table = settings.table_name();
    let progress = table.progress();
    let fail = |what: &str, e: DbError| Error::database(format!("cannot {what} for {step}"), e);
    let check = d.session_check();
    if let Some(check) = &check {
        d.execute(check).await.map_err(|e| fail("keep one session", e))?;
    }
    d.execute(&dialect.create_progress_table(&progress))
        .await
        .map_err(|e| fail(&format!("create the table of backfill progress {progress}"), e))?;
    let end = single_int(d, &format!("SELECT max({}) FROM {}", backfill.key, backfill.table), backfill)
        .await
        .map_err(|e| fail("read the largest key", e))?
        .unwrap_or(0);
    let statement = m.up.statements().next().map(|(line, sql)| (line, sql.to_string()));
    let Some((line, statement)) = statement else {
        return Err(Error::found(format!("cannot {step}"), "its backfill script holds no statement"));
    };
    let lock_timeout = m.up.lock_timeout_ms.or(settings.default_lock_timeout_ms());
    // Under an exclusive run lock, the progress read once stays true; else
    // (SQLite) another run may go on with the backfill between two of our
    // batches, and each batch reads it again under its write lock.
    let exclusive = d.exclusive_lock();
    let mut known: Option<Option<Progress>> = None;
    // A batch that gave up on a lock (a row the application holds) rolled
    // back whole, its progress with it: it is tried again.
    let mut retry = Retry::new(settings, settings.lock_retry_for(Some(&m.up)), lock_timeout);
    loop {
        let batch_started = Instant::now();
        d.execute(dialect.begin()).await.map_err(|e| fail("begin a batch", e))?;
        let batch = async {
            if let Some(check) = &check {
                d.execute(check).await.map_err(|e| fail("keep one session", e))?;
            }
            if let Some(sql) = lock_timeout.and_then(|ms| dialect.lock_timeout(ms, true)) {
                d.execute(&sql).await.map_err(|e| fail("set the lock timeout", e))?;
            }
            if !exclusive {
                let mut recorded = false;
                d.query(&dialect.select_recorded(table, m.version), &mut |_| recorded = true)
                    .await
                    .map_err(|e| fail(&format!("read the version table {table}"), e))?;
                if recorded {
                    return Ok(Batch::DoneElsewhere);
                }
            }
            let current = match known {
                Some(current) if exclusive => current,
                _ => read_one(d, &progress, m.version).await.map_err(|e| fail("read the backfill's progress", e))?,
            };
            let after = current.map(|p| p.key_done);
            let (first, last) = next_batch(d, backfill, after).await.map_err(|e| fail("find the next batch", e))?;
            let Some(last) = last else {
                let record = NewRecord {
                    version: m.version,
                    branch: m.branch,
                    name: &m.name,
                    checksum: &m.checksum,
                    fingerprint: &m.fingerprint,
                    how: How::Applied,
                    duration_ms: Some(i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX)),
                    down_sql: m.down.as_ref().map(|s| s.sql.as_ref()),
                };
                let parts = [dialect.insert_record(table, &record), dialect.delete_progress(&progress, m.version)];
                for sql in &parts {
                    d.execute(sql).await.map_err(|e| fail("record the migration", e))?;
                }
                return Ok(Batch::Last);
            };
            // The first batch starts below the smallest key.
            let after = match after.or_else(|| first.and_then(|f| f.checked_sub(1))) {
                Some(after) => after,
                None => {
                    return Err(fail("start the backfill", DbError::new("its smallest key is the smallest integer")));
                }
            };
            let update = ebbtide_core::backfill::bind(&statement, after, last);
            if let Err(e) = d.execute(&update).await {
                return Err(batch_failed(step, m, line, &update, e));
            }
            let (record, next) = match current {
                None => (
                    dialect.insert_progress(&progress, m.version, &m.name, last),
                    Progress { version: m.version, key_done: last, batches: 1 },
                ),
                Some(p) => (
                    dialect.update_progress(&progress, m.version, last),
                    Progress { key_done: last, batches: p.batches + 1, ..p },
                ),
            };
            d.execute(&record).await.map_err(|e| fail("record the backfill's progress", e))?;
            Ok(Batch::Done(next))
        }
        .await;
        // A batch's commit can be refused too: on a Galera cluster, when
        // a write through another node certified first.
        let batch = match batch {
            Ok(Batch::Done(_) | Batch::Last) => match d.execute(dialect.commit()).await {
                Ok(()) => batch,
                Err(e) => Err(fail("commit a batch", e)),
            },
            other => other,
        };
        match batch {
            // Behind a lock, or aborted for a conflicting write (a deadlock,
            // a serialization or certification failure, at any statement
            // or the commit): rolled back, and tried again.
            Err(mut e) if retried(&e) => {
                let _ = d.execute(dialect.rollback()).await;
                let statement = match &e {
                    Error::MigrationFailed(failure) => failure.statement.clone(),
                    other => other.to_string(),
                };
                if let Err(told) = retry.again(d, step, &statement).await {
                    match &mut e {
                        Error::MigrationFailed(failure) => failure.message = format!("{}; {told}", failure.message),
                        Error::Database { message, .. } => *message = format!("{message}; {told}"),
                        _ => {}
                    }
                    return Err(e);
                }
            }
            Err(e) => {
                let _ = d.execute(dialect.rollback()).await;
                return Err(e);
            }
            Ok(Batch::DoneElsewhere) => {
                let _ = d.execute(dialect.rollback()).await;
                return Ok(done(true));
            }
            Ok(Batch::Done(p)) => {
                known = Some(Some(p));
                settings.notify(Event::Batch { step, batches: p.batches, reached: p.key_done, end });
                let pause = d.pause_after_batch(batch_started.elapsed());
                if !pause.is_zero() {
                    d.pause(pause).await;
                }
            }
            Ok(Batch::Last) => return Ok(done(false)),
        }
    }
}

/// Whether a batch that failed with `e` runs again: it gave up on a lock,
/// or was aborted for a conflicting transaction.
fn retried(e: &Error) -> bool {
    matches!(e, Error::MigrationFailed(failure) if failure.lock_timeout) || aborted(e.code())
}

/// Whether an engine's error `code` says the transaction was aborted for
/// a conflicting one, and may simply run again: MySQL's deadlock (1213,
/// also a Galera certification failure), PostgreSQL's serialization
/// failure and deadlock (40001, 40P01).
fn aborted(code: Option<&str>) -> bool {
    matches!(code, Some("1213" | "40001" | "40P01"))
}

/// What a batch's transaction did.
enum Batch {
    /// A batch of rows, and the progress it recorded.
    Done(Progress),
    /// No row was left: the migration is recorded.
    Last,
    /// Another run recorded the migration first.
    DoneElsewhere,
}

/// The first and last key of the next batch above `after`.
async fn next_batch<D: Driver>(
    d: &mut D,
    backfill: &Backfill,
    after: Option<i64>,
) -> Result<(Option<i64>, Option<i64>), DbError> {
    let sql = d.sql().next_batch_end(&backfill.table, &backfill.key, after, backfill.batch_size);
    let mut cells: (Option<String>, Option<String>) = (None, None);
    d.query(&sql, &mut |row| {
        let text = |i| Some(Cell::at(row, i)).filter(|c| *c != Cell::Null).map(|c| c.text().into_owned());
        cells = (text(0), text(1));
    })
    .await?;
    Ok((integer(cells.0, backfill)?, integer(cells.1, backfill)?))
}

/// A query's one integer (`None` for `NULL`).
async fn single_int<D: Driver>(d: &mut D, sql: &str, backfill: &Backfill) -> Result<Option<i64>, DbError> {
    let mut cell: Option<String> = None;
    d.query(sql, &mut |row| {
        cell = Some(Cell::at(row, 0)).filter(|c| *c != Cell::Null).map(|c| c.text().into_owned());
    })
    .await?;
    integer(cell, backfill)
}

/// A key read back, which must be an integer.
fn integer(text: Option<String>, backfill: &Backfill) -> Result<Option<i64>, DbError> {
    match text {
        None => Ok(None),
        Some(text) => text.parse().map(Some).map_err(|_| {
            DbError::new(format!(
                "{}.{} holds {text:?}: a batched backfill needs an integer key (a primary key, or another unique indexed integer column)",
                backfill.table, backfill.key
            ))
        }),
    }
}

/// The progress of the backfill of `version`, when one is under way.
async fn read_one<D: Driver>(d: &mut D, progress: &TableName, version: Version) -> Result<Option<Progress>, DbError> {
    let mut found = None;
    d.query(&d.sql().select_progress_of(progress, version), &mut |row| {
        if let (Some(key_done), Some(batches)) = (Cell::at(row, 0).int(), Cell::at(row, 1).int()) {
            found = Some(Progress { version, key_done, batches: u64::try_from(batches).unwrap_or(0) });
        }
    })
    .await?;
    Ok(found)
}

/// Every backfill under way (none when the progress table does not exist).
pub(crate) async fn under_way<D: Driver>(d: &mut D, table: &TableName) -> Result<Vec<Progress>, Error> {
    let progress = table.progress();
    let mut found = Vec::new();
    let read = d
        .query(&d.sql().select_progress(&progress), &mut |row| {
            let cell = |i| Cell::at(row, i).int();
            if let (Some(version), Some(key_done), Some(batches)) = (cell(0), cell(1), cell(2)) {
                let version = Version::new(u32::try_from(version).unwrap_or(0));
                found.push(Progress { version, key_done, batches: u64::try_from(batches).unwrap_or(0) });
            }
        })
        .await;
    match read {
        Ok(()) => Ok(found),
        Err(e) if e.undefined_table => Ok(Vec::new()),
        Err(e) => Err(Error::database(format!("cannot read the table of backfill progress {progress}"), e)),
    }
}

/// After `step` reverted or unstamped a migration: the progress of the
/// backfills at or above it is forgotten, for what they filled may be gone
/// with it (a downgrade that drops the column a backfill under way fills,
/// or reverts the backfill itself, stamped by `goto` half-way). After a
/// stamp of a backfill, its own progress: it is recorded now, and should
/// it be reverted and applied again, it starts from the first row. Only
/// where this release has such a backfill, so that no other project ever
/// sees the progress table.
pub(crate) async fn after_step<D: Driver>(d: &mut D, settings: &Settings<'_>, step: &Step<'_>) -> Result<(), Error> {
    let (version, only) = match step {
        Step::Revert { record, .. } | Step::Unstamp(record) => (record.version, false),
        Step::Stamp(m) => (m.version, true),
        _ => return Ok(()),
    };
    let concerned = |m: &Migration| if only { m.version == version } else { m.version >= version };
    let any = settings.migrations().iter().any(|m| concerned(m) && m.up.backfill.is_some());
    if !any || d.annotates() {
        return Ok(());
    }
    let progress = settings.table_name().progress();
    let dialect = d.sql();
    let forget = match only {
        true => dialect.delete_progress(&progress, version),
        false => dialect.delete_progress_from(&progress, version),
    };
    for sql in [dialect.create_progress_table(&progress), forget] {
        d.execute(&sql)
            .await
            .map_err(|e| Error::database(format!("cannot forget the progress of backfills from {version}"), e))?;
    }
    Ok(())
}

/// The error of a batch whose `UPDATE` failed.
fn batch_failed(step: &Step<'_>, m: &Migration, line: u32, sql: &str, e: DbError) -> Error {
    Error::MigrationFailed(Box::new(MigrationFailure {
        step: step.to_string(),
        version: m.version,
        path: m.up.path.to_string(),
        line,
        statement: sql.to_string(),
        message: e.message,
        aftermath: Aftermath::BatchRolledBack,
        lock_timeout: e.lock_timeout,
        code: e.code,
        source: e.source,
    }))
}

//! The seam between the executor and the database engines: what the
//! executor asks of a connection. An engine module implements [`Driver`];
//! nothing outside an engine's module asks which engine it is.

use std::time::Duration;

use crate::Script;
use crate::dialect::{Sql, TableName};
use crate::record::Cell;

/// A database error, as a driver reports it.
#[derive(Debug, Clone)]
pub(crate) struct DbError {
    pub message: String,
    /// The statement failed because the table (or its schema) does not exist.
    pub undefined_table: bool,
    /// The statement gave up waiting for a lock (its lock timeout).
    pub lock_timeout: bool,
    /// The engine's code for the error (SQLSTATE, SQLite's result code).
    pub code: Option<String>,
    /// The driver's own error.
    pub source: Option<crate::error::DriverError>,
}

impl DbError {
    /// An error a driver found itself, without the engine's code.
    pub fn new(message: impl Into<String>) -> DbError {
        DbError { message: message.into(), undefined_table: false, lock_timeout: false, code: None, source: None }
    }
}

impl crate::Error {
    /// An error of the database, outside a migration: what ebbtide was
    /// doing, and what the driver said.
    pub(crate) fn database(context: impl Into<String>, e: DbError) -> Self {
        crate::Error::Database { context: context.into(), message: e.message, code: e.code, source: e.source }
    }
}

/// A database connection, seen as something that runs SQL text.
///
/// The futures of the SQLite driver never wait, which is what lets its
/// public API be synchronous.
pub(crate) trait Driver {
    /// The SQL this engine writes for ebbtide's own statements.
    fn sql(&self) -> &'static dyn Sql;
    /// Whether a transactional step goes as one batch, in one round trip,
    /// with the driver telling which part of it failed
    /// ([`execute_parts`](Driver::execute_parts)).
    fn batches(&self) -> bool {
        false
    }
    /// Whether statements joined with `;` go to the server in one round
    /// trip (a server engine), so that a fixed sequence such as a
    /// version-table write in its own transaction costs one round trip.
    fn joins_statements(&self) -> bool {
        false
    }
    /// Whether `lock` excludes every other run for its whole duration. When
    /// it does not (SQLite), each step re-checks, inside its transaction,
    /// that it still needs doing.
    fn exclusive_lock(&self) -> bool;
    /// Whether a schema change rolls back with its transaction. Where it
    /// does not (MySQL commits each DDL statement on its own), every
    /// migration that changes the schema runs statement by statement,
    /// recorded as started before and its progress after each statement.
    fn transactional_ddl(&self) -> bool {
        true
    }
    async fn execute(&mut self, sql: &str) -> Result<(), DbError>;
    /// Runs `parts`, one statement each, in order, up to the first error,
    /// which comes back with the index of the part that failed. PostgreSQL
    /// sends them all in one round trip.
    async fn execute_parts(&mut self, parts: &[&str]) -> Result<(), (usize, DbError)> {
        for (i, part) in parts.iter().enumerate() {
            self.execute(part).await.map_err(|e| (i, e))?;
        }
        Ok(())
    }
    /// Runs a write to the version table that a script's own session may
    /// refuse (under `LOCK TABLES`) or leave uncommitted (`autocommit`
    /// off): the progress of a migration run statement by statement. On a
    /// connection of its own where the driver has one, in a transaction of
    /// its own.
    async fn execute_aside(&mut self, sql: &str) -> Result<(), DbError> {
        let dialect = self.sql();
        self.execute(&format!("{}; {sql}; {}", dialect.begin(), dialect.commit())).await
    }
    /// Runs a query, handing each row's values to `visit`, borrowed: reading
    /// the version table allocates only what it keeps.
    async fn query(&mut self, sql: &str, visit: &mut (dyn FnMut(&[Cell<'_>]) + Send)) -> Result<(), DbError>;
    /// Tries to take the run lock (held from the first write of a run to
    /// its end) without waiting.
    async fn try_lock(&mut self, table: &TableName) -> Result<Lock, DbError>;
    async fn unlock(&mut self, table: &TableName) -> Result<(), DbError>;
    /// Whether some run holds the run lock now (without taking it): a
    /// migration recorded as started is then in progress, not abandoned.
    async fn lock_held(&mut self, table: &TableName) -> Result<bool, DbError>;
    /// Waits, between two attempts at the lock.
    async fn pause(&mut self, duration: Duration);
    /// How long a batched backfill pauses after a batch that took `batch`,
    /// for the application's writers that wait meanwhile: none where they
    /// queue for the rows they need and get them at the batch's commit.
    fn pause_after_batch(&self, _batch: Duration) -> Duration {
        Duration::ZERO
    }
    /// A statement that fails when the connection is no longer on the
    /// session that holds the run lock (a pooler in transaction mode), sent
    /// first in every transaction of the run; `None` when the session
    /// cannot move.
    fn session_check(&self) -> Option<String> {
        None
    }
    /// Reads the state of the session as a run finds it (once, under the
    /// run lock, before the first step), so that [`guard`](Driver::guard)
    /// can return every step to it, and names the schema that holds (or
    /// will hold) `table`: ebbtide's own statements address it there,
    /// whatever `search_path` or temporary table a migration sets up.
    async fn capture_session(&mut self, table: &TableName) -> Result<TableName, DbError> {
        Ok(table.clone())
    }
    /// What to run around `script` so that what it does to its session ends
    /// with it, from the state [`capture_session`](Driver::capture_session) read.
    fn guard(&self, _script: &Script, _placement: Placement) -> Guard {
        Guard::default()
    }
    /// The guard of a script printed for review (`--sql`) and replayed by
    /// someone else's client, whose session ebbtide cannot know: only what
    /// needs no captured value, and only for scripts that set something.
    fn portable_guard(&self, script: &Script, placement: Placement) -> Guard {
        self.guard(script, placement)
    }
    /// Some of the application's tables and views (up to six), for a
    /// database that has no version table: migrations applied there would
    /// most likely run a second time.
    async fn existing_objects(&mut self) -> Result<Vec<String>, DbError> {
        Ok(Vec::new())
    }
    /// Where the database runs, when it is more than one server: a
    /// cluster's size and the state of the node this connection reaches.
    async fn cluster(&mut self) -> Result<Option<String>, DbError> {
        Ok(None)
    }
    /// Removes what `script` left in the session that no fixed statement
    /// can name (SQLite's temporary objects); runs after [`Guard::after`].
    async fn clean_session(&mut self, _script: &Script) -> Result<(), DbError> {
        Ok(())
    }
    /// Says what comes next, for a driver that writes a script; others ignore it.
    fn annotate(&mut self, _comment: &str) {}
    /// Whether [`annotate`](Driver::annotate) does anything.
    fn annotates(&self) -> bool {
        false
    }
}

/// An attempt at the run lock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Lock {
    /// This run holds it.
    Taken,
    /// Another run does: who, as far as the engine tells.
    Busy(Option<String>),
}

/// Where a step's script runs.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Placement {
    /// In a transaction of its own.
    Own,
    /// In the all-or-nothing transaction of the whole run.
    Run,
    /// Outside any transaction (`-- ebbtide: no-transaction`).
    None,
}

/// Statements a driver wraps around a step's script: they keep what the
/// script does to its session to itself, and make SQLite's table rebuild
/// safe. Empty for a script that needs nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Guard {
    /// Before the step's own transaction opens.
    pub before: Vec<String>,
    /// A query run inside the transaction after the script: each row it
    /// returns is a violation, which rolls the step back.
    pub check: Option<String>,
    /// Inside the transaction, after the script (and the check), before the
    /// version-table row: ebbtide's own statements run in the run's state.
    pub inside: Vec<String>,
    /// Once the step's transaction is over, committed or not, or right
    /// after a `no-transaction` script (before its row is written).
    pub after: Vec<String>,
}

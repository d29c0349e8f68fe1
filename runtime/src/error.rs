//! The errors of the runtime.

use std::fmt;

use crate::Version;
use crate::dialect::BadTableName;
use crate::plan::Refusal;

/// Everything that can go wrong when ebbtide talks to a database.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The planner refused the request; nothing was executed.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// A migration's SQL failed.
    #[error(transparent)]
    MigrationFailed(Box<MigrationFailure>),
    /// The database failed outside a migration (the version table, a lock,
    /// a transaction).
    #[error("{context}: {message}")]
    Database {
        /// What ebbtide was doing.
        context: String,
        /// The database's message.
        message: String,
    },
    /// The configured version-table name is not a plain identifier.
    #[error(transparent)]
    TableName(#[from] BadTableName),
    /// A database URL no engine of this build takes, or that names nothing.
    #[error("{0}")]
    Url(String),
    /// The database could not be reached.
    #[error("cannot connect to {target}: {message}")]
    Connect {
        /// The database, without its password.
        target: String,
        /// Why.
        message: String,
    },
    /// Another run held the migration lock for longer than the run would
    /// wait ([`Migrator::lock_wait`](crate::Migrator::lock_wait)).
    #[error(
        "gave up after {} s waiting for the migration lock on {table}, held by {holder}; \
         let that run finish, or end it if it is stuck, then run again (--lock-wait waits longer)",
        waited.as_secs()
    )]
    LockWait {
        /// The version table whose lock it is.
        table: String,
        /// How long the run waited.
        waited: std::time::Duration,
        /// Who holds it, as far as the engine tells.
        holder: String,
    },
    /// The version table holds a row ebbtide cannot read.
    #[error("the version table {table} holds a row ebbtide cannot read ({detail}); was it edited by hand?")]
    CorruptRecord {
        /// The table.
        table: String,
        /// What is wrong with the row.
        detail: String,
    },
}

/// A migration (or down script) whose SQL failed, with where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationFailure {
    /// What was being done: `apply expand migration 0003_add_email`.
    pub step: String,
    /// The migration's version.
    pub version: Version,
    /// The script's file (or `version table` for a stored down script).
    pub path: String,
    /// The line where the failing statement starts.
    pub line: u32,
    /// The failing statement.
    pub statement: String,
    /// The database's message.
    pub message: String,
    /// What state the failure left, and what to do.
    pub aftermath: Aftermath,
}

/// What a failed migration left behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Aftermath {
    /// The migration's transaction rolled back: nothing of it remains, and
    /// the migrations before it in the run stay applied.
    RolledBack,
    /// All-or-nothing mode: the whole run rolled back.
    RunRolledBack,
    /// A `no-transaction` script: the statements before the failing one
    /// stayed applied, and the migration is recorded as started.
    PartiallyApplied,
}

impl fmt::Display for MigrationFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut statement: String = self.statement.split_whitespace().collect::<Vec<_>>().join(" ");
        if statement.chars().count() > 160 {
            statement = statement.chars().take(157).collect::<String>() + "...";
        }
        write!(
            f,
            "{} failed at {}:{}: {}\n  statement: {statement}\n  ",
            self.step, self.path, self.line, self.message
        )?;
        match self.aftermath {
            Aftermath::RolledBack => f.write_str(
                "its transaction was rolled back: nothing of it was applied or recorded; fix the migration and run again",
            ),
            Aftermath::RunRolledBack => f.write_str(
                "all-or-nothing mode: the whole run was rolled back and the database is as it was before it",
            ),
            Aftermath::PartiallyApplied => f.write_str(
                "it runs outside a transaction (no-transaction), so the statements before this one stayed applied; it is recorded as started, \
                 and check and sync refuse until you finish or undo its changes by hand (e.g. drop an INVALID index left by CREATE INDEX CONCURRENTLY) \
                 and record the outcome with `goto`: to its version if it is done, below it if it is undone",
            ),
        }
    }
}

impl std::error::Error for MigrationFailure {}

impl Error {
    pub(crate) fn database(context: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Database { context: context.into(), message: message.into() }
    }
}

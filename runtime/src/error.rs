//! The errors of the runtime.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

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
    /// a transaction). [`Error::code`] gives the engine's code for it, and
    /// [`source`](std::error::Error::source) the driver's own error
    /// (`tokio_postgres::Error`, `rusqlite::Error`) where there is one.
    #[error("{context}: {message}")]
    #[non_exhaustive]
    Database {
        /// What ebbtide was doing.
        context: String,
        /// The database's message.
        message: String,
        /// The engine's code for the error (see [`Error::code`]).
        code: Option<String>,
        /// The driver's error.
        #[source]
        source: Option<DriverError>,
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
    /// The statement gave up waiting for a lock (its lock timeout), and
    /// its retries, if any, were spent.
    pub lock_timeout: bool,
    /// The engine's code for the error (see [`Error::code`]).
    pub code: Option<String>,
    /// The driver's error, which [`source`](std::error::Error::source)
    /// returns.
    pub source: Option<DriverError>,
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
    /// A migration with schema changes on an engine that commits each one
    /// on its own (MySQL): the first `applied` of its `of` statements
    /// stayed applied, and the migration is recorded as started, with
    /// where it stopped and why.
    StatementsApplied {
        /// The statements that ran before the failing one.
        applied: usize,
        /// The statements of the script.
        of: usize,
    },
    /// A batched backfill: the failing batch rolled back, the batches
    /// before it stay committed with their progress, and the migration is
    /// not recorded; the next sync resumes after the last batch done.
    BatchRolledBack,
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
            Aftermath::RolledBack if self.lock_timeout => f.write_str(
                "it gave up waiting for a lock another session held, and was rolled back: nothing of it was applied or recorded; \
                 nothing in the migration needs fixing: run again once that session is done (or ended), or give it longer (lock-retry)",
            ),
            Aftermath::RolledBack => f.write_str(
                "its transaction was rolled back: nothing of it was applied or recorded; fix the migration and run again",
            ),
            Aftermath::RunRolledBack => f.write_str(
                "all-or-nothing mode: the whole run was rolled back and the database is as it was before it",
            ),
            Aftermath::PartiallyApplied => f.write_str(
                "it runs outside a transaction (no-transaction), so the statements before this one stayed applied; it is recorded as started, \
                 and check and sync refuse until you finish or undo its changes by hand (e.g. drop an INVALID index left by CREATE INDEX CONCURRENTLY) \
                 and record the outcome with `resolve VERSION applied` if it is done, `resolve VERSION forgotten` if it is undone",
            ),
            Aftermath::StatementsApplied { applied, of } => write!(
                f,
                "the database commits each schema change on its own, so statement{} before this one (of {of}) stayed applied; \
                 the migration is recorded as started, with where it stopped and why, and check and sync refuse until you finish \
                 or undo its changes by hand and record the outcome: `ebbtide resolve {} applied` if it is done now, \
                 `ebbtide resolve {} forgotten` if it is undone",
                match applied {
                    1 => " 1".to_string(),
                    n => format!("s 1 to {n}"),
                },
                self.version,
                self.version
            ),
            Aftermath::BatchRolledBack => f.write_str(
                "it is a batched backfill: this batch rolled back, the batches before it stay committed with their progress, \
                 and the migration is not recorded; fix the cause and run sync again: it resumes after the last batch done",
            ),
        }
    }
}

impl std::error::Error for MigrationFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// The error of an engine's driver (`tokio_postgres::Error`,
/// `rusqlite::Error`), as the [`source`](std::error::Error::source) of an
/// [`Error`]: downcast it to reach everything the driver tells.
///
/// ```
/// # #[cfg(feature = "sqlite")] {
/// use std::error::Error as _;
/// use ebbtide::registry::{Access, open};
/// let (_, db) = open("sqlite::memory:", Access::Write).unwrap();
/// db.execute("CREATE TABLE users (id INTEGER PRIMARY KEY)").unwrap();
/// let err = db.execute("INSERT INTO users VALUES (1); INSERT INTO users VALUES (1)").unwrap_err();
/// assert_eq!(err.code(), Some("SQLITE_CONSTRAINT_PRIMARYKEY"));
/// let driver = err.source().and_then(|e| e.downcast_ref::<rusqlite::Error>());
/// assert_eq!(driver.and_then(|e| e.sqlite_error_code()), Some(rusqlite::ErrorCode::ConstraintViolation));
/// # }
/// ```
#[derive(Clone)]
pub struct DriverError(Arc<dyn std::error::Error + Send + Sync>);

impl DriverError {
    pub(crate) fn new(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        DriverError(Arc::new(e))
    }
}

impl Deref for DriverError {
    type Target = dyn std::error::Error + Send + Sync;

    fn deref(&self) -> &Self::Target {
        &*self.0
    }
}

impl fmt::Debug for DriverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for DriverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.0, f)
    }
}

/// Two driver errors are alike when they say the same.
impl PartialEq for DriverError {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_string() == other.0.to_string()
    }
}

impl Eq for DriverError {}

impl Error {
    /// An error ebbtide found in the database, which the engine did not raise.
    pub(crate) fn found(context: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Database { context: context.into(), message: message.into(), code: None, source: None }
    }

    /// The engine's code for a database error: PostgreSQL's SQLSTATE
    /// (`42P01`), SQLite's result code (`SQLITE_CONSTRAINT_UNIQUE`), MySQL's
    /// error number (`1146`; its SQLSTATE is in the message). `None`
    /// for errors that are not the database's, or that it gave no code.
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Database { code, .. } => code.as_deref(),
            Error::MigrationFailed(failure) => failure.code.as_deref(),
            _ => None,
        }
    }
}

//! What an engine module gives the registry: an open [`Database`], the
//! engine's entry ([`Engine`]) with its [`Capabilities`], and how URLs are
//! shown. Engine modules depend on this module; the registry lists them.

use crate::plan::Reversal;
use crate::status::Row;
use crate::{Error, Migrator, Record, Report, Request, Script, Verdict, Version, VersionInfo};

/// What an engine can do, for the choices of tools and the expectations
/// of tests (which ask for a capability, never for an engine's name).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// Schema changes roll back with their transaction: a failed
    /// migration leaves no trace.
    pub transactional_ddl: bool,
    /// The version table may live in a named schema (`schema.table`).
    pub schemas: bool,
    /// A migration's wait for a lock can be bounded (`--lock-timeout`).
    pub lock_timeout: bool,
    /// The database is served by a server over the network (tests skip it,
    /// saying so, when it is unreachable outside CI); otherwise it is a
    /// file or memory of this process.
    pub server: bool,
    /// The run lock is held by the database server, and a waiting run can
    /// name the session that holds it; otherwise by a file beside the
    /// database.
    pub server_lock: bool,
    /// Several databases can be opened on one server, each named in the URL.
    pub databases: bool,
}

/// What the opener prepares for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Looking (`check`, `status`, `version`, `--sql`): nothing is created
    /// that is not there (no SQLite file), and no second connection is
    /// opened. A run on it still works, holding the run lock as the library
    /// does by default (PostgreSQL: a session lock on its one connection).
    Read,
    /// Applying, reverting or recording migrations as the command line
    /// does: a SQLite file is created if missing, and PostgreSQL's run lock
    /// is held in a transaction of a second connection, which keeps runs
    /// exactly-once through a pooler in transaction mode.
    Write,
}

/// An open database: each operation of a [`Migrator`], blocking. Safe to
/// call from inside an async runtime (a server engine runs its own). One
/// operation runs at a time on a handle; an observer (see
/// [`Migrator::observe`]) must not call back into the handle that runs it,
/// which would wait for itself.
pub trait Database: Send + Sync {
    /// Runs `request` (see [`Migrator`]'s front ends).
    fn run(&self, migrator: &Migrator<'_>, request: Request) -> Result<Report, Error>;
    /// The SQL `request` would run, writing nothing.
    fn script(&self, migrator: &Migrator<'_>, request: Request) -> Result<String, Error>;
    /// The startup check's verdict.
    fn check(&self, migrator: &Migrator<'_>) -> Result<Verdict, Error>;
    /// The overall version and each branch's head.
    fn version(&self, migrator: &Migrator<'_>) -> Result<VersionInfo, Error>;
    /// Every migration with its state.
    fn status(&self, migrator: &Migrator<'_>) -> Result<Vec<Row>, Error>;
    /// The version table's rows, or `None` when it does not exist.
    fn records(&self, migrator: &Migrator<'_>) -> Result<Option<Vec<Record>>, Error>;
    /// The down script the version table stores for `version`.
    fn stored_down(&self, migrator: &Migrator<'_>, version: Version) -> Result<Option<Script>, Error>;
    /// What `downgrade(target)` would revert, with what each destroys.
    fn reversals(&self, migrator: &Migrator<'_>, target: Version) -> Result<Vec<Reversal>, Error>;
    /// Runs SQL of the caller's own, outside any migration (statements
    /// separated by `;`).
    fn execute(&self, sql: &str) -> Result<(), Error>;
    /// The first column of each row `sql` returns, as text (`None` for
    /// `NULL`).
    fn strings(&self, sql: &str) -> Result<Vec<Option<String>>, Error>;
    /// Every column of each row `sql` returns, as text (`None` for
    /// `NULL`): binary values (blobs, `bytea`, binary strings) in
    /// lowercase hex, PostgreSQL's booleans as `true` or `false` (MySQL's
    /// and SQLite's are the numbers 1 and 0), everything else as the
    /// engine writes it as text. For reading other tools' tables.
    fn rows(&self, sql: &str) -> Result<Vec<Vec<Option<String>>>, Error>;
}

/// An engine: its name, its URLs, what it can do, and how to open it.
#[non_exhaustive]
pub struct Engine {
    /// Its name in messages (`sqlite`, `postgres`).
    pub name: &'static str,
    /// The URLs it takes, for messages (`sqlite:PATH or sqlite::memory:`).
    pub urls: &'static str,
    /// What it can do.
    pub capabilities: Capabilities,
    /// Whether a URL is this engine's.
    pub accepts: fn(&str) -> bool,
    /// Opens the database a URL names.
    pub open: Opener,
}

/// How an engine opens the database a URL names.
pub type Opener = fn(&str, Access) -> Result<Box<dyn Database>, Error>;

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("name", &self.name).field("capabilities", &self.capabilities).finish()
    }
}

/// `url` without its password, for messages.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, path) = rest.split_once('/').map_or((rest, None), |(a, p)| (a, Some(p)));
    let authority = match authority.rsplit_once('@') {
        Some((user, host)) => match user.split_once(':') {
            Some((name, _)) => format!("{name}:***@{host}"),
            None => authority.to_string(),
        },
        None => authority.to_string(),
    };
    match path {
        Some(path) => format!("{scheme}://{authority}/{path}"),
        None => format!("{scheme}://{authority}"),
    }
}

/// A URL query's value, percent-decoded as libpq does (a `+` stays a
/// `+`): the TLS parameters of the server engines.
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(crate) fn decode(value: &str) -> Result<String, String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = value.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok());
                out.push(hex.ok_or_else(|| format!("invalid percent-encoding in {value:?}"))?);
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| format!("{value:?} is not UTF-8 once decoded"))
}

/// Runs `future` on `runtime` to its end; on a thread of its own when the
/// caller already runs inside an async runtime, which may not block.
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(crate) fn blocking<T: Send>(runtime: &tokio::runtime::Runtime, future: impl Future<Output = T> + Send) -> T {
    if tokio::runtime::Handle::try_current().is_err() {
        return runtime.block_on(future);
    }
    std::thread::scope(|scope| scope.spawn(|| runtime.block_on(future)).join().expect("the blocking thread panicked"))
}

/// The operations of [`Database`] that are a [`Migrator`] front end's, for
/// an engine's opened database: `$front` is the front end on `$m` (the
/// migrator), and `$finish` runs what one of its operations returns to its
/// end (blocks on a future, or takes a value as it is). The front end is
/// made in a `match`, so that it and what it borrows (a lock's guard) live
/// until the operation ends.
macro_rules! migrator_operations {
    (|$this:ident, $m:ident| $front:expr, |$done:ident| $finish:expr) => {
        fn run(&$this, $m: &crate::Migrator<'_>, request: crate::Request) -> Result<crate::Report, crate::Error> {
            match $front {
                front => {
                    let $done = front.run(request);
                    $finish
                }
            }
        }

        fn script(&$this, $m: &crate::Migrator<'_>, request: crate::Request) -> Result<String, crate::Error> {
            match $front {
                front => {
                    let $done = front.script(request);
                    $finish
                }
            }
        }

        fn check(&$this, $m: &crate::Migrator<'_>) -> Result<crate::Verdict, crate::Error> {
            match $front {
                front => {
                    let $done = front.check();
                    $finish
                }
            }
        }

        fn version(&$this, $m: &crate::Migrator<'_>) -> Result<crate::VersionInfo, crate::Error> {
            match $front {
                front => {
                    let $done = front.version();
                    $finish
                }
            }
        }

        fn status(&$this, $m: &crate::Migrator<'_>) -> Result<Vec<crate::status::Row>, crate::Error> {
            match $front {
                front => {
                    let $done = front.status();
                    $finish
                }
            }
        }

        fn records(&$this, $m: &crate::Migrator<'_>) -> Result<Option<Vec<crate::Record>>, crate::Error> {
            match $front {
                front => {
                    let $done = front.records();
                    $finish
                }
            }
        }

        fn stored_down(
            &$this,
            $m: &crate::Migrator<'_>,
            version: crate::Version,
        ) -> Result<Option<crate::Script>, crate::Error> {
            match $front {
                front => {
                    let $done = front.stored_down(version);
                    $finish
                }
            }
        }

        fn reversals(
            &$this,
            $m: &crate::Migrator<'_>,
            target: crate::Version,
        ) -> Result<Vec<crate::plan::Reversal>, crate::Error> {
            match $front {
                front => {
                    let $done = front.reversals(target);
                    $finish
                }
            }
        }
    };
}
pub(crate) use migrator_operations;

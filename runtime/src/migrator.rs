//! [`Migrator`]: the configured entry point to every database operation.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::Migrations;
use crate::dialect::{BadTableName, TableName};
use crate::plan::{Plan, PlanOptions, Refusal, Request};
use crate::record::Record;
use crate::report::Event;
use crate::settings::Settings;

/// A release's migrations plus the options to apply them with.
///
/// Build one per process (it is cheap), then hand it a connection:
/// [`Migrator::sqlite`] for SQLite (synchronous) or [`Migrator::postgres`]
/// for PostgreSQL (async).
///
/// ```
/// ebbtide::embed_migrations!("../migrations");
///
/// # fn main() -> Result<(), ebbtide::Error> {
/// let migrator = ebbtide::Migrator::new(&migrations::MIGRATIONS);
/// # #[cfg(feature = "sqlite")] {
/// let conn = rusqlite::Connection::open_in_memory().unwrap();
/// let report = migrator.sqlite(&conn).sync(ebbtide::Scope::All)?;
/// assert!(!report.is_empty());
/// assert!(migrator.sqlite(&conn).check()?.may_serve());
/// # }
/// # Ok(())
/// # }
/// ```
///
#[cfg_attr(not(feature = "sqlite"), doc = "[`Migrator::sqlite`]: crate#features")]
#[cfg_attr(not(feature = "postgres"), doc = "[`Migrator::postgres`]: crate#features")]
#[derive(Clone)]
pub struct Migrator<'m> {
    settings: Settings<'m>,
}

impl fmt::Debug for Migrator<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.settings.fmt(f)
    }
}

impl<'m> Migrator<'m> {
    /// A migrator with the defaults: version table `ebbtide_migrations`,
    /// one transaction per migration, divergence refused, no lock timeout,
    /// 10 minutes of waiting for another run's lock, 60 s of waiting for
    /// SQLite's write lock.
    pub fn new(migrations: &'m Migrations) -> Self {
        Migrator { settings: Settings::new(migrations) }
    }

    /// Names the version table (`table` or `schema.table`). Anything but
    /// plain identifiers is refused before any SQL is built.
    pub fn table(mut self, name: &str) -> Result<Self, BadTableName> {
        self.settings.table = TableName::parse(name)?;
        Ok(self)
    }

    /// Runs even though applied migrations were edited since they ran.
    pub fn allow_divergent(mut self, allow: bool) -> Self {
        self.settings.options.allow_divergent = allow;
        self
    }

    /// Applies migrations to a database that has no version table although
    /// it holds tables already. Refused by default: those tables are most
    /// likely what the migrations create, applied under another (or a
    /// dropped) version table; `version_control` and `goto` record them.
    pub fn allow_existing_schema(mut self, allow: bool) -> Self {
        self.settings.options.allow_existing_schema = allow;
        self
    }

    /// Runs a whole request in one transaction: all of it is applied, or
    /// nothing. Refuses plans holding `no-transaction` migrations.
    pub fn all_or_nothing(mut self, yes: bool) -> Self {
        self.settings.options.all_or_nothing = yes;
        self
    }

    /// How long each attempt of a migration waits for a lock, where the
    /// engine can bound it (PostgreSQL's `lock_timeout`), for every
    /// migration without its own `-- ebbtide: lock-timeout` directive:
    /// [`DEFAULT_LOCK_TIMEOUT`](crate::DEFAULT_LOCK_TIMEOUT) (250 ms)
    /// unless set; `Duration::ZERO` waits as long as the lock takes.
    ///
    /// A statement waiting for a lock makes every later one that needs a
    /// conflicting lock on the same table wait behind it: the
    /// application's queries queue at most this long. An attempt that gives
    /// up is rolled back whole and retried (see [`Migrator::lock_retry`]).
    pub fn lock_timeout(mut self, timeout: Duration) -> Self {
        self.settings.lock_timeout = (!timeout.is_zero()).then_some(timeout);
        self
    }

    /// How long a migration whose attempt gave up on a lock is tried again,
    /// with a growing pause between attempts (100 ms to 5 s, jittered),
    /// for every migration without its own `-- ebbtide: lock-retry`
    /// directive: [`DEFAULT_LOCK_RETRY`](crate::DEFAULT_LOCK_RETRY) (10
    /// minutes) unless set; `Duration::ZERO` fails at the first lock
    /// timeout. The observer hears each retry with who held the lock
    /// ([`Event::LockRetry`](crate::Event::LockRetry)).
    pub fn lock_retry(mut self, budget: Duration) -> Self {
        self.settings.lock_retry = budget;
        self
    }

    /// How long a run waits for the migration lock while another run holds
    /// it (10 minutes unless set): the observer hears who holds it after a
    /// second and every ten seconds, and then the run gives up with
    /// [`Error::LockWait`](crate::Error::LockWait).
    pub fn lock_wait(mut self, wait: Duration) -> Self {
        self.settings.lock_wait = wait;
        self
    }

    /// How long SQLite waits for another connection's write lock.
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.settings.busy_timeout = timeout;
        self
    }

    /// Calls `observer` as a run progresses (progress bars, logs).
    pub fn observe(mut self, observer: impl Fn(&Event<'_>) + Send + Sync + 'static) -> Self {
        self.settings.observer = Some(Arc::new(observer));
        self
    }

    /// The migrations.
    pub fn migrations(&self) -> &'m Migrations {
        self.settings.migrations
    }

    /// The version table's name.
    pub fn table_name(&self) -> &TableName {
        &self.settings.table
    }

    /// The planner's options.
    pub fn options(&self) -> PlanOptions {
        self.settings.options
    }

    /// Plans a request against a recorded state, without a database: what
    /// would run, or why it is refused.
    pub fn plan<'a>(&'a self, state: Option<&'a [Record]>, request: Request) -> Result<Plan<'a>, Refusal> {
        self.settings.plan(state, request)
    }

    /// Operations on a SQLite connection.
    #[cfg(feature = "sqlite")]
    pub fn sqlite<'c>(&'c self, conn: &'c rusqlite::Connection) -> crate::sqlite::Sqlite<'c> {
        crate::sqlite::Sqlite::new(&self.settings, conn)
    }

    /// Operations on a PostgreSQL connection.
    #[cfg(feature = "postgres")]
    pub fn postgres<'c>(&'c self, client: &'c tokio_postgres::Client) -> crate::postgres::Postgres<'c> {
        crate::postgres::Postgres::new(&self.settings, client)
    }

    /// Operations on a MySQL or MariaDB connection pool.
    #[cfg(feature = "mysql")]
    pub fn mysql<'c>(&'c self, pool: &'c mysql_async::Pool) -> crate::mysql::Mysql<'c> {
        crate::mysql::Mysql::new(&self.settings, pool)
    }
}

//! What a run works with: the embedded migrations, the version table and
//! the options a [`Migrator`](crate::Migrator) configures. Plain data the
//! executor and the engines read; the public builder is `Migrator`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::Migrations;
use crate::dialect::TableName;
use crate::plan::{self, Plan, PlanOptions, Refusal, Request};
use crate::record::Record;
use crate::report::Event;

/// How long each attempt of a migration waits for a lock, unless told
/// otherwise: the longest the application's statements queue behind it.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_millis(250);

/// How long attempts that gave up on a lock are retried, unless told
/// otherwise.
pub const DEFAULT_LOCK_RETRY: Duration = Duration::from_secs(600);

pub(crate) type Observer = Arc<dyn Fn(&Event<'_>) + Send + Sync>;

/// The migrations and every option of a run.
#[derive(Clone)]
pub(crate) struct Settings<'m> {
    pub migrations: &'m Migrations,
    pub table: TableName,
    pub options: PlanOptions,
    pub lock_timeout: Option<Duration>,
    pub lock_retry: Duration,
    pub busy_timeout: Duration,
    pub lock_wait: Duration,
    pub observer: Option<Observer>,
}

impl fmt::Debug for Settings<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Migrator")
            .field("migrations", &self.migrations.len())
            .field("table", &self.table)
            .field("options", &self.options)
            .field("lock_timeout", &self.lock_timeout)
            .field("lock_retry", &self.lock_retry)
            .field("busy_timeout", &self.busy_timeout)
            .field("lock_wait", &self.lock_wait)
            .finish()
    }
}

impl<'m> Settings<'m> {
    pub fn new(migrations: &'m Migrations) -> Self {
        Settings {
            migrations,
            table: TableName::default(),
            options: PlanOptions::default(),
            lock_timeout: Some(DEFAULT_LOCK_TIMEOUT),
            lock_retry: DEFAULT_LOCK_RETRY,
            busy_timeout: Duration::from_secs(60),
            lock_wait: Duration::from_secs(600),
            observer: None,
        }
    }

    pub fn migrations(&self) -> &'m Migrations {
        self.migrations
    }

    pub fn table_name(&self) -> &TableName {
        &self.table
    }

    pub fn options(&self) -> PlanOptions {
        self.options
    }

    /// The same settings with the version table addressed as `table`.
    pub fn with_table_name(&self, table: TableName) -> Self {
        Settings { table, ..self.clone() }
    }

    pub fn lock_wait_value(&self) -> Duration {
        self.lock_wait
    }

    pub fn default_lock_timeout_ms(&self) -> Option<u32> {
        self.lock_timeout.map(|d| u32::try_from(d.as_millis().max(1)).unwrap_or(u32::MAX))
    }

    /// How long a script's attempts that gave up on a lock are retried: its
    /// own `lock-retry` directive, or the run's.
    pub fn lock_retry_for(&self, script: Option<&crate::Script>) -> Duration {
        match script.and_then(|s| s.lock_retry_ms) {
            Some(ms) => Duration::from_millis(u64::from(ms)),
            None => self.lock_retry,
        }
    }

    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    pub fn busy_timeout_value(&self) -> Duration {
        self.busy_timeout
    }

    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    pub fn observer(&self) -> Option<Observer> {
        self.observer.clone()
    }

    pub fn notify(&self, event: Event<'_>) {
        #[cfg(feature = "tracing")]
        crate::report::trace(&event);
        if let Some(observer) = &self.observer {
            observer(&event);
        }
    }

    pub fn plan<'a>(&'a self, state: Option<&'a [Record]>, request: Request) -> Result<Plan<'a>, Refusal> {
        plan::plan(self.migrations, state, request, self.options)
    }
}

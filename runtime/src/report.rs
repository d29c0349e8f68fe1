//! What a run did, and what it tells while it runs: plain data for the
//! caller, progress bars and logs.

use std::fmt;
use std::time::Duration;

use crate::plan::Step;
use crate::{Branch, Version};

/// What a run did, step by step.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Whether the version table was created.
    pub created_table: bool,
    /// The steps that ran, in order.
    pub steps: Vec<Done>,
}

impl Report {
    /// Whether the run changed nothing.
    pub fn is_empty(&self) -> bool {
        !self.created_table && self.steps.iter().all(|s| s.skipped)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("nothing to do");
        }
        let mut first = true;
        if self.created_table {
            f.write_str("created the version table")?;
            first = false;
        }
        for step in &self.steps {
            if !first {
                writeln!(f)?;
            }
            first = false;
            write!(f, "{step}")?;
        }
        Ok(())
    }
}

/// One step of a run, done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Done {
    /// `apply`, `revert`, `stamp`, `unstamp` or `rerecord`.
    pub verb: &'static str,
    /// The migration's version.
    pub version: Version,
    /// Its branch.
    pub branch: Branch,
    /// Its name.
    pub name: String,
    /// How long it took.
    pub duration: Duration,
    /// Another run did it first (SQLite runs interleave step by step).
    pub skipped: bool,
}

impl fmt::Display for Done {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let past = match self.verb {
            "apply" => "applied",
            "revert" => "reverted",
            "stamp" => "stamped",
            "rerecord" => "re-recorded",
            _ => "unstamped",
        };
        write!(f, "{past} {} {}_{} ({} ms)", self.branch, self.version, self.name, self.duration.as_millis())?;
        if self.skipped {
            f.write_str(" - already done by a concurrent run, skipped")?;
        }
        Ok(())
    }
}

/// Progress of a run, for progress bars and logs.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Event<'a> {
    /// The plan is made; `steps` steps will run.
    Planned {
        /// Number of steps.
        steps: usize,
    },
    /// The version table was created, before the first step.
    CreatedTable {
        /// The table, as the run addresses it.
        table: String,
    },
    /// A step starts.
    Started(&'a Step<'a>),
    /// A step is done.
    Finished(&'a Done),
    /// A migration gave up waiting for a lock after its lock timeout: its
    /// transaction (or, outside one, its statement) was rolled back, and it
    /// is tried again after `retry_in`.
    LockRetry {
        /// The step.
        step: &'a Step<'a>,
        /// The statement that waited (its first line).
        statement: &'a str,
        /// Attempts that gave up so far.
        attempt: u32,
        /// How long the step has been retried.
        waited: Duration,
        /// The pause before the next attempt.
        retry_in: Duration,
        /// Who held the locks in the way, as far as the engine tells.
        blockers: &'a [Blocker],
    },
    /// A batch of a batched backfill committed, with its progress.
    Batch {
        /// The step of the backfill.
        step: &'a Step<'a>,
        /// Batches done so far, including those of earlier runs.
        batches: u64,
        /// The last key done.
        reached: i64,
        /// The table's largest key when this run started: where the
        /// backfill ends, unless rows are added meanwhile.
        end: i64,
    },
    /// The run waits for the lock another run holds (told after a second,
    /// then every ten).
    Waiting {
        /// The version table whose lock it is.
        lock: String,
        /// Who holds it, as far as the engine tells.
        holder: String,
        /// How long this run has waited.
        waited: Duration,
    },
}

/// A session holding a lock a migration waited for: who to ask, or end,
/// so that the migration goes through.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Blocker {
    /// The server process (PostgreSQL's `pid`).
    pub pid: i64,
    /// The client's `application_name`, if it gave one.
    pub application: String,
    /// `active`, `idle in transaction`, ...
    pub state: String,
    /// How long its transaction has been open.
    pub transaction_age: Option<Duration>,
    /// The start of its current (or last) query.
    pub query: String,
}

impl fmt::Display for Blocker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "server process {}", self.pid)?;
        if !self.application.is_empty() {
            write!(f, " ({})", self.application)?;
        }
        write!(f, ", {}", if self.state.is_empty() { "state unknown" } else { &self.state })?;
        if let Some(age) = self.transaction_age {
            write!(f, ", transaction open for {:.1} s", age.as_secs_f64())?;
        }
        let query: String = self.query.split_whitespace().collect::<Vec<_>>().join(" ");
        if !query.is_empty() {
            write!(f, ": {query}")?;
        }
        Ok(())
    }
}

/// `event` as a `tracing` event of target `ebbtide`, for applications
/// that collect their logs with `tracing` (feature `tracing`): which
/// migration starts and ends and how long it took, and a wait for another
/// run's lock, at `INFO`; a lock retry at `WARN`; the plan and each
/// backfill batch at `DEBUG`. Every value is a field as well as in the
/// message.
#[cfg(feature = "tracing")]
pub(crate) fn trace(event: &Event<'_>) {
    match event {
        Event::Planned { steps } => tracing::debug!(target: "ebbtide", steps, "{steps} step(s) planned"),
        Event::CreatedTable { table } => {
            tracing::info!(target: "ebbtide", table, "created the version table {table}")
        }
        Event::Started(step) => tracing::info!(target: "ebbtide", step = %step, "{step}"),
        Event::Finished(done) => tracing::info!(
            target: "ebbtide",
            verb = done.verb,
            version = done.version.get(),
            branch = %done.branch,
            migration = %done.name,
            duration_ms = u64::try_from(done.duration.as_millis()).unwrap_or(u64::MAX),
            skipped = done.skipped,
            "{done}"
        ),
        Event::LockRetry { step, statement, attempt, waited, retry_in, blockers } => {
            let blockers: Vec<String> = blockers.iter().map(ToString::to_string).collect();
            tracing::warn!(
                target: "ebbtide",
                step = %step,
                statement,
                attempt,
                waited_ms = u64::try_from(waited.as_millis()).unwrap_or(u64::MAX),
                retry_in_ms = u64::try_from(retry_in.as_millis()).unwrap_or(u64::MAX),
                blockers = %blockers.join("; "),
                "{step}: gave up waiting for a lock (attempt {attempt}); retrying"
            )
        }
        Event::Batch { step, batches, reached, end } => {
            tracing::debug!(target: "ebbtide", step = %step, batches, reached, end, "{step}: batch {batches}, up to key {reached} of {end}")
        }
        Event::Waiting { lock, holder, waited } => tracing::info!(
            target: "ebbtide",
            lock,
            holder,
            waited_ms = u64::try_from(waited.as_millis()).unwrap_or(u64::MAX),
            "waiting for the migration lock on {lock}, held by {holder}"
        ),
    }
}

#[cfg(all(test, feature = "tracing", feature = "sqlite"))]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Metadata, Subscriber};

    /// Every event's level, target and fields, as text.
    #[derive(Clone, Default)]
    struct Collect(Arc<Mutex<Vec<String>>>);

    struct Fields(String);

    impl Visit for Fields {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            self.0.push_str(&format!(" {}={value:?}", field.name()));
        }
    }

    impl Subscriber for Collect {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &Attributes<'_>) -> Id {
            Id::from_u64(1)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &Event<'_>) {
            let mut fields = Fields(format!("{} {}", event.metadata().level(), event.metadata().target()));
            event.record(&mut fields);
            self.0.lock().unwrap().push(fields.0);
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }

    #[test]
    fn a_run_tells_tracing_which_migration_ran_and_how_long_it_took() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("expand")).unwrap();
        std::fs::write(dir.path().join("expand/0001_create_t.sql"), "CREATE TABLE t (id INTEGER);\n").unwrap();
        let (migrations, _) = crate::Migrations::from_dir(dir.path(), "m").unwrap();
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let collect = Collect::default();
        tracing::subscriber::with_default(collect.clone(), || {
            crate::Migrator::new(&migrations).sqlite(&conn).sync(crate::Scope::All).unwrap();
        });
        let events = collect.0.lock().unwrap().clone();
        let finished = events.iter().find(|e| e.contains("migration=create_t")).expect("the migration's end");
        assert!(finished.starts_with("INFO ebbtide"), "{events:?}");
        assert!(finished.contains("version=1") && finished.contains("duration_ms="), "{events:?}");
        assert!(finished.contains("applied expand 0001_create_t"), "{events:?}");
        assert!(events.iter().any(|e| e.contains("created the version table")), "{events:?}");
    }
}

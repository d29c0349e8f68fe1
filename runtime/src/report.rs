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

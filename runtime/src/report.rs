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

//! `status`/`history`: every migration, embedded or recorded, with its state.

use std::fmt;

use crate::record::{How, Record};
use crate::{Branch, Migrations, Version};

/// The state of one migration.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum State {
    /// Recorded as applied, and unchanged.
    Applied,
    /// Recorded by `goto` without running.
    Stamped,
    /// Embedded, not recorded.
    Pending,
    /// Recorded, but the embedded migration differs (edited, renamed, moved).
    Divergent,
    /// Recorded, unknown to this release (a newer release's).
    Unknown,
    /// A `no-transaction` script that started and did not finish: its
    /// changes may be partial (record the outcome with `resolve`).
    Started,
    /// Recorded and the same migration by its fingerprint, but its
    /// branch, name or checksum columns were edited by hand.
    Edited,
    /// A batched backfill under way (or stopped by a crash or a failing
    /// batch): not recorded yet, so pending for every check; the next sync
    /// resumes after [`Row::backfilled_to`].
    Backfilling,
}

impl State {
    /// The lowercase name: `applied`, `stamped`, `pending`, `divergent`,
    /// `unknown`, `started, not finished`, `applied, record edited by hand`,
    /// `backfilling`.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Applied => "applied",
            State::Stamped => "stamped",
            State::Pending => "pending",
            State::Divergent => "divergent",
            State::Unknown => "unknown",
            State::Started => "started, not finished",
            State::Edited => "applied, record edited by hand",
            State::Backfilling => "backfilling",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// One row of `status`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// The version.
    pub version: Version,
    /// The branch (as embedded, or as recorded when unknown).
    pub branch: Branch,
    /// The name (as embedded, or as recorded when unknown).
    pub name: String,
    /// The release it belongs to: its declared name, or `from <first
    /// version>` where contract migrations end releases; `None` when this
    /// release does not know the migration.
    pub release: Option<String>,
    /// Its state.
    pub state: State,
    /// When it was recorded.
    pub applied_at: Option<String>,
    /// How long its up script took.
    pub duration_ms: Option<i64>,
    /// A batched backfill under way: the last key done.
    pub backfilled_to: Option<i64>,
    /// A migration that started and did not finish, where the engine
    /// records its progress (MySQL): where it stopped, and why.
    pub stopped: Option<Stopped>,
}

/// Where a migration that ran statement by statement stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stopped {
    /// The statements that finished.
    pub done: usize,
    /// The statements of its script (`None`: none had finished).
    pub of: Option<usize>,
    /// The engine's error, when a statement failed; `None` when the run
    /// was stopped (killed, disconnected) in the middle.
    pub failure: Option<String>,
}

impl fmt::Display for Stopped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let of = self.of.map(|n| format!(" of {n}")).unwrap_or_default();
        match &self.failure {
            Some(failure) => write!(f, "failed at statement {}{of}: {failure}", self.done + 1),
            None if self.done == 0 => f.write_str("stopped at its first statement, which may or may not have run"),
            None => write!(
                f,
                "stopped after statement {}{of}; statement {} may or may not have run",
                self.done,
                self.done + 1
            ),
        }
    }
}

/// Every migration of this release and of the database, in version order.
pub fn rows(migrations: &Migrations, state: Option<&[Record]>) -> Vec<Row> {
    let records = state.unwrap_or(&[]);
    let by_version: std::collections::HashMap<Version, &Record> = records.iter().map(|r| (r.version, r)).collect();
    let releases = ebbtide_core::rules::releases(migrations.as_slice());
    let mut rows: Vec<Row> = migrations
        .iter()
        .zip(releases)
        .map(|(m, release)| {
            let record = by_version.get(&m.version);
            let state = match record {
                None => State::Pending,
                Some(r) if r.started() => State::Started,
                // The fingerprint decides, as for the startup check.
                Some(r) if r.fingerprint != m.fingerprint && !r.matches(m) => State::Divergent,
                Some(r) if r.edited() => State::Edited,
                Some(r) if r.how == Some(How::Stamped) => State::Stamped,
                Some(_) => State::Applied,
            };
            Row {
                version: m.version,
                branch: m.branch,
                name: m.name.to_string(),
                release: Some(release),
                state,
                applied_at: record.and_then(|r| r.applied_at.clone()),
                duration_ms: record.and_then(|r| r.duration_ms),
                backfilled_to: None,
                stopped: None,
            }
        })
        .collect();
    rows.extend(records.iter().filter(|r| migrations.get(r.version).is_none()).map(|r| Row {
        version: r.version,
        branch: r.branch,
        name: r.name.clone(),
        release: None,
        state: if r.started() { State::Started } else { State::Unknown },
        applied_at: r.applied_at.clone(),
        duration_ms: r.duration_ms,
        backfilled_to: None,
        stopped: None,
    }));
    rows
}

/// Marks the pending rows of the backfills under way, `(version, last key
/// done)`, as backfilling.
pub(crate) fn backfilling(rows: &mut [Row], under_way: impl IntoIterator<Item = (Version, i64)>) {
    for (version, key) in under_way {
        if let Some(row) = rows.iter_mut().find(|r| r.version == version && r.state == State::Pending) {
            row.state = State::Backfilling;
            row.backfilled_to = Some(key);
        }
    }
}

/// Formats rows as an aligned text table, one line per row under a header
/// (what `ebbtide status` prints).
///
/// ```
/// ebbtide::embed_migrations!("../migrations");
///
/// // Rows of a database that has no version table yet: all pending.
/// let rows = ebbtide::status::rows(&migrations::MIGRATIONS, None);
/// let table = ebbtide::status::table(&rows);
/// let mut lines = table.lines();
/// assert!(lines.next().unwrap().starts_with("VERSION  BRANCH"));
/// assert!(lines.next().unwrap().starts_with("0001"));
/// assert!(table.lines().skip(1).all(|line| line.contains("pending")));
/// ```
///
/// On a database, the rows come from the front end's `status`
/// (`Sqlite::status`, `Postgres::status`; the `Sqlite` front end's
/// documentation shows it).
pub fn table(rows: &[Row]) -> String {
    let header = ["VERSION", "BRANCH", "RELEASE", "NAME", "STATE", "APPLIED AT", "DURATION"];
    let cells: Vec<[String; 7]> = rows
        .iter()
        .map(|r| {
            [
                r.version.to_string(),
                r.branch.to_string(),
                r.release.clone().unwrap_or_else(|| "?".into()),
                r.name.clone(),
                match r.backfilled_to {
                    Some(key) => format!("{}, up to key {key}", r.state),
                    None => r.state.to_string(),
                },
                r.applied_at.clone().unwrap_or_else(|| "-".into()),
                r.duration_ms.map_or_else(|| "-".into(), |d| format!("{d} ms")),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &cells {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; 7]| {
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i == 6 {
                s.push_str(cell);
            } else {
                s.push_str(&format!("{cell:<w$}  "));
            }
        }
        s.trim_end().to_string()
    };
    let mut out = line(header);
    for row in &cells {
        out.push('\n');
        out.push_str(&line(row.each_ref().map(String::as_str)));
    }
    for r in rows {
        if let Some(stopped) = &r.stopped {
            out.push_str(&format!("\n{}_{}: {stopped}", r.version, r.name));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_display_honours_width_and_alignment() {
        assert_eq!(format!("{:>6}", State::Applied), "applied");
        assert_eq!(format!("{:>9}", State::Pending), "  pending");
        assert_eq!(format!("{:<10}|", State::Stamped), "stamped   |");
        assert_eq!(format!("{:<10}|", State::Started), "started, not finished|");
    }
}

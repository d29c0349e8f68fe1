//! What the version table holds: one [`Record`] per migration recorded in
//! the database.

use std::fmt;

use ebbtide_core::checksum::Recorded;

use crate::{Branch, Migration, Version};

/// How a migration got into the version table.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum How {
    /// Its up script ran.
    Applied,
    /// `goto` recorded it as present without running anything.
    Stamped,
}

impl How {
    /// The version-table spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            How::Applied => "applied",
            How::Stamped => "stamped",
        }
    }

    /// Parses the version-table spelling.
    pub fn parse(text: &str) -> Option<How> {
        match text {
            "applied" => Some(How::Applied),
            "stamped" => Some(How::Stamped),
            _ => None,
        }
    }
}

impl fmt::Display for How {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One row of the version table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The migration's version.
    pub version: Version,
    /// Its branch, as recorded.
    pub branch: Branch,
    /// Its name, as recorded.
    pub name: String,
    /// The checksum of the up script that was applied (or stamped).
    pub checksum: String,
    /// Applied or stamped; read by `status`, `records` and `downgrade`, not by
    /// the startup check (which reads as little as it can).
    pub how: Option<How>,
    /// When, in UTC (ISO 8601); read by `status` and `records`, not by the
    /// startup check.
    pub applied_at: Option<String>,
    /// How long its up script took, in milliseconds; read with `applied_at`.
    pub duration_ms: Option<i64>,
    /// Whether the table holds a down script for it; read with `how`.
    pub has_down: Option<bool>,
    /// The fingerprint of its branch, name and checksum when it was
    /// recorded, or `started` while a `no-transaction` script runs (and
    /// after it failed half-way).
    pub fingerprint: String,
}

/// The fingerprint of a record whose `no-transaction` script started and
/// did not finish: its changes may be partial.
pub const STARTED: &str = "started";

impl Record {
    /// A record from a row of `Sql::select_records`, or what is wrong
    /// with the row.
    pub(crate) fn from_row(row: &[Cell<'_>], full: bool) -> Result<Record, String> {
        let cell = |i: usize| Cell::at(row, i);
        let Key { version, branch, name, checksum } = Record::key(row)?;
        let how = match full {
            true => Some(How::parse(&cell(5).text()).ok_or_else(|| format!("how {:?}", cell(5).text()))?),
            false => None,
        };
        Ok(Record {
            version,
            branch,
            name: String::from_utf8_lossy(name).into_owned(),
            checksum: String::from_utf8_lossy(checksum).into_owned(),
            how,
            has_down: full.then(|| cell(6).truthy()),
            applied_at: full.then(|| cell(7).text().into_owned()),
            duration_ms: if full { cell(8).int() } else { None },
            fingerprint: cell(4).text().into_owned(),
        })
    }

    /// The version, branch, name and checksum of a row, borrowed.
    pub(crate) fn key<'r>(row: &[Cell<'r>]) -> Result<Key<'r>, String> {
        let cell = |i: usize| Cell::at(row, i);
        let version =
            cell(0).int().and_then(|v| u32::try_from(v).ok()).ok_or_else(|| format!("version {:?}", cell(0).text()))?;
        let branch = match cell(1).bytes() {
            b"initial" => Branch::Initial,
            b"expand" => Branch::Expand,
            b"contract" => Branch::Contract,
            _ => return Err(format!("branch {:?}", cell(1).text())),
        };
        Ok(Key { version: Version::new(version), branch, name: cell(2).bytes(), checksum: cell(3).bytes() })
    }

    /// `0002_create_users`.
    pub fn id(&self) -> String {
        format!("{}_{}", self.version, self.name)
    }

    /// Its version and name.
    pub fn migration_id(&self) -> MigrationId {
        MigrationId { version: self.version, name: self.name.clone() }
    }

    /// Whether this record describes `migration` as it is embedded now:
    /// same name, branch and statements (its checksum is the statement
    /// checksum, or the whole-text checksum an earlier ebbtide recorded of
    /// the same file).
    pub fn matches(&self, migration: &Migration) -> bool {
        self.name == migration.name
            && self.branch == migration.branch
            && migration.judge_checksum(self.checksum.as_bytes()) != Recorded::Edited
    }

    /// Whether its `no-transaction` script started and did not finish.
    pub fn started(&self) -> bool {
        self.fingerprint == STARTED
    }

    /// Whether its branch, name or checksum were edited by hand since it
    /// was recorded: they no longer give its fingerprint. The fingerprint
    /// is what the startup check and the planner compare.
    pub fn edited(&self) -> bool {
        !self.started()
            && self.fingerprint != ebbtide_core::checksum::fingerprint(self.branch.as_str(), &self.name, &self.checksum)
    }
}

/// What identifies a record, borrowed from a result row.
pub(crate) struct Key<'r> {
    pub version: Version,
    pub branch: Branch,
    pub name: &'r [u8],
    pub checksum: &'r [u8],
}

/// What `sync` and friends read from the database: the records, or `None`
/// when there is no version table (the database is not under version
/// control).
pub type State = Option<Vec<Record>>;

/// One value of a result row, borrowed from the driver: ebbtide's queries
/// return integers and text only.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Cell<'a> {
    Null,
    Int(i64),
    Text(&'a [u8]),
}

impl<'a> Cell<'a> {
    /// Column `i` of a row; `Null` past its end.
    pub fn at(row: &[Cell<'a>], i: usize) -> Cell<'a> {
        row.get(i).copied().unwrap_or(Cell::Null)
    }

    /// The value as an integer (text is parsed: PostgreSQL's simple
    /// protocol returns text).
    pub fn int(self) -> Option<i64> {
        match self {
            Cell::Int(n) => Some(n),
            Cell::Text(t) => std::str::from_utf8(t).ok()?.parse().ok(),
            Cell::Null => None,
        }
    }

    /// The value's bytes (empty for NULL and integers).
    pub fn bytes(self) -> &'a [u8] {
        match self {
            Cell::Text(t) => t,
            _ => b"",
        }
    }

    /// The value as text.
    pub fn text(self) -> std::borrow::Cow<'a, str> {
        match self {
            Cell::Text(t) => String::from_utf8_lossy(t),
            Cell::Int(n) => std::borrow::Cow::Owned(n.to_string()),
            Cell::Null => std::borrow::Cow::Borrowed(""),
        }
    }

    /// A boolean as either engine writes it (1, t, true).
    pub fn truthy(self) -> bool {
        matches!(self, Cell::Int(1)) || matches!(self.bytes(), b"t" | b"true" | b"1")
    }
}

/// A migration named by its version and name, as the version table and
/// the embedded list know it: what verdicts and refusals list. Shown as
/// in the file name, `0002_create_users`; compares equal to that text.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MigrationId {
    /// Its version.
    pub version: Version,
    /// Its name, without the version.
    pub name: String,
}

impl MigrationId {
    /// The version and name of an embedded migration.
    pub fn of(migration: &Migration) -> MigrationId {
        MigrationId { version: migration.version, name: migration.name.to_string() }
    }
}

impl fmt::Display for MigrationId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(&format!("{}_{}", self.version, self.name))
    }
}

impl PartialEq<str> for MigrationId {
    fn eq(&self, other: &str) -> bool {
        other.split_once('_').is_some_and(|(v, n)| v.parse() == Ok(self.version.get()) && n == self.name)
    }
}

impl PartialEq<&str> for MigrationId {
    fn eq(&self, other: &&str) -> bool {
        *self == **other
    }
}

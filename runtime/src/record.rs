//! What the version table holds: one [`Record`] per migration recorded in
//! the database.

use std::fmt;

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
    /// Applied or stamped.
    pub how: How,
    /// When, in UTC (ISO 8601).
    pub applied_at: String,
    /// How long its up script took, in milliseconds.
    pub duration_ms: i64,
    /// Whether the table holds a down script for it.
    pub has_down: bool,
}

impl Record {
    /// `0002_create_users`.
    pub fn id(&self) -> String {
        format!("{}_{}", self.version, self.name)
    }

    /// Whether this record describes `migration` as it is embedded now:
    /// same name, branch and checksum.
    pub fn matches(&self, migration: &Migration) -> bool {
        self.name == migration.name && self.branch == migration.branch && self.checksum == migration.checksum
    }
}

/// What `sync` and friends read from the database: the records, or `None`
/// when there is no version table (the database is not under version
/// control).
pub type State = Option<Vec<Record>>;

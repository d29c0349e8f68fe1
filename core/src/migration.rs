//! The migration model shared by build time and run time.
//!
//! Every string and slice is a [`Cow`], so the same types describe the
//! migrations `embed_migrations!` bakes into a binary (borrowed from its
//! `'static` literals, see [`packed`](crate::packed)) and those the
//! command-line tool reads from a directory at run time (owned data).

use std::borrow::Cow;
use std::fmt;

use crate::backfill::Backfill;
use crate::checksum::{self, Recorded};

/// A migration's position in the one global sequence (1, 2, 3, ...).
///
/// Versions are shared by every branch: `0003` is either an initial, an
/// expand or a contract migration, never two of them.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(pub u32);

impl Version {
    /// The version of an empty database: nothing applied.
    pub const ZERO: Version = Version(0);

    /// Wraps a version number.
    pub const fn new(number: u32) -> Self {
        Version(number)
    }

    /// The version number.
    pub const fn get(self) -> u32 {
        self.0
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Padded as a whole, so that `{:>6}` and `{:<10}` align columns.
        f.pad(&format!("{:04}", self.0))
    }
}

impl From<u32> for Version {
    fn from(number: u32) -> Self {
        Version(number)
    }
}

/// Which branch a migration belongs to; its directory names it.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Branch {
    /// `initial/`: the history before expand/contract was adopted. Any SQL
    /// is allowed; every initial version precedes every other version.
    Initial,
    /// `expand/`: additive changes only, safe while the old release runs.
    Expand,
    /// `contract/`: destructive changes, run once the old release is gone.
    Contract,
}

impl Branch {
    /// Every branch, in the order their directories are read.
    pub const ALL: [Branch; 3] = [Branch::Initial, Branch::Expand, Branch::Contract];

    /// The directory (and version-table) name of the branch.
    pub const fn as_str(self) -> &'static str {
        match self {
            Branch::Initial => "initial",
            Branch::Expand => "expand",
            Branch::Contract => "contract",
        }
    }

    /// Parses a directory or version-table name.
    pub fn parse(name: &str) -> Option<Branch> {
        Branch::ALL.into_iter().find(|b| b.as_str() == name)
    }
}

impl fmt::Display for Branch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// One SQL statement of a script: a byte range of the script's text and
/// the 1-based line where the statement starts.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Statement {
    /// Byte offset of the statement's first significant character.
    pub start: u32,
    /// Byte offset just past the statement (its `;` included, if any).
    pub end: u32,
    /// Line of `start`, counted from 1.
    pub line: u32,
}

/// An up or down script: its text, split into statements, and how to run it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Script {
    /// The file, relative to the directory that holds `migrations/`'s parent
    /// (e.g. `migrations/expand/0002_create_users.sql`).
    pub path: Cow<'static, str>,
    /// The file's text, exactly as read.
    pub sql: Cow<'static, str>,
    /// The statements of `sql`, in order.
    pub statements: Cow<'static, [Statement]>,
    /// `-- ebbtide: no-transaction`: run outside a transaction.
    pub no_transaction: bool,
    /// `-- ebbtide: lock-timeout <duration>`, in milliseconds.
    pub lock_timeout_ms: Option<u32>,
    /// `-- ebbtide: lock-retry <duration>|off`, in milliseconds (0: off).
    pub lock_retry_ms: Option<u32>,
    /// SQLite's table rebuild: the script turns foreign keys off
    /// (`PRAGMA foreign_keys = OFF`, or `-- ebbtide: foreign-keys-off`).
    /// SQLite ignores that inside a transaction, so ebbtide turns them off
    /// before the migration's transaction opens, checks every foreign key
    /// before it commits, and turns them back on afterwards.
    pub foreign_keys_off: bool,
    /// The script changes the state of the connection it runs on
    /// (settings, pragmas, temporary objects). ebbtide returns the
    /// connection to the state the run started with after it.
    pub sets_session: bool,
    /// `-- ebbtide: backfill <table>.<key> <batch-size>`: the script, one
    /// `UPDATE` with `:after` and `:upto`, runs in batches by that key,
    /// each batch in a transaction of its own with its progress.
    pub backfill: Option<Backfill>,
}

impl Script {
    /// The text of one statement of this script.
    pub fn statement_sql(&self, statement: &Statement) -> &str {
        &self.sql[statement.start as usize..statement.end as usize]
    }

    /// Every statement's text, with the line it starts on.
    pub fn statements(&self) -> impl Iterator<Item = (u32, &str)> + '_ {
        self.statements.iter().map(|s| (s.line, self.statement_sql(s)))
    }
}

/// A validated migration: an up script, an optional down script, and its
/// place in the sequence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Migration {
    /// Its position in the global sequence.
    pub version: Version,
    /// The branch its directory names.
    pub branch: Branch,
    /// The snake_case name from the file name (`create_users`).
    pub name: Cow<'static, str>,
    /// The release this migration starts (`-- ebbtide: release <name>`),
    /// in a project that declares its releases.
    pub release: Option<Cow<'static, str>>,
    /// SHA-256 of what the up script runs (its statements and directives,
    /// without comments and layout: see [`checksum`](crate::checksum)), in hex.
    pub checksum: Cow<'static, str>,
    /// [`checksum::fingerprint`](crate::checksum::fingerprint) of the
    /// branch, name and checksum: what the startup check compares.
    pub fingerprint: Cow<'static, str>,
    /// What applying it runs.
    pub up: Script,
    /// What reverting it runs, when the migration is reversible.
    pub down: Option<Script>,
}

impl Migration {
    /// `0002_create_users`: the version and name, as in the file name.
    pub fn id(&self) -> String {
        format!("{}_{}", self.version, self.name)
    }

    /// Whether a down script exists.
    pub fn is_reversible(&self) -> bool {
        self.down.is_some()
    }

    /// What `recorded`, the checksum a version table holds for this
    /// migration, says of it: the same statements ([`Recorded::Current`]),
    /// the same file under the checksum of its whole text that ebbtide
    /// recorded before it checksummed statements ([`Recorded::Text`]), or
    /// statements edited since ([`Recorded::Edited`]).
    pub fn judge_checksum(&self, recorded: &[u8]) -> Recorded {
        if recorded == self.checksum.as_bytes() {
            Recorded::Current
        } else if recorded.len() == 64 && recorded == checksum::of_text(&self.up.sql).as_bytes() {
            Recorded::Text
        } else {
            Recorded::Edited
        }
    }
}

impl fmt::Display for Migration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} migration {}_{}", self.branch, self.version, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_display_honours_width_and_alignment() {
        assert_eq!(format!("{}", Version::new(3)), "0003");
        assert_eq!(format!("{:>6}", Version::new(3)), "  0003");
        assert_eq!(format!("{:<10}|", Version::new(3)), "0003      |");
        assert_eq!(format!("{:>6}", Version::new(123_456)), "123456");
    }

    #[test]
    fn branch_display_honours_width_and_alignment() {
        assert_eq!(format!("{:>6}", Branch::Expand), "expand");
        assert_eq!(format!("{:>8}", Branch::Expand), "  expand");
        assert_eq!(format!("{:<10}|", Branch::Initial), "initial   |");
        assert_eq!(format!("{:^10}|", Branch::Contract), " contract |");
    }
}

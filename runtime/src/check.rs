//! The startup guard: may this release serve on this database?
//!
//! A service calls `check` before serving. During a rolling upgrade two
//! releases share one database, so the guard accepts a schema that is ahead
//! in the expand branch (the newer release's expand ran) and one whose
//! contract is pending (this release's contract has not run yet), and
//! refuses the two states it cannot work with: missing expand migrations,
//! and contract migrations it does not know.
//!
//! | verdict | may serve | exit code | what to do |
//! |---|---|---|---|
//! | `Current` | yes | 0 | nothing |
//! | `NewerExpand` | yes | 0 | nothing: a newer release is rolling out |
//! | `ContractPending` | yes | 4 | sync contract once the old release is gone |
//! | `Unmanaged` | yes (with a warning) | 0 | put it under version control, if wanted |
//! | `Empty` | no | 2 | sync (every branch: no release serves yet) |
//! | `Outdated` | no | 2 | sync expand |
//! | `Incompatible` | no | 3 | deploy the newer release, or revert the edit |
//! | `Unfinished` | no | 3 | finish or undo by hand, then `goto` |
//!
//! The exit codes are Keystone's `db_sync --check` codes: 0 nothing to do
//! before serving, 2 expand (or version control) due, 4 contract due; 3
//! is ebbtide's own, for the states no sync can repair. A database that
//! is not under version control is Keystone's 2 when it is empty (the
//! first sync creates everything); when it already holds a schema, a team
//! opted out of ebbtide on it, and the guard warns and lets the service
//! serve (0): a sync would not create what is already there.

use std::fmt;

use crate::plan::{Analysis, Divergence};
use crate::record::{MigrationId, Record};
use crate::{Branch, Migrations, Scope};

/// The guard's verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// Every migration of this release is recorded, and nothing else.
    Current,
    /// This release's expand migrations are all in; some of its contract
    /// migrations are not (run `sync --contract` once the old release is gone).
    ContractPending {
        /// The contract migrations not yet applied.
        pending: Vec<MigrationId>,
    },
    /// A newer release's expand migrations are in: a rolling upgrade is
    /// under way. This release still works.
    NewerExpand {
        /// The expand migrations this release does not know.
        unknown: Vec<MigrationId>,
    },
    /// Expand (or initial) migrations of this release are missing: the schema
    /// is behind. Refuse to serve.
    Outdated {
        /// The missing migrations.
        missing: Vec<MigrationId>,
    },
    /// The database holds contract migrations this release does not know
    /// (a newer release contracted), or applied migrations differ from
    /// this release's. Refuse to serve.
    Incompatible {
        /// Contract migrations unknown to this release.
        unknown_contract: Vec<MigrationId>,
        /// Applied migrations that differ from the embedded ones.
        divergent: Vec<Divergence>,
    },
    /// A `no-transaction` migration started and did not finish: the
    /// schema may be half-changed. Refuse to serve until an operator
    /// records the outcome (`goto`).
    Unfinished {
        /// The migrations that did not finish.
        started: Vec<MigrationId>,
    },
    /// There is no version table, but the database holds tables: it is
    /// managed by other means (a team opted out, or it predates ebbtide).
    /// The service may run; a warning is due. `version-control` adopts it.
    Unmanaged,
    /// There is no version table and no table at all: a new database,
    /// which nothing has migrated yet. Refuse to serve until a sync (of
    /// every branch) has created the schema.
    Empty,
}

impl Verdict {
    /// Judges a recorded state (`None`: no version table, on a database
    /// that holds other tables).
    pub fn new(migrations: &Migrations, state: Option<&[Record]>) -> Verdict {
        match state {
            None => Verdict::Unmanaged,
            Some(records) => Verdict::of(migrations, Analysis::new(migrations, records)),
        }
    }

    /// The sync that makes this release able to serve, if one does: every
    /// branch on an empty database, expand on an outdated one.
    ///
    /// The startup pattern of a service whose instances may migrate (the
    /// first instance of a deploy, or each one, behind the run lock):
    ///
    /// ```
    /// # #[cfg(feature = "sqlite")] {
    /// # ebbtide::embed_migrations!("../migrations");
    /// # let conn = rusqlite::Connection::open_in_memory().unwrap();
    /// let migrator = ebbtide::Migrator::new(&migrations::MIGRATIONS);
    /// let db = migrator.sqlite(&conn);
    /// let mut verdict = db.check()?;
    /// if let Some(scope) = verdict.sync_to_serve() {
    ///     db.sync(scope)?;
    ///     verdict = db.check()?;
    /// }
    /// if !verdict.may_serve() {
    ///     return Err(verdict.into());
    /// }
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sync_to_serve(&self) -> Option<Scope> {
        match self {
            Verdict::Empty => Some(Scope::All),
            Verdict::Outdated { .. } => Some(Scope::Expand),
            _ => None,
        }
    }

    /// Judges the analysis of a version table.
    pub fn of(migrations: &Migrations, analysis: Analysis) -> Verdict {
        if !analysis.started.is_empty() {
            return Verdict::Unfinished { started: analysis.started };
        }
        if !analysis.unknown_contract.is_empty() || !analysis.divergent.is_empty() {
            return Verdict::Incompatible {
                unknown_contract: analysis.unknown_contract,
                divergent: analysis.divergent,
            };
        }
        let (contract, missing): (Vec<_>, Vec<_>) =
            analysis.pending(migrations).partition(|m| m.branch == Branch::Contract);
        if !missing.is_empty() {
            return Verdict::Outdated { missing: missing.iter().map(|m| MigrationId::of(m)).collect() };
        }
        if !contract.is_empty() {
            return Verdict::ContractPending { pending: contract.iter().map(|m| MigrationId::of(m)).collect() };
        }
        if !analysis.unknown_expand.is_empty() {
            return Verdict::NewerExpand { unknown: analysis.unknown_expand };
        }
        Verdict::Current
    }

    /// Whether the service may serve on this database.
    pub fn may_serve(&self) -> bool {
        !matches!(
            self,
            Verdict::Empty | Verdict::Outdated { .. } | Verdict::Incompatible { .. } | Verdict::Unfinished { .. }
        )
    }

    /// The exit code of `ebbtide check`, following Keystone's `db_sync
    /// --check` (see the table in this module's documentation): 0 nothing
    /// to do before serving, 2 expand pending or an empty database, 4
    /// contract pending, and 3 (ebbtide's own) incompatible or unfinished.
    /// Every verdict that may not serve has a code of 2 or 3.
    pub fn exit_code(&self) -> i32 {
        match self {
            Verdict::Current | Verdict::NewerExpand { .. } | Verdict::Unmanaged => 0,
            Verdict::Outdated { .. } | Verdict::Empty => 2,
            Verdict::Incompatible { .. } | Verdict::Unfinished { .. } => 3,
            Verdict::ContractPending { .. } => 4,
        }
    }

    /// A short machine-readable name: `current`, `contract-pending`,
    /// `newer-expand`, `outdated`, `incompatible`, `unfinished`,
    /// `unmanaged`, `empty`.
    pub fn name(&self) -> &'static str {
        match self {
            Verdict::Current => "current",
            Verdict::ContractPending { .. } => "contract-pending",
            Verdict::NewerExpand { .. } => "newer-expand",
            Verdict::Outdated { .. } => "outdated",
            Verdict::Incompatible { .. } => "incompatible",
            Verdict::Unfinished { .. } => "unfinished",
            Verdict::Unmanaged => "unmanaged",
            Verdict::Empty => "empty",
        }
    }
}

/// `0002_a, 0003_b`.
fn list(ids: &[MigrationId]) -> String {
    ids.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Current => f.write_str("the schema is current"),
            Verdict::ContractPending { pending } => write!(
                f,
                "the schema is compatible; contract migrations are pending ({}): apply them (`sync --contract`, or `sync(Scope::Contract)`) once no instance of the previous release is left",
                list(pending)
            ),
            Verdict::NewerExpand { unknown } => write!(
                f,
                "the schema is compatible; a newer release's expand migrations are applied ({}): a rolling upgrade is under way",
                list(unknown)
            ),
            Verdict::Outdated { missing } => write!(
                f,
                "the schema is behind this release: expand migration {} {} not applied; apply {} (`sync --expand`, or `sync(Scope::Expand)`) before serving",
                list(missing),
                if missing.len() == 1 { "is" } else { "are" },
                if missing.len() == 1 { "it" } else { "them" }
            ),
            Verdict::Unfinished { started } => write!(
                f,
                "the schema may be half-changed: {} started and did not finish (it ran statement by statement, outside a transaction, and failed \
                 or was stopped after its first statement; `status` shows where); finish or undo its changes by hand, then record the outcome \
                 with `resolve VERSION applied` or `resolve VERSION forgotten`",
                list(started)
            ),
            Verdict::Incompatible { unknown_contract, divergent } => {
                f.write_str("the schema is incompatible with this release: ")?;
                if !unknown_contract.is_empty() {
                    write!(
                        f,
                        "the database was contracted by a newer release ({} unknown to this release); deploy the newer release",
                        crate::plan::contract_migrations(unknown_contract)
                    )?;
                    if !divergent.is_empty() {
                        f.write_str("; also, ")?;
                    }
                }
                if !divergent.is_empty() {
                    let list: Vec<String> = divergent.iter().map(ToString::to_string).collect();
                    write!(
                        f,
                        "applied migrations differ from this release's: {}; {}",
                        list.join(", "),
                        crate::plan::DIVERGENT_HELP
                    )?;
                }
                Ok(())
            }
            Verdict::Unmanaged => f.write_str(
                "the database is not under version control: it holds tables but no version table; \
                 serving, as on a database managed by other means. Adopt it with `version-control` to let ebbtide migrate it",
            ),
            Verdict::Empty => f.write_str(
                "the database is empty: no migration was applied; apply them all (`sync`, or `sync(Scope::All)`) before serving",
            ),
        }
    }
}

/// A verdict that refuses, as an error a service returns from `main`.
impl std::error::Error for Verdict {}

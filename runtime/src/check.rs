//! The startup guard: may this release serve on this database?
//!
//! A service calls `check` before serving. During a rolling upgrade two
//! releases share one database, so the guard accepts a schema that is ahead
//! in the expand branch (the newer release's expand ran) and one whose
//! contract is pending (this release's contract has not run yet), and
//! refuses the two states it cannot work with: missing expand migrations,
//! and contract migrations it does not know.

use std::fmt;

use crate::plan::{Analysis, Divergence};
use crate::record::Record;
use crate::{Branch, Migrations};

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
        pending: Vec<String>,
    },
    /// A newer release's expand migrations are in: a rolling upgrade is
    /// under way. This release still works.
    NewerExpand {
        /// The expand migrations this release does not know.
        unknown: Vec<String>,
    },
    /// Expand (or initial) migrations of this release are missing: the schema
    /// is behind. Refuse to serve.
    Outdated {
        /// The missing migrations.
        missing: Vec<String>,
    },
    /// The database holds contract migrations this release does not know
    /// (a newer release contracted), or applied migrations differ from
    /// this release's. Refuse to serve.
    Incompatible {
        /// Contract migrations unknown to this release.
        unknown_contract: Vec<String>,
        /// Applied migrations that differ from the embedded ones.
        divergent: Vec<Divergence>,
    },
    /// A `no-transaction` migration started and did not finish: the
    /// schema may be half-changed. Refuse to serve until an operator
    /// records the outcome (`goto`).
    Unfinished {
        /// The migrations that did not finish.
        started: Vec<String>,
    },
    /// There is no version table. The service may run; a warning is due.
    Unmanaged,
}

impl Verdict {
    /// Judges a recorded state (`None`: no version table).
    pub fn new(migrations: &Migrations, state: Option<&[Record]>) -> Verdict {
        match state {
            None => Verdict::Unmanaged,
            Some(records) => Verdict::of(migrations, Analysis::new(migrations, records)),
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
            return Verdict::Outdated { missing: missing.iter().map(|m| m.id()).collect() };
        }
        if !contract.is_empty() {
            return Verdict::ContractPending { pending: contract.iter().map(|m| m.id()).collect() };
        }
        if !analysis.unknown_expand.is_empty() {
            return Verdict::NewerExpand { unknown: analysis.unknown_expand };
        }
        Verdict::Current
    }

    /// Whether the service may serve on this database.
    pub fn may_serve(&self) -> bool {
        !matches!(self, Verdict::Outdated { .. } | Verdict::Incompatible { .. } | Verdict::Unfinished { .. })
    }

    /// The exit code of `ebbtide check`, following Keystone's `db_sync
    /// --check`: 0 current (or a newer release's expand present), 2 expand
    /// pending or not under version control, 4 contract pending, and 3
    /// (ebbtide's own) incompatible.
    pub fn exit_code(&self) -> i32 {
        match self {
            Verdict::Current | Verdict::NewerExpand { .. } => 0,
            Verdict::Outdated { .. } | Verdict::Unmanaged => 2,
            Verdict::Incompatible { .. } | Verdict::Unfinished { .. } => 3,
            Verdict::ContractPending { .. } => 4,
        }
    }

    /// A short machine-readable name: `current`, `contract-pending`,
    /// `newer-expand`, `outdated`, `incompatible`, `unfinished`, `unmanaged`.
    pub fn name(&self) -> &'static str {
        match self {
            Verdict::Current => "current",
            Verdict::ContractPending { .. } => "contract-pending",
            Verdict::NewerExpand { .. } => "newer-expand",
            Verdict::Outdated { .. } => "outdated",
            Verdict::Incompatible { .. } => "incompatible",
            Verdict::Unfinished { .. } => "unfinished",
            Verdict::Unmanaged => "unmanaged",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Current => f.write_str("the schema is current"),
            Verdict::ContractPending { pending } => write!(
                f,
                "the schema is compatible; contract migrations are pending ({}): run `sync --contract` once no instance of the previous release is left",
                pending.join(", ")
            ),
            Verdict::NewerExpand { unknown } => write!(
                f,
                "the schema is compatible; a newer release's expand migrations are applied ({}): a rolling upgrade is under way",
                unknown.join(", ")
            ),
            Verdict::Outdated { missing } => write!(
                f,
                "the schema is behind this release: expand migration {} {} not applied; run `sync --expand`",
                missing.join(", "),
                if missing.len() == 1 { "is" } else { "are" }
            ),
            Verdict::Unfinished { started } => write!(
                f,
                "the schema may be half-changed: {} started and did not finish (a no-transaction migration, or its down script, that failed or was stopped after its first statement); \
                 finish or undo its changes by hand, then record the outcome with `goto`",
                started.join(", ")
            ),
            Verdict::Incompatible { unknown_contract, divergent } => {
                f.write_str("the schema is incompatible with this release: ")?;
                if !unknown_contract.is_empty() {
                    write!(
                        f,
                        "the database was contracted by a newer release (contract migration {} is unknown to this release); deploy the newer release",
                        unknown_contract.join(", ")
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
                "the database is not under version control (no version table); run `sync` or `version-control`",
            ),
        }
    }
}

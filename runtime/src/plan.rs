//! The planner: a pure function from (embedded migrations, recorded state,
//! request) to the ordered steps to run, or a refusal with its reason.
//!
//! Every rule of the workflow lives here, once: branch order, targets,
//! reversibility, divergence and the compatibility window. Drivers only
//! execute what the planner returns.

use std::fmt;

use ebbtide_core::checksum::Recorded;

use crate::record::{MigrationId, Record};
use crate::{Branch, Migration, Migrations, Script, Version};

/// Which migrations `sync` runs.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum Scope {
    /// Everything pending, in version order (an offline upgrade).
    #[default]
    All,
    /// Pending initial and expand migrations (before deploying the new release).
    Expand,
    /// Pending contract migrations (once the old release is gone).
    Contract,
}

/// An operation on the database, as Keystone's `database` commands name them.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Request {
    /// Apply pending migrations of a scope.
    Sync(Scope),
    /// Apply every pending migration up to and including a version.
    Upgrade(Version),
    /// Revert every recorded migration above a version (0: all of them).
    Downgrade(Version),
    /// Record exactly the migrations up to a version as present, without
    /// running anything; remove the records above it.
    Goto(Version),
    /// Create the version table on an unmanaged database, at version 0.
    VersionControl,
    /// Record every applied migration as this release embeds it (branch,
    /// name and checksum), after a deliberate edit: Flyway's `repair`.
    /// Nothing runs; records this release does not know stay as they are.
    Repair,
    /// Record how a migration that started and did not finish ended, once
    /// its changes were finished or undone by hand. Nothing runs.
    Resolve(Version, Outcome),
}

/// How an operator says a migration that stopped half-way ended.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Its changes are all in the database now: it is recorded as this
    /// release embeds it.
    Applied,
    /// Its changes are undone: its record goes (for a down script that
    /// stopped half-way: the migration is reverted).
    Forgotten,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Outcome::Applied => "applied",
            Outcome::Forgotten => "forgotten",
        })
    }
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Request::Sync(Scope::All) => f.write_str("sync"),
            Request::Sync(Scope::Expand) => f.write_str("sync --expand"),
            Request::Sync(Scope::Contract) => f.write_str("sync --contract"),
            Request::Upgrade(v) => write!(f, "upgrade {v}"),
            Request::Downgrade(v) => write!(f, "downgrade {v}"),
            Request::Goto(v) => write!(f, "goto {v}"),
            Request::VersionControl => f.write_str("version-control"),
            Request::Repair => f.write_str("repair"),
            Request::Resolve(v, outcome) => write!(f, "resolve {v} {outcome}"),
        }
    }
}

/// Switches that change what the planner accepts.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct PlanOptions {
    /// Run even though applied migrations were edited since (divergent checksums).
    pub allow_divergent: bool,
    /// Everything in one transaction: refuses `no-transaction` migrations.
    pub all_or_nothing: bool,
    /// Apply migrations to a database that has no version table but holds
    /// tables already (refused by default: they are most likely what the
    /// migrations create).
    pub allow_existing_schema: bool,
}

/// One thing to do to the database.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Step<'a> {
    /// Run a migration's up script and record it as applied.
    Apply(&'a Migration),
    /// Run a recorded migration's down script and delete its record. The
    /// down script is the embedded one when this release knows the
    /// migration unchanged, the one stored in the version table otherwise.
    Revert {
        /// The record to delete.
        record: &'a Record,
        /// The embedded migration, when its down script is the one to run.
        embedded: Option<&'a Migration>,
    },
    /// Record a migration as present without running it.
    Stamp(&'a Migration),
    /// Delete a record without running anything.
    Unstamp(&'a Record),
    /// Rewrite a record as the embedded migration describes it, without
    /// running anything: `repair`, or a checksum of the whole file recorded
    /// by an earlier ebbtide replaced by the statement checksum.
    Rerecord {
        /// The record to rewrite.
        record: &'a Record,
        /// The migration it becomes.
        migration: &'a Migration,
    },
}

impl Step<'_> {
    /// The version the step is about.
    pub fn version(&self) -> Version {
        match self {
            Step::Apply(m) | Step::Stamp(m) | Step::Rerecord { migration: m, .. } => m.version,
            Step::Revert { record, .. } | Step::Unstamp(record) => record.version,
        }
    }

    /// The branch the step is about.
    pub fn branch(&self) -> Branch {
        match self {
            Step::Apply(m) | Step::Stamp(m) | Step::Rerecord { migration: m, .. } => m.branch,
            Step::Revert { record, .. } | Step::Unstamp(record) => record.branch,
        }
    }

    /// The migration's name.
    pub fn name(&self) -> &str {
        match self {
            Step::Apply(m) | Step::Stamp(m) | Step::Rerecord { migration: m, .. } => &m.name,
            Step::Revert { record, .. } | Step::Unstamp(record) => &record.name,
        }
    }

    /// What the step does, as a verb: `apply`, `revert`, `stamp`,
    /// `unstamp`, `rerecord`.
    pub fn verb(&self) -> &'static str {
        match self {
            Step::Apply(_) => "apply",
            Step::Revert { .. } => "revert",
            Step::Stamp(_) => "stamp",
            Step::Unstamp(_) => "unstamp",
            Step::Rerecord { .. } => "rerecord",
        }
    }

    /// The embedded script the step runs, if any.
    fn script(&self) -> Option<&Script> {
        match self {
            Step::Apply(m) => Some(&m.up),
            Step::Revert { embedded: Some(m), .. } => m.down.as_ref(),
            _ => None,
        }
    }

    /// Whether the step runs outside a transaction: a `no-transaction`
    /// script, or a batched backfill (in transactions of its own).
    pub fn no_transaction(&self) -> bool {
        self.script().is_some_and(|s| s.no_transaction || s.backfill.is_some())
    }

    /// Whether the step rebuilds a table with foreign keys off, which
    /// SQLite allows only outside a transaction.
    pub fn foreign_keys_off(&self) -> bool {
        self.script().is_some_and(|s| s.foreign_keys_off)
    }
}

impl fmt::Display for Step<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} migration {}_{}", self.verb(), self.branch(), self.version(), self.name())
    }
}

/// What a request will do: the steps in order.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Plan<'a> {
    /// Whether the version table must be created first.
    pub create_table: bool,
    /// The steps, in the order they run.
    pub steps: Vec<Step<'a>>,
}

impl Plan<'_> {
    /// Whether nothing needs doing.
    pub fn is_empty(&self) -> bool {
        !self.create_table && self.steps.is_empty()
    }
}

/// A recorded migration that no longer matches the embedded one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Divergence {
    /// The version.
    pub version: Version,
    /// `0003_add_email` as recorded.
    pub recorded: String,
    /// `0003_add_email` as embedded.
    pub embedded: String,
    /// What differs: "its SQL was edited", "it was renamed", "it moved from expand to contract".
    pub what: String,
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.recorded == self.embedded {
            write!(f, "{} {}", self.embedded, self.what)
        } else {
            write!(f, "{} (recorded as {}) {}", self.embedded, self.recorded, self.what)
        }
    }
}

/// Why the planner refuses a request. Nothing has been executed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// Applied migrations were edited after they ran.
    #[error("applied migrations differ from this release's: {}; {DIVERGENT_HELP}", list(.0))]
    Divergent(Vec<Divergence>),
    /// The database holds contract migrations this release does not know.
    #[error(
        "the database was contracted by a newer release ({} unknown to this one); deploy that release instead of this one",
        contract_migrations(.0)
    )]
    NewerContract(Vec<MigrationId>),
    /// A contract migration would run before an expand migration below it.
    #[error(
        "contract migration {contract} needs expand migration {missing}, which is not applied; apply it first (`sync --expand`, or `sync(Scope::Expand)`)"
    )]
    ContractBeforeExpand {
        /// The contract migration.
        contract: String,
        /// The missing expand (or initial) migration below it.
        missing: String,
    },
    /// The target version is beyond this release's migrations.
    #[error("version {target} is unknown to this release, whose latest migration is {latest}")]
    UnknownTarget {
        /// The requested target.
        target: Version,
        /// This release's latest version.
        latest: Version,
    },
    /// Some migrations to revert have no down script.
    #[error(
        "cannot downgrade: {} {} no down script; nothing was reverted",
        list(.0),
        if .0.len() == 1 { "has" } else { "have" }
    )]
    Irreversible(Vec<String>),
    /// All-or-nothing mode cannot hold a migration that runs outside a transaction.
    #[error(
        "all-or-nothing mode runs everything in one transaction, but {0} is marked `no-transaction` or `backfill` (which runs in batches, each in a transaction of its own); run without all-or-nothing"
    )]
    NoTransactionInAllOrNothing(String),
    /// All-or-nothing mode cannot turn foreign keys off for a table rebuild.
    #[error(
        "all-or-nothing mode runs everything in one transaction, but {0} turns foreign keys off to rebuild a table, which SQLite allows only outside a transaction; run without all-or-nothing"
    )]
    ForeignKeysOffInAllOrNothing(String),
    /// Migrations to apply to a database without a version table that
    /// already holds tables: most likely the migrations ran there before,
    /// under another version table or one that was dropped.
    #[error(
        "the database has no version table {table}, but already holds {}: applying every migration would run them a second time; \
         if the schema is what the migrations create, record it with `version-control` and `goto <version>`; \
         if the version table has another name, pass it with --table; to apply the migrations anyway, pass --allow-existing-schema{}",
        list(.objects),
        managed_by(.objects)
    )]
    ExistingSchema {
        /// The version table looked for.
        table: String,
        /// Some of the tables and views found.
        objects: Vec<String>,
    },
    /// Migrations (or down scripts) that ran outside a transaction started
    /// and did not finish.
    #[error(
        "{} started and did not finish (it ran statement by statement, outside a transaction, and failed or was stopped half-way; \
         `status` shows where): its changes may be partial. Finish or undo them by hand, then record the outcome with \
         `resolve VERSION applied` if it is done, or `resolve VERSION forgotten` if it is undone",
        list(.0)
    )]
    Unfinished(Vec<MigrationId>),
    /// `--all-or-nothing` on an engine that commits each schema change on
    /// its own: no transaction could hold the run.
    #[error(
        "all-or-nothing mode needs schema changes that roll back with their transaction, and this database (MySQL, MariaDB) \
         commits each one on its own: the run could not be undone as a whole. Run without --all-or-nothing: each migration \
         is then recorded statement by statement, and one that fails says where it stopped"
    )]
    AllOrNothingWithoutTransactionalDdl,
    /// `resolve` of a migration that is not marked as started.
    #[error(
        "migration {0} is not marked as started: there is nothing to resolve (`status` shows each migration's state)"
    )]
    NotStarted(Version),
    /// `resolve ... applied` of a migration this release does not embed.
    #[error(
        "migration {0} is not one of this release's, so it cannot be recorded as applied: resolve it with the release that has it, \
         or record it as forgotten"
    )]
    ResolveUnknown(Version),
    /// A migration below an applied contract migration is not recorded.
    #[error(
        "{missing} is not recorded, but contract migration {contract} above it is: its record was deleted, or the history edited; \
         ebbtide never applies it after a later contract migration ran. If its changes are in the database, record it with `goto`"
    )]
    MissingBelowContract {
        /// The unrecorded migration, as `expand migration 0002_name`.
        missing: String,
        /// The contract migration above it, as `0004_name`.
        contract: String,
    },
    /// `version_control` on a database that already has a version table.
    #[error("the database is already under version control, at version {0}")]
    AlreadyUnderControl(Version),
}

/// Whether migrations may be applied to a database that has no version
/// table (`state` is `None`) and holds `existing`, some of its tables and
/// views: only a request that applies nothing, or with
/// [`PlanOptions::allow_existing_schema`].
pub fn guard_existing_schema(
    table: &str,
    state: Option<&[Record]>,
    existing: &[String],
    request: Request,
    options: PlanOptions,
) -> Result<(), Refusal> {
    let applies = matches!(request, Request::Sync(_) | Request::Upgrade(_));
    if state.is_some() || existing.is_empty() || !applies || options.allow_existing_schema {
        return Ok(());
    }
    Err(Refusal::ExistingSchema { table: table.to_string(), objects: existing.to_vec() })
}

/// What to do about divergent migrations, said wherever they are reported.
pub(crate) const DIVERGENT_HELP: &str = "revert the edit (restore the files as they were applied); \
     if the edit is deliberate and the database already holds what the files now say, record them as they are with `ebbtide repair`; \
     --allow-divergent (allow_divergent) runs without either";

fn list<T: fmt::Display>(items: &[T]) -> String {
    items.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

/// `contract migration 0003_a is`, `contract migrations 0003_a, 0004_b are`.
pub(crate) fn contract_migrations(ids: &[MigrationId]) -> String {
    match ids {
        [one] => format!("contract migration {one} is"),
        _ => format!("contract migrations {} are", list(ids)),
    }
}

/// How the recorded state relates to the embedded migrations; shared by
/// the planner and the startup check.
///
/// It is built row by row ([`Analysis::observe`]) and keeps only what is
/// unusual (divergent and unknown records), so that the startup check can
/// stream the version table without allocating per row.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Analysis {
    /// Whether each version is recorded (index = version number).
    present: Vec<bool>,
    /// Recorded migrations whose embedded counterpart differs.
    pub divergent: Vec<Divergence>,
    /// Records above this release's latest version, expand branch (a newer
    /// release is rolling out), as `0007_name`.
    pub unknown_expand: Vec<MigrationId>,
    /// Records above this release's latest version, contract (or initial)
    /// branch: a newer release already contracted.
    pub unknown_contract: Vec<MigrationId>,
    /// Records of `no-transaction` scripts that started and did not
    /// finish, as `0007_name`: their changes may be partial.
    pub started: Vec<MigrationId>,
    /// Records, in version order, that hold the checksum of their
    /// migration's whole file, as ebbtide recorded it before it checksummed
    /// statements: the same migration, whose record `sync` (of every branch
    /// or of contract) and `repair` rewrite. Not sooner: a release built
    /// with an earlier ebbtide may still serve during a rolling upgrade, and
    /// knows its migrations by that checksum.
    pub text_checksums: Vec<Version>,
}

impl Analysis {
    /// Compares the records with the embedded migrations.
    ///
    /// A record whose fingerprint is the embedded migration's is that
    /// migration, whatever its other columns say: the startup check
    /// compares fingerprints alone, and the planner judges the same way.
    pub fn new(migrations: &Migrations, records: &[Record]) -> Self {
        let mut analysis = Analysis::default();
        for r in records {
            if r.started() {
                analysis.started.push(r.migration_id());
            } else if migrations.get(r.version).is_some_and(|m| m.fingerprint == r.fingerprint) {
                analysis.mark(r.version);
            } else {
                analysis.observe(migrations, r.version, r.branch, r.name.as_bytes(), r.checksum.as_bytes());
            }
        }
        analysis.text_checksums.sort_unstable();
        analysis
    }

    /// Takes one record into account.
    pub fn observe(&mut self, migrations: &Migrations, version: Version, branch: Branch, name: &[u8], checksum: &[u8]) {
        self.mark(version);
        match migrations.get(version) {
            Some(m) if m.branch == branch && m.name.as_bytes() == name => match m.judge_checksum(checksum) {
                Recorded::Current => {}
                Recorded::Text => self.text_checksums.push(version),
                Recorded::Edited => self.divergent.push(divergence(version, branch, name, checksum, m)),
            },
            Some(m) => self.divergent.push(divergence(version, branch, name, checksum, m)),
            None if branch == Branch::Expand => {
                self.unknown_expand.push(MigrationId { version, name: String::from_utf8_lossy(name).into_owned() })
            }
            None => {
                self.unknown_contract.push(MigrationId { version, name: String::from_utf8_lossy(name).into_owned() })
            }
        }
    }

    /// Records a version as present and unchanged (its fingerprint matched).
    pub(crate) fn mark(&mut self, version: Version) {
        let index = version.get() as usize;
        if self.present.len() <= index {
            self.present.resize(index + 1, false);
        }
        self.present[index] = true;
    }

    /// Whether the record of `version` holds its file's whole-text checksum.
    fn has_text_checksum(&self, version: Version) -> bool {
        self.text_checksums.binary_search(&version).is_ok()
    }

    /// Whether this version is recorded.
    pub fn has(&self, version: Version) -> bool {
        self.present.get(version.get() as usize).copied().unwrap_or(false)
    }

    /// Embedded migrations that are not recorded.
    pub fn pending<'m>(&self, migrations: &'m Migrations) -> impl Iterator<Item = &'m Migration> {
        // Migration i has version i + 1: walk the flags, and touch only the
        // migrations that are pending (none, on the path of every start).
        let all = migrations.as_slice();
        (0..all.len()).filter(move |&i| !self.has(Version::new(i as u32 + 1))).map(move |i| &all[i])
    }

    /// Whether `sync` or `upgrade` would do nothing, and refuse nothing.
    pub(crate) fn nothing_to_apply(&self, migrations: &Migrations, request: Request, options: PlanOptions) -> bool {
        let in_scope = |m: &Migration| match request {
            Request::Sync(Scope::All) => true,
            Request::Sync(Scope::Expand) => m.branch != Branch::Contract,
            Request::Sync(Scope::Contract) => m.branch == Branch::Contract,
            Request::Upgrade(target) => m.version <= target,
            _ => true,
        };
        matches!(request, Request::Sync(_) | Request::Upgrade(_))
            && (self.text_checksums.is_empty() || !rewrites_text_checksums(request))
            && self.started.is_empty()
            && (options.allow_divergent || self.divergent.is_empty())
            && self.unknown_contract.is_empty()
            && !matches!(request, Request::Upgrade(t) if t > migrations.latest())
            && self.pending(migrations).all(|m| !in_scope(m))
    }
}

/// Whether `request` rewrites the records that hold a whole-text checksum
/// (see [`Analysis::text_checksums`]): the requests that run once the
/// previous release is gone.
fn rewrites_text_checksums(request: Request) -> bool {
    matches!(request, Request::Sync(Scope::All | Scope::Contract) | Request::Repair)
}

fn divergence(version: Version, branch: Branch, name: &[u8], checksum: &[u8], migration: &Migration) -> Divergence {
    let mut what = Vec::new();
    if branch != migration.branch {
        what.push(format!("moved from {branch} to {}", migration.branch));
    }
    if name != migration.name.as_bytes() {
        what.push("was renamed".to_string());
    }
    if migration.judge_checksum(checksum) == Recorded::Edited {
        what.push("had its statements edited after it was applied".to_string());
    }
    Divergence {
        version,
        recorded: format!("{version}_{}", String::from_utf8_lossy(name)),
        embedded: migration.id(),
        what: what.join(" and "),
    }
}

/// Plans `request` for the recorded `state` (`None`: no version table).
pub fn plan<'a>(
    migrations: &'a Migrations,
    state: Option<&'a [Record]>,
    request: Request,
    options: PlanOptions,
) -> Result<Plan<'a>, Refusal> {
    let records = state.unwrap_or(&[]);
    let analysis = Analysis::new(migrations, records);
    let mut plan = Plan { create_table: state.is_none(), steps: Vec::new() };
    let guard_divergence = || {
        if !options.allow_divergent && !analysis.divergent.is_empty() {
            return Err(Refusal::Divergent(analysis.divergent.clone()));
        }
        Ok(())
    };
    let guard_newer_contract = || {
        if !analysis.unknown_contract.is_empty() {
            return Err(Refusal::NewerContract(analysis.unknown_contract.clone()));
        }
        Ok(())
    };
    let guard_started = || {
        if !analysis.started.is_empty() {
            return Err(Refusal::Unfinished(analysis.started.clone()));
        }
        Ok(())
    };
    let guard_target = |target: Version| {
        if target > migrations.latest() {
            return Err(Refusal::UnknownTarget { target, latest: migrations.latest() });
        }
        Ok(())
    };

    match request {
        Request::Sync(scope) => {
            guard_started()?;
            guard_divergence()?;
            guard_newer_contract()?;
            let in_scope = |b: Branch| match scope {
                Scope::All => true,
                Scope::Expand => b != Branch::Contract,
                Scope::Contract => b == Branch::Contract,
            };
            plan.steps = analysis.pending(migrations).filter(|m| in_scope(m.branch)).map(Step::Apply).collect();
            if rewrites_text_checksums(request) {
                let rerecord = records.iter().filter(|r| analysis.has_text_checksum(r.version));
                let rerecord: Vec<Step<'a>> = rerecord
                    .filter_map(|record| Some(Step::Rerecord { record, migration: migrations.get(record.version)? }))
                    .collect();
                plan.steps.splice(0..0, rerecord);
            }
        }
        Request::Upgrade(target) => {
            guard_target(target)?;
            guard_started()?;
            guard_divergence()?;
            guard_newer_contract()?;
            plan.steps = analysis.pending(migrations).filter(|m| m.version <= target).map(Step::Apply).collect();
        }
        Request::Downgrade(target) => {
            guard_started()?;
            guard_divergence()?;
            plan.create_table = false;
            let mut irreversible = Vec::new();
            for record in records.iter().rev().filter(|r| r.version > target) {
                let embedded = migrations.get(record.version).filter(|m| record.matches(m) && m.down.is_some());
                // A state read without details counts as having no stored
                // down script: refusing is the safe side.
                if embedded.is_none() && record.has_down != Some(true) {
                    irreversible.push(record.id());
                }
                plan.steps.push(Step::Revert { record, embedded });
            }
            if !irreversible.is_empty() {
                irreversible.reverse();
                return Err(Refusal::Irreversible(irreversible));
            }
        }
        Request::Goto(target) => {
            guard_target(target)?;
            // A record that did not finish is forgotten, and stamped again
            // if it is within the target: goto is how its outcome is told.
            plan.steps =
                records.iter().rev().filter(|r| r.version > target || r.started()).map(Step::Unstamp).collect();
            plan.steps.extend(analysis.pending(migrations).filter(|m| m.version <= target).map(Step::Stamp));
        }
        Request::Resolve(version, outcome) => {
            plan.create_table = false;
            let record =
                records.iter().find(|r| r.version == version && r.started()).ok_or(Refusal::NotStarted(version))?;
            // One statement either way: nothing can stop between two.
            plan.steps.push(match outcome {
                Outcome::Applied => Step::Rerecord {
                    record,
                    migration: migrations.get(version).ok_or(Refusal::ResolveUnknown(version))?,
                },
                Outcome::Forgotten => Step::Unstamp(record),
            });
        }
        Request::VersionControl => {
            if state.is_some() {
                return Err(Refusal::AlreadyUnderControl(max_recorded(records)));
            }
        }
        Request::Repair => {
            plan.create_table = false;
            plan.steps = records
                .iter()
                .filter(|r| !r.started())
                .filter_map(|record| {
                    let m = migrations.get(record.version)?;
                    let same = record.branch == m.branch
                        && record.name == m.name
                        && record.checksum == m.checksum
                        && record.fingerprint == m.fingerprint;
                    (!same).then_some(Step::Rerecord { record, migration: m })
                })
                .collect();
        }
    }

    // A contract migration runs only after every expand (and initial)
    // migration below it.
    for step in &plan.steps {
        if let Step::Apply(m) = step
            && m.branch == Branch::Contract
        {
            let will_have = |v: Version| {
                analysis.has(v) || plan.steps.iter().any(|s| matches!(s, Step::Apply(o) if o.version == v))
            };
            if let Some(missing) = migrations
                .iter()
                .take_while(|e| e.version < m.version)
                .find(|e| e.branch != Branch::Contract && !will_have(e.version))
            {
                return Err(Refusal::ContractBeforeExpand { contract: m.id(), missing: missing.id() });
            }
        }
    }
    // And an expand (or initial) migration never runs once a contract
    // migration above it ran: its record is missing, not its changes.
    for step in &plan.steps {
        if let Step::Apply(m) = step
            && m.branch != Branch::Contract
            && let Some(contract) = records.iter().find(|r| r.branch == Branch::Contract && r.version > m.version)
        {
            return Err(Refusal::MissingBelowContract { missing: m.to_string(), contract: contract.id() });
        }
    }
    if options.all_or_nothing
        && let Some(step) = plan.steps.iter().find(|s| s.no_transaction())
    {
        return Err(Refusal::NoTransactionInAllOrNothing(format!("{}_{}", step.version(), step.name())));
    }
    if options.all_or_nothing
        && let Some(step) = plan.steps.iter().find(|s| s.foreign_keys_off())
    {
        return Err(Refusal::ForeignKeysOffInAllOrNothing(format!("{}_{}", step.version(), step.name())));
    }
    Ok(plan)
}

/// What to do when another migration tool's history table is among
/// `objects`: that tool manages the database.
fn managed_by(objects: &[String]) -> String {
    let named = |o: &String, table: &str| o.rsplit('.').next().is_some_and(|name| name.eq_ignore_ascii_case(table));
    match crate::dialect::OTHER_TOOLS.iter().find(|(table, _)| objects.iter().any(|o| named(o, table))) {
        Some((table, tool)) => format!(
            ". {table} says {tool} manages this database: import its migrations with `ebbtide import --from {tool} PATH` \
             and record them with `ebbtide adopt --from {tool}`"
        ),
        None => String::new(),
    }
}

fn max_recorded(records: &[Record]) -> Version {
    records.iter().map(|r| r.version).max().unwrap_or(Version::ZERO)
}

/// A migration a downgrade will revert, with what its down script
/// destroys: what a tool shows before it asks for confirmation.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Reversal {
    /// The record the downgrade deletes.
    pub record: Record,
    /// Whether the down script is the one the version table stores (the
    /// migration is unknown to this release, or was edited since).
    pub stored: bool,
    /// What the down script destroys, each described ("drops table
    /// users"): its `DROP`, `DELETE` and `TRUNCATE` statements.
    pub loses: Vec<String>,
}

impl Reversal {
    /// The reversal of `record` by `down`.
    pub fn new(record: Record, down: &Script, stored: bool) -> Reversal {
        Reversal { record, stored, loses: data_loss(down) }
    }
}

impl fmt::Display for Reversal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.record.branch, self.record.id())?;
        if self.stored {
            f.write_str(" (down script stored in the version table)")?;
        }
        if !self.loses.is_empty() {
            write!(f, ": LOSES DATA, {}", self.loses.join(", "))?;
        }
        Ok(())
    }
}

/// What running `script` destroys: each `DROP`, `DELETE` and `TRUNCATE`
/// it holds, described.
pub fn data_loss(script: &Script) -> Vec<String> {
    use ebbtide_core::classify::{Change, classify};
    script
        .statements()
        .flat_map(|(_, sql)| classify(sql, &ebbtide_core::lexer::tokenize(sql).unwrap_or_default()))
        .filter(|c| matches!(c, Change::Drop { .. } | Change::Delete { .. } | Change::Truncate { .. }))
        .map(|c| c.describe())
        .collect()
}

/// Keystone's `version`: where the database stands, overall and per branch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionInfo {
    /// Whether a version table exists.
    pub managed: bool,
    /// The highest version such that it and every version below it are
    /// recorded (0 for an empty database).
    pub current: Version,
    /// The highest recorded version, whatever its branch.
    pub highest: Version,
    /// The highest recorded version of each branch.
    pub initial: Option<Version>,
    /// The highest recorded expand version.
    pub expand: Option<Version>,
    /// The highest recorded contract version.
    pub contract: Option<Version>,
    /// This release's latest version.
    pub latest: Version,
    /// The release of the highest recorded migration this release knows
    /// (see [`status::Row::release`](crate::status::Row::release)), and
    /// whether contract migrations of that release are still pending: its
    /// rollout is under way.
    pub release: Option<(String, bool)>,
    /// On a cluster (MariaDB Galera): its size and the state of the node
    /// read through, e.g. `Galera cluster of 3 nodes; this node Synced, in
    /// the Primary component`.
    pub cluster: Option<String>,
}

impl VersionInfo {
    /// Computes the version information of a recorded state.
    pub fn new(migrations: &Migrations, state: Option<&[Record]>) -> Self {
        let records = state.unwrap_or(&[]);
        let mut current = Version::ZERO;
        for r in records {
            if r.version.get() == current.get() + 1 {
                current = r.version;
            } else if r.version > current {
                break;
            }
        }
        let head = |b: Branch| records.iter().filter(|r| r.branch == b).map(|r| r.version).max();
        let releases = ebbtide_core::rules::releases(migrations.as_slice());
        let recorded: std::collections::HashSet<Version> = records.iter().map(|r| r.version).collect();
        let release =
            migrations.iter().zip(&releases).rfind(|(m, _)| recorded.contains(&m.version)).map(|(_, name)| {
                let pending = migrations
                    .iter()
                    .zip(&releases)
                    .any(|(m, r)| r == name && m.branch == Branch::Contract && !recorded.contains(&m.version));
                (name.clone(), pending)
            });
        VersionInfo {
            release,
            cluster: None,
            managed: state.is_some(),
            current,
            highest: max_recorded(records),
            initial: head(Branch::Initial),
            expand: head(Branch::Expand),
            contract: head(Branch::Contract),
            latest: migrations.latest(),
        }
    }
}

impl fmt::Display for VersionInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cluster = self.cluster.as_ref().map(|c| format!("; {c}")).unwrap_or_default();
        if !self.managed {
            return write!(f, "not under version control (this release's latest: {}){cluster}", self.latest);
        }
        let head = |v: Option<Version>| v.map_or_else(|| "none".to_string(), |v| v.to_string());
        let release = match &self.release {
            Some((name, true)) => format!("release {name}, rollout under way (its contract pending); "),
            Some((name, false)) => format!("release {name}; "),
            None => String::new(),
        };
        write!(
            f,
            "version {} (expand head {}, contract head {}; {release}this release's latest: {}){cluster}",
            self.current,
            head(self.expand),
            head(self.contract),
            self.latest
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applying_onto_tables_without_a_version_table_is_refused() {
        let existing = vec!["users".to_string()];
        let strict = PlanOptions::default();
        let refused = guard_existing_schema("ebbtide_migrations", None, &existing, Request::Sync(Scope::All), strict);
        assert!(matches!(&refused, Err(Refusal::ExistingSchema { objects, .. }) if *objects == existing));
        let message = refused.unwrap_err().to_string();
        assert!(!message.contains("adopt"), "{message}");
        assert!(message.contains("no version table ebbtide_migrations, but already holds users"), "{message}");
        assert!(
            message.contains("version-control")
                && message.contains("--table")
                && message.contains("--allow-existing-schema")
        );
        assert!(guard_existing_schema("t", None, &existing, Request::Upgrade(Version::new(2)), strict).is_err());
        // Another tool's history table says which tool, and how to adopt.
        let sqlx = vec!["public._sqlx_migrations".to_string(), "public.users".to_string()];
        let refused = guard_existing_schema("t", None, &sqlx, Request::Sync(Scope::All), strict).unwrap_err();
        assert!(refused.to_string().contains("`ebbtide adopt --from sqlx`"), "{refused}");
        // Recording what is there, an empty database, a version table, or permission.
        assert!(guard_existing_schema("t", None, &existing, Request::VersionControl, strict).is_ok());
        assert!(guard_existing_schema("t", None, &existing, Request::Goto(Version::new(3)), strict).is_ok());
        assert!(guard_existing_schema("t", None, &[], Request::Sync(Scope::All), strict).is_ok());
        assert!(guard_existing_schema("t", Some(&[]), &existing, Request::Sync(Scope::All), strict).is_ok());
        let allowed = PlanOptions { allow_existing_schema: true, ..strict };
        assert!(guard_existing_schema("t", None, &existing, Request::Sync(Scope::All), allowed).is_ok());
    }

    fn migration(version: u32, branch: Branch, name: &'static str) -> Migration {
        let script = crate::Script {
            path: format!("{branch}/{version:04}_{name}.sql").into(),
            sql: "SELECT 1;".into(),
            statements: vec![crate::Statement { start: 0, end: 9, line: 1 }].into(),
            no_transaction: false,
            lock_timeout_ms: None,
            lock_retry_ms: None,
            foreign_keys_off: false,
            sets_session: false,
            backfill: None,
        };
        Migration {
            version: Version::new(version),
            branch,
            name: name.into(),
            release: None,
            checksum: format!("sum{version}").into(),
            fingerprint: format!("fp{version}").into(),
            up: script,
            down: None,
        }
    }

    /// Makes `r` what an earlier ebbtide recorded for `m`: the checksum of
    /// its whole file.
    fn text_checksum(r: &mut Record, m: &Migration) {
        r.checksum = ebbtide_core::checksum::of_text(&m.up.sql);
        r.fingerprint = ebbtide_core::checksum::fingerprint(m.branch.as_str(), &m.name, &r.checksum);
    }

    #[test]
    fn a_whole_text_checksum_is_the_same_migration_rewritten_once_the_rollout_ends() {
        let list =
            vec![migration(1, Branch::Expand, "create_users"), migration(2, Branch::Contract, "drop_users_name")];
        let migrations = Migrations::from_vec(list.clone());
        let mut records = vec![record(&list[0]), record(&list[1])];
        text_checksum(&mut records[0], &list[0]);
        let analysis = Analysis::new(&migrations, &records);
        assert_eq!(analysis.text_checksums, [Version::new(1)]);
        assert!(analysis.divergent.is_empty());
        assert_eq!(crate::check::Verdict::new(&migrations, Some(&records)), crate::check::Verdict::Current);
        assert!(records[0].matches(&list[0]));
        let options = PlanOptions::default();
        // While the previous release may serve, its checksums stay.
        for request in [Request::Sync(Scope::Expand), Request::Upgrade(Version::new(2))] {
            assert!(plan(&migrations, Some(&records), request, options).unwrap().is_empty(), "{request}");
            assert!(analysis.nothing_to_apply(&migrations, request, options), "{request}");
        }
        for request in [Request::Sync(Scope::All), Request::Sync(Scope::Contract), Request::Repair] {
            let planned = plan(&migrations, Some(&records), request, options).unwrap();
            assert_eq!(planned.steps, [Step::Rerecord { record: &records[0], migration: &list[0] }], "{request}");
            assert!(!analysis.nothing_to_apply(&migrations, request, options), "{request}");
        }
    }

    #[test]
    fn an_edited_statement_is_divergent_and_says_what_to_do() {
        let list = vec![migration(1, Branch::Expand, "create_users")];
        let migrations = Migrations::from_vec(list.clone());
        let mut edited = record(&list[0]);
        edited.checksum = "0".repeat(64);
        edited.fingerprint = "ffffffffffffffff".into();
        let records = [edited];
        let refused = plan(&migrations, Some(&records), Request::Sync(Scope::All), PlanOptions::default());
        let message = refused.unwrap_err().to_string();
        assert!(message.contains("0001_create_users had its statements edited after it was applied"), "{message}");
        assert!(message.contains("revert the edit") && message.contains("`ebbtide repair`"), "{message}");
    }

    #[test]
    fn repair_rerecords_what_differs_from_this_release_and_nothing_else() {
        let list = [
            migration(1, Branch::Expand, "create_users"),
            migration(2, Branch::Expand, "add_users_email"),
            migration(3, Branch::Expand, "add_users_phone"),
            migration(4, Branch::Contract, "drop_users_name"),
            migration(5, Branch::Expand, "add_users_nick"),
        ];
        let migrations = Migrations::from_vec(list[..5].to_vec());
        let mut records: Vec<Record> = list.iter().map(record).collect();
        records[1].checksum = "edited".into();
        records[1].fingerprint = "ffffffffffffffff".into();
        records[2].name = "add_phone".into();
        records[2].fingerprint = "eeeeeeeeeeeeeeee".into();
        records[3].fingerprint = crate::record::STARTED.into();
        records.push(record(&migration(6, Branch::Contract, "newer")));
        let planned = plan(&migrations, Some(&records), Request::Repair, PlanOptions::default()).unwrap();
        assert_eq!(
            planned.steps,
            [
                Step::Rerecord { record: &records[1], migration: &list[1] },
                Step::Rerecord { record: &records[2], migration: &list[2] },
            ]
        );
        assert_eq!(planned.steps[1].to_string(), "rerecord expand migration 0003_add_users_phone");
        // Without a version table there is nothing to repair, and nothing is created.
        assert!(plan(&migrations, None, Request::Repair, PlanOptions::default()).unwrap().is_empty());
    }

    #[test]
    fn unknown_contract_migrations_are_counted_in_the_message() {
        let id = |v: u32, name: &str| MigrationId { version: Version::new(v), name: name.into() };
        let one = Refusal::NewerContract(vec![id(3, "drop_name")]).to_string();
        assert!(one.contains("(contract migration 0003_drop_name is unknown to this one)"), "{one}");
        let two = Refusal::NewerContract(vec![id(3, "drop_name"), id(4, "drop_nick")]).to_string();
        assert!(two.contains("(contract migrations 0003_drop_name, 0004_drop_nick are unknown"), "{two}");
    }

    #[test]
    fn resolve_records_how_a_started_migration_ended_and_nothing_else() {
        let list = [migration(1, Branch::Expand, "create_users"), migration(2, Branch::Expand, "add_users_email")];
        let migrations = Migrations::from_vec(list.to_vec());
        let mut records: Vec<Record> = list.iter().map(record).collect();
        records[1].fingerprint = crate::record::STARTED.into();
        records.push(record(&migration(3, Branch::Expand, "newer")));
        records[2].fingerprint = crate::record::STARTED.into();
        let resolve = |version: u32, outcome| {
            plan(&migrations, Some(&records), Request::Resolve(Version::new(version), outcome), PlanOptions::default())
        };
        let applied = resolve(2, Outcome::Applied).unwrap();
        assert_eq!(applied.steps, [Step::Rerecord { record: &records[1], migration: &list[1] }]);
        assert!(!applied.create_table);
        assert_eq!(resolve(2, Outcome::Forgotten).unwrap().steps, [Step::Unstamp(&records[1])]);
        // A newer release's migration can be forgotten, not recorded as applied.
        assert_eq!(resolve(3, Outcome::Forgotten).unwrap().steps, [Step::Unstamp(&records[2])]);
        assert_eq!(resolve(3, Outcome::Applied).unwrap_err(), Refusal::ResolveUnknown(Version::new(3)));
        // Only what started and did not finish.
        assert_eq!(resolve(1, Outcome::Forgotten).unwrap_err(), Refusal::NotStarted(Version::new(1)));
        assert_eq!(Request::Resolve(Version::new(2), Outcome::Applied).to_string(), "resolve 0002 applied");
    }

    fn record(m: &Migration) -> Record {
        Record {
            version: m.version,
            branch: m.branch,
            name: m.name.to_string(),
            checksum: m.checksum.to_string(),
            how: None,
            has_down: None,
            applied_at: None,
            duration_ms: None,
            fingerprint: m.fingerprint.to_string(),
        }
    }

    #[test]
    fn an_expand_migration_never_runs_after_a_later_contract_migration() {
        let list = vec![
            migration(1, Branch::Expand, "create_users"),
            migration(2, Branch::Expand, "add_users_email"),
            migration(3, Branch::Contract, "drop_users_name"),
            migration(4, Branch::Expand, "add_users_phone"),
        ];
        let migrations = Migrations::from_vec(list.clone());
        // 0002's record deleted by hand, 0003 applied.
        let records = vec![record(&list[0]), record(&list[2])];
        for request in [Request::Sync(Scope::All), Request::Sync(Scope::Expand), Request::Upgrade(Version::new(4))] {
            let refused = plan(&migrations, Some(&records), request, PlanOptions::default()).unwrap_err();
            assert_eq!(
                refused,
                Refusal::MissingBelowContract {
                    missing: "expand migration 0002_add_users_email".into(),
                    contract: "0003_drop_users_name".into()
                },
                "{request}"
            );
        }
        // goto records it, and then 0004 applies.
        let goto = plan(&migrations, Some(&records), Request::Goto(Version::new(3)), PlanOptions::default()).unwrap();
        assert_eq!(goto.steps, vec![Step::Stamp(&list[1])]);
        let records = vec![record(&list[0]), record(&list[1]), record(&list[2])];
        let sync = plan(&migrations, Some(&records), Request::Sync(Scope::All), PlanOptions::default()).unwrap();
        assert_eq!(sync.steps, vec![Step::Apply(&list[3])]);
    }

    mod agreement {
        //! The planner, the startup check and the fast "nothing to do"
        //! answer of sync judge one state three ways: on random embedded
        //! lists and recorded states (divergent, unknown, started records
        //! included) they must agree.

        use proptest::prelude::*;

        use super::*;
        use crate::check::Verdict;

        /// What a version holds in the database.
        #[derive(Clone, Copy, Debug)]
        enum Kept {
            Absent,
            Same,
            Edited,
            Started,
            /// Recorded by an earlier ebbtide, with the whole file's checksum.
            TextChecksum,
        }

        fn state() -> impl Strategy<Value = (Vec<Branch>, Vec<Kept>, Vec<Branch>, bool)> {
            let branch = prop_oneof![Just(Branch::Initial), Just(Branch::Expand), Just(Branch::Contract)];
            let kept = prop_oneof![
                4 => Just(Kept::Same),
                3 => Just(Kept::Absent),
                1 => Just(Kept::Edited),
                1 => Just(Kept::Started),
                1 => Just(Kept::TextChecksum),
            ];
            (1..10usize).prop_flat_map(move |n| {
                (
                    prop::collection::vec(branch.clone(), n),
                    prop::collection::vec(kept.clone(), n),
                    prop::collection::vec(branch.clone(), 0..3),
                    any::<bool>(),
                )
            })
        }

        fn records(list: &[Migration], kept: &[Kept], newer: &[Branch]) -> Vec<Record> {
            let mut out: Vec<Record> = list
                .iter()
                .zip(kept)
                .filter(|(_, k)| !matches!(k, Kept::Absent))
                .map(|(m, k)| {
                    let mut r = record(m);
                    match k {
                        Kept::Edited => {
                            r.checksum = "edited".into();
                            r.fingerprint = "ffffffffffffffff".into();
                        }
                        Kept::Started => r.fingerprint = crate::record::STARTED.into(),
                        Kept::TextChecksum => text_checksum(&mut r, m),
                        _ => {}
                    }
                    r
                })
                .collect();
            for (i, branch) in newer.iter().enumerate() {
                let m = migration(list.len() as u32 + 1 + i as u32, *branch, "newer");
                out.push(record(&m));
            }
            out
        }

        proptest! {
            #[test]
            fn plan_check_and_nothing_to_do_agree((branches, kept, newer, allow_divergent) in state()) {
                let list: Vec<Migration> =
                    branches.iter().enumerate().map(|(i, b)| migration(i as u32 + 1, *b, "m")).collect();
                let migrations = Migrations::from_vec(list.clone());
                let records = records(&list, &kept, &newer);
                let options = PlanOptions { allow_divergent, ..PlanOptions::default() };
                let analysis = Analysis::new(&migrations, &records);
                let latest = list.len() as u32;
                let mut requests = vec![Request::Sync(Scope::All), Request::Sync(Scope::Expand), Request::Sync(Scope::Contract)];
                requests.extend((0..=latest + 1).map(|t| Request::Upgrade(Version::new(t))));
                for request in requests {
                    let planned = plan(&migrations, Some(&records), request, options);
                    let empty = matches!(&planned, Ok(p) if p.is_empty());
                    prop_assert_eq!(
                        analysis.nothing_to_apply(&migrations, request, options),
                        empty,
                        "{}: {:?}",
                        request,
                        planned.as_ref().map(|p| p.steps.len())
                    );
                }
                let sync = |scope| plan(&migrations, Some(&records), Request::Sync(scope), PlanOptions::default());
                // What a sync of every branch does when nothing is pending:
                // rewrite the whole-text checksums, and nothing else.
                let only_rewrites = |p: &Plan<'_>| {
                    p.steps.iter().all(|s| matches!(s, Step::Rerecord { .. }))
                        && p.steps.len() == analysis.text_checksums.len()
                        && !p.create_table
                };
                match Verdict::of(&migrations, analysis.clone()) {
                    Verdict::Current | Verdict::NewerExpand { .. } => {
                        prop_assert!(matches!(sync(Scope::All), Ok(p) if only_rewrites(&p)));
                        prop_assert!(matches!(sync(Scope::Expand), Ok(p) if p.is_empty()));
                    }
                    Verdict::ContractPending { .. } => {
                        prop_assert!(matches!(sync(Scope::Expand), Ok(p) if p.is_empty()));
                        prop_assert!(matches!(sync(Scope::Contract), Ok(p) if !p.is_empty()));
                    }
                    Verdict::Outdated { .. } => {
                        let expand = sync(Scope::Expand);
                        prop_assert!(
                            matches!(&expand, Ok(p) if !p.is_empty())
                                || matches!(&expand, Err(Refusal::MissingBelowContract { .. })),
                            "{:?}", expand
                        );
                    }
                    Verdict::Incompatible { .. } => prop_assert!(sync(Scope::All).is_err()),
                    Verdict::Unfinished { started } => {
                        prop_assert_eq!(sync(Scope::All).unwrap_err(), Refusal::Unfinished(started));
                    }
                    Verdict::Unmanaged | Verdict::Empty => prop_assert!(false, "a version table was read"),
                }
            }
        }
    }
}

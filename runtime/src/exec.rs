//! Executing plans. Drivers only run SQL text; this module decides the
//! order of locking, reading, planning, transactions and records, once for
//! every engine.

use std::borrow::Cow;
use std::fmt;
use std::time::{Duration, Instant};

use crate::dialect::{Dialect, NewRecord, TableName};
use crate::error::{Aftermath, Error, MigrationFailure};
use crate::migrator::Migrator;
use crate::plan::{Analysis, Plan, Refusal, Request, Step};
use crate::record::{How, Record, State};
use crate::{Branch, Script, Version};

/// A database error, as a driver reports it.
#[derive(Debug, Clone)]
pub(crate) struct DbError {
    pub message: String,
    /// The statement failed because the table (or its schema) does not exist.
    pub undefined_table: bool,
}

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

/// A database connection, seen as something that runs SQL text.
///
/// The futures of the SQLite driver never wait, which is what lets its
/// public API be synchronous.
pub(crate) trait Driver {
    fn dialect(&self) -> Dialect;
    /// Whether `lock` excludes every other run for its whole duration. When
    /// it does not (SQLite), each step re-checks, inside its transaction,
    /// that it still needs doing.
    fn exclusive_lock(&self) -> bool;
    async fn execute(&mut self, sql: &str) -> Result<(), DbError>;
    /// Runs `parts`, one statement each, in order, up to the first error,
    /// which comes back with the index of the part that failed. PostgreSQL
    /// sends them all in one round trip.
    async fn execute_parts(&mut self, parts: &[&str]) -> Result<(), (usize, DbError)> {
        for (i, part) in parts.iter().enumerate() {
            self.execute(part).await.map_err(|e| (i, e))?;
        }
        Ok(())
    }
    /// Runs a query, handing each row's values to `visit`, borrowed: reading
    /// the version table allocates only what it keeps.
    async fn query(&mut self, sql: &str, visit: &mut (dyn FnMut(&[Cell<'_>]) + Send)) -> Result<(), DbError>;
    /// Tries to take the run lock (held from the first write of a run to
    /// its end) without waiting.
    async fn try_lock(&mut self, table: &TableName) -> Result<Lock, DbError>;
    async fn unlock(&mut self, table: &TableName) -> Result<(), DbError>;
    /// Whether some run holds the run lock now (without taking it): a
    /// migration recorded as started is then in progress, not abandoned.
    async fn lock_held(&mut self, table: &TableName) -> Result<bool, DbError>;
    /// Waits, between two attempts at the lock.
    async fn pause(&mut self, duration: Duration);
    /// A statement that fails when the connection is no longer on the
    /// session that holds the run lock (a pooler in transaction mode), sent
    /// first in every transaction of the run; `None` when the session
    /// cannot move.
    fn session_check(&self) -> Option<String> {
        None
    }
    /// Reads the state of the session as a run finds it (once, under the
    /// run lock, before the first step), so that [`guard`](Driver::guard)
    /// can return every step to it, and names the schema that holds (or
    /// will hold) `table`: ebbtide's own statements address it there,
    /// whatever `search_path` or temporary table a migration sets up.
    async fn capture_session(&mut self, table: &TableName) -> Result<TableName, DbError> {
        Ok(table.clone())
    }
    /// What to run around `script` so that what it does to its session ends
    /// with it, from the state [`capture_session`](Driver::capture_session) read.
    fn guard(&self, _script: &Script, _placement: Placement) -> Guard {
        Guard::default()
    }
    /// The guard of a script printed for review (`--sql`) and replayed by
    /// someone else's client, whose session ebbtide cannot know: only what
    /// needs no captured value, and only for scripts that set something.
    fn portable_guard(&self, script: &Script, placement: Placement) -> Guard {
        self.guard(script, placement)
    }
    /// Some of the application's tables and views (up to six), for a
    /// database that has no version table: migrations applied there would
    /// most likely run a second time.
    async fn existing_objects(&mut self) -> Result<Vec<String>, DbError> {
        Ok(Vec::new())
    }
    /// Removes what `script` left in the session that no fixed statement
    /// can name (SQLite's temporary objects); runs after [`Guard::after`].
    async fn clean_session(&mut self, _script: &Script) -> Result<(), DbError> {
        Ok(())
    }
    /// Says what comes next, for a driver that writes a script; others ignore it.
    fn annotate(&mut self, _comment: &str) {}
    /// Whether [`annotate`](Driver::annotate) does anything.
    fn annotates(&self) -> bool {
        false
    }
}

/// An attempt at the run lock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Lock {
    /// This run holds it.
    Taken,
    /// Another run does: who, as far as the engine tells.
    Busy(Option<String>),
}

/// Where a step's script runs.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Placement {
    /// In a transaction of its own.
    Own,
    /// In the all-or-nothing transaction of the whole run.
    Run,
    /// Outside any transaction (`-- ebbtide: no-transaction`).
    None,
}

/// Statements a driver wraps around a step's script: they keep what the
/// script does to its session to itself, and make SQLite's table rebuild
/// safe. Empty for a script that needs nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Guard {
    /// Before the step's own transaction opens.
    pub before: Vec<String>,
    /// A query run inside the transaction after the script: each row it
    /// returns is a violation, which rolls the step back.
    pub check: Option<String>,
    /// Inside the transaction, after the script (and the check), before the
    /// version-table row: ebbtide's own statements run in the run's state.
    pub inside: Vec<String>,
    /// Once the step's transaction is over, committed or not, or right
    /// after a `no-transaction` script (before its row is written).
    pub after: Vec<String>,
}

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
    /// `apply`, `revert`, `stamp` or `unstamp`.
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
pub enum Event<'a> {
    /// The plan is made; `steps` steps will run.
    Planned {
        /// Number of steps.
        steps: usize,
    },
    /// A step starts.
    Started(&'a Step<'a>),
    /// A step is done.
    Finished(&'a Done),
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

/// Reads the version table: `None` when it does not exist. `full` also
/// reads when each migration was recorded and how long it took (for
/// `status`); plans and the startup check do without.
pub(crate) async fn read_state<D: Driver>(d: &mut D, table: &TableName, full: bool) -> Result<State, Error> {
    let mut records = Vec::new();
    let mut corrupt: Option<String> = None;
    let sql = d.dialect().select_records(table, full);
    let read = d
        .query(&sql, &mut |row| {
            if corrupt.is_some() {
                return;
            }
            match Record::from_row(row, full) {
                Ok(record) => records.push(record),
                Err(detail) => corrupt = Some(detail),
            }
        })
        .await;
    match read {
        Err(e) if e.undefined_table => Ok(None),
        Err(e) => Err(Error::database(format!("cannot read the version table {table}"), e.message)),
        Ok(()) => match corrupt {
            Some(detail) => Err(Error::CorruptRecord { table: table.to_string(), detail }),
            None => Ok(Some(records)),
        },
    }
}

/// Streams the version table into an [`Analysis`], comparing each record's
/// fingerprint with the embedded one's: the startup check, and the "nothing
/// to do" answer of `sync`, read two short columns per record, allocate
/// nothing per row, and send one query in the common case. Records of a
/// newer release (above this one's latest version) are named by a second
/// query, and records whose fingerprint differs (divergence) are read again
/// in full by another, to say what changed. `None`: no version table.
pub(crate) async fn read_analysis<D: Driver>(d: &mut D, migrator: &Migrator<'_>) -> Result<Option<Analysis>, Error> {
    let table = migrator.table_name();
    let migrations = migrator.migrations();
    let dialect = d.dialect();
    let mut analysis = Analysis::default();
    let mut differ: Vec<Version> = Vec::new();
    let mut newer = false;
    let mut corrupt: Option<String> = None;
    let fingerprints = migrations.fingerprints();
    let read = d
        .query(&dialect.select_keys(table), &mut |row| {
            let cell = |i: usize| Cell::at(row, i);
            let Some(version) = cell(0).int().and_then(|v| u32::try_from(v).ok()).map(Version::new) else {
                corrupt.get_or_insert_with(|| format!("version {:?}", cell(0).text()));
                return;
            };
            let index = (version.get() as usize).wrapping_sub(1);
            let same = match fingerprints {
                Some(all) => all.get(index).map(|f| f[..] == *cell(1).bytes()),
                None => migrations.get(version).map(|m| m.fingerprint.as_bytes() == cell(1).bytes()),
            };
            match same {
                Some(true) => analysis.mark(version),
                Some(false) => differ.push(version),
                None => newer = true,
            }
        })
        .await;
    match read {
        Err(e) if e.undefined_table => return Ok(None),
        Err(e) => return Err(Error::database(format!("cannot read the version table {table}"), e.message)),
        Ok(()) => {}
    }
    let mut observe = |row: &[Cell<'_>]| match Record::key(row) {
        Ok(key) if Cell::at(row, 4).bytes() == crate::record::STARTED.as_bytes() => {
            analysis.started.push(format!("{}_{}", key.version, String::from_utf8_lossy(key.name)));
        }
        Ok(key) => analysis.observe(migrations, key.version, key.branch, key.name, key.checksum),
        Err(detail) => {
            corrupt.get_or_insert(detail);
        }
    };
    let fail = |e: DbError| Error::database(format!("cannot read the version table {table}"), e.message);
    if newer {
        // A newer release's records: their branch and name say what they are.
        d.query(&dialect.select_newer(table, migrations.latest()), &mut |row| {
            observe(&[Cell::at(row, 0), Cell::at(row, 1), Cell::at(row, 2), Cell::Null, Cell::Null]);
        })
        .await
        .map_err(fail)?;
    }
    if !differ.is_empty() {
        d.query(&dialect.select_records_in(table, &differ), &mut observe).await.map_err(fail)?;
    }
    // A run in progress holds the lock: what it started is under way
    // (pending), not abandoned.
    if !analysis.started.is_empty() && d.lock_held(table).await.map_err(fail)? {
        analysis.started.clear();
    }
    match corrupt {
        Some(detail) => Err(Error::CorruptRecord { table: table.to_string(), detail }),
        None => Ok(Some(analysis)),
    }
}

/// Runs a request: plans it on a first read, and when there is work, takes
/// the lock, plans again on a fresh read, and executes. The lock is released
/// on every way out.
pub(crate) async fn run<D: Driver>(d: &mut D, migrator: &Migrator<'_>, request: Request) -> Result<Report, Error> {
    let table = migrator.table_name();
    let nothing_to_do = match request {
        // The common case at every start: one streamed query, no lock.
        Request::Sync(_) | Request::Upgrade(_) => read_analysis(d, migrator)
            .await?
            .is_some_and(|a| a.nothing_to_apply(migrator.migrations(), request, migrator.options())),
        _ => {
            let state = read_state(d, table, matches!(request, Request::Downgrade(_))).await?;
            migrator.plan(state.as_deref(), request)?.is_empty()
        }
    };
    if nothing_to_do {
        return Ok(Report::default());
    }
    take_lock(d, migrator).await?;
    let result = run_locked(d, migrator, request).await;
    let unlocked = d.unlock(table).await;
    let report = result?;
    unlocked.map_err(|e| Error::database(format!("cannot release the migration lock on {table}"), e.message))?;
    Ok(report)
}

/// Takes the run lock, waiting for another run to end: every few seconds
/// the observer (and the CLI) hear who holds it and for how long, and
/// after [`Migrator::lock_wait`] the run gives up.
async fn take_lock<D: Driver>(d: &mut D, migrator: &Migrator<'_>) -> Result<(), Error> {
    let table = migrator.table_name();
    let started = Instant::now();
    let mut pause = Duration::from_millis(50);
    let mut told = Duration::ZERO;
    loop {
        let holder = match d.try_lock(table).await {
            Ok(Lock::Taken) => return Ok(()),
            Ok(Lock::Busy(holder)) => holder,
            Err(e) => return Err(Error::database(format!("cannot take the migration lock on {table}"), e.message)),
        };
        let waited = started.elapsed();
        let holder = holder.unwrap_or_else(|| "another run".into());
        if waited >= migrator.lock_wait_value() {
            return Err(Error::LockWait { table: table.to_string(), waited, holder });
        }
        if waited >= told + Duration::from_secs(if told.is_zero() { 1 } else { 10 }) {
            told = waited;
            migrator.notify(Event::Waiting { lock: table.to_string(), holder: holder.clone(), waited });
        }
        d.pause(pause.min(migrator.lock_wait_value() - waited)).await;
        pause = (pause * 2).min(Duration::from_secs(1));
    }
}

async fn run_locked<D: Driver>(d: &mut D, migrator: &Migrator<'_>, request: Request) -> Result<Report, Error> {
    let migrator = &settled(d, migrator).await?;
    let table = migrator.table_name();
    let dialect = d.dialect();
    // Only a downgrade needs to know which records hold a down script.
    let full = matches!(request, Request::Downgrade(_));
    // All-or-nothing without an exclusive lock (SQLite): the transaction
    // opens before the version table is read, so the plan is made under the
    // write lock it holds to the end and no step needs to re-check it. With
    // the lock (PostgreSQL), the table is read first: a failed read of a
    // missing table would abort the transaction.
    let one_transaction = migrator.options().all_or_nothing;
    let mut state = None;
    if !one_transaction || d.exclusive_lock() {
        state = Some(read_state(d, table, full).await?);
    }
    if one_transaction {
        control(d, dialect.begin(), "begin the all-or-nothing transaction").await?;
        if let Some(check) = d.session_check()
            && let Err(e) = control(d, &check, "keep one session").await
        {
            let _ = d.execute(dialect.rollback()).await;
            return Err(e);
        }
    }
    let result = async {
        let state = match state {
            Some(state) => state,
            None => read_state(d, table, full).await?,
        };
        guard_existing_schema(d, migrator, state.as_deref(), request).await?;
        let plan = migrator.plan(state.as_deref(), request)?;
        execute_plan(d, migrator, &plan, true).await
    }
    .await;
    if one_transaction {
        match &result {
            Ok(_) => control(d, dialect.commit(), "commit the all-or-nothing transaction").await?,
            Err(_) => {
                let _ = d.execute(dialect.rollback()).await;
            }
        }
    }
    result
}

/// Refuses to apply migrations to a database that has no version table
/// but holds tables (see [`crate::plan::guard_existing_schema`]).
async fn guard_existing_schema<D: Driver>(
    d: &mut D,
    migrator: &Migrator<'_>,
    state: Option<&[Record]>,
    request: Request,
) -> Result<(), Error> {
    if state.is_some() {
        return Ok(());
    }
    let existing =
        d.existing_objects().await.map_err(|e| Error::database("cannot list the database's tables", e.message))?;
    crate::plan::guard_existing_schema(
        &migrator.table_name().to_string(),
        state,
        &existing,
        request,
        migrator.options(),
    )?;
    Ok(())
}

/// The migrator a run works with once the session is captured: its version
/// table addressed in the schema that holds it.
async fn settled<'m, D: Driver>(d: &mut D, migrator: &Migrator<'m>) -> Result<Migrator<'m>, Error> {
    let table = migrator.table_name();
    let resolved = d.capture_session(table).await.map_err(|e| {
        Error::database(format!("cannot read the session's settings and the schema of {table}"), e.message)
    })?;
    Ok(migrator.clone().with_table_name(resolved))
}

/// Runs the steps of a plan; `live` runs (not `--sql` scripts) report
/// their progress to the migrator's observer.
async fn execute_plan<D: Driver>(
    d: &mut D,
    migrator: &Migrator<'_>,
    plan: &Plan<'_>,
    live: bool,
) -> Result<Report, Error> {
    let table = migrator.table_name();
    let dialect = d.dialect();
    let mut report = Report::default();
    let notify = |event: Event<'_>| {
        if live {
            migrator.notify(event);
        }
    };
    notify(Event::Planned { steps: plan.steps.len() });
    if plan.create_table {
        if let Some(check) = d.session_check() {
            control(d, &check, "keep one session").await?;
        }
        d.execute(&dialect.create_table(table))
            .await
            .map_err(|e| Error::database(format!("cannot create the version table {table}"), e.message))?;
        report.created_table = true;
    }
    let one_transaction = migrator.options().all_or_nothing;
    for step in &plan.steps {
        notify(Event::Started(step));
        if d.annotates() {
            let file = match step {
                Step::Apply(m) => format!(" ({})", m.up.path),
                Step::Revert { embedded: Some(m), .. } => {
                    m.down.as_ref().map(|s| format!(" ({})", s.path)).unwrap_or_default()
                }
                _ => String::new(),
            };
            d.annotate(&format!("{step}{file}"));
        }
        match execute_step(d, migrator, step, one_transaction).await {
            Ok(done) => {
                notify(Event::Finished(&done));
                report.steps.push(done);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(report)
}

async fn control<D: Driver>(d: &mut D, sql: &str, what: &str) -> Result<(), Error> {
    d.execute(sql).await.map_err(|e| Error::database(format!("cannot {what}"), e.message))
}

/// The script a step runs, and how the version table records it.
struct Work<'s> {
    script: Option<Cow<'s, Script>>,
    record: RecordChange<'s>,
}

/// The version-table write of a step.
enum RecordChange<'s> {
    Insert(&'s crate::Migration, How),
    Delete(Version),
}

impl RecordChange<'_> {
    /// The statement, once the script's duration is known (`None`: the
    /// server measures it; see [`NewRecord::duration_ms`]).
    fn sql(&self, dialect: Dialect, table: &TableName, duration: Option<Duration>) -> String {
        let duration_ms = duration.map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        match self {
            RecordChange::Insert(m, how) => insert_row(dialect, table, m, *how, &m.fingerprint, duration_ms),
            RecordChange::Delete(version) => dialect.delete_record(table, *version),
        }
    }

    /// The statement that marks the step as started, before a
    /// `no-transaction` script runs.
    fn start(&self, dialect: Dialect, table: &TableName) -> String {
        match self {
            RecordChange::Insert(m, how) => insert_row(dialect, table, m, *how, crate::record::STARTED, Some(0)),
            RecordChange::Delete(version) => dialect.start_record(table, *version),
        }
    }

    /// A step is done when its version is recorded (apply, stamp) or when
    /// it is not (revert, unstamp).
    fn done_when_recorded(&self) -> bool {
        matches!(self, RecordChange::Insert(..))
    }
}

/// The insert of `m`'s record, with `fingerprint`.
fn insert_row(
    dialect: Dialect,
    table: &TableName,
    m: &crate::Migration,
    how: How,
    fingerprint: &str,
    duration_ms: Option<i64>,
) -> String {
    dialect.insert_record(
        table,
        &NewRecord {
            version: m.version,
            branch: m.branch,
            name: &m.name,
            checksum: &m.checksum,
            fingerprint,
            how,
            duration_ms,
            down_sql: m.down.as_ref().map(|s| s.sql.as_ref()),
        },
    )
}

async fn work_of<'s, D: Driver>(d: &mut D, table: &TableName, step: &'s Step<'s>) -> Result<Work<'s>, Error> {
    Ok(match step {
        Step::Apply(m) => Work { script: Some(Cow::Borrowed(&m.up)), record: RecordChange::Insert(m, How::Applied) },
        Step::Stamp(m) => Work { script: None, record: RecordChange::Insert(m, How::Stamped) },
        Step::Unstamp(r) => Work { script: None, record: RecordChange::Delete(r.version) },
        Step::Revert { record, embedded } => {
            let script = match embedded.and_then(|m| m.down.as_ref()) {
                Some(down) => Cow::Borrowed(down),
                None => Cow::Owned(stored_down(d, table, record).await?),
            };
            Work { script: Some(script), record: RecordChange::Delete(record.version) }
        }
    })
}

/// The down script stored in the version table for `record`, split into
/// statements.
pub(crate) async fn stored_down<D: Driver>(d: &mut D, table: &TableName, record: &Record) -> Result<Script, Error> {
    let mut stored: Option<String> = None;
    d.query(&d.dialect().select_down(table, record.version), &mut |row| {
        stored = row.first().filter(|c| **c != Cell::Null).map(|c| c.text().into_owned());
    })
    .await
    .map_err(|e| Error::database(format!("cannot read the down script of {}", record.id()), e.message))?;
    let sql = stored.ok_or_else(|| {
        Error::database(format!("cannot revert {}", record.id()), "its down script is no longer in the version table")
    })?;
    let path = format!("{} (down script stored in {table})", record.id());
    ebbtide_core::parse_script(path, sql).map_err(|u| {
        Error::database(
            format!("cannot revert {}", record.id()),
            format!("its stored down script has an unterminated {}", u.what),
        )
    })
}

async fn execute_step<D: Driver>(
    d: &mut D,
    migrator: &Migrator<'_>,
    step: &Step<'_>,
    in_run_transaction: bool,
) -> Result<Done, Error> {
    let table = migrator.table_name();
    let work = work_of(d, table, step).await?;
    if in_run_transaction && work.script.as_ref().is_some_and(|s| s.no_transaction || s.foreign_keys_off) {
        // A stored down script the planner could not see (the embedded
        // ones are refused when the plan is made).
        let id = format!("{}_{}", step.version(), step.name());
        return Err(Error::Refused(match work.script.as_ref().is_some_and(|s| s.no_transaction) {
            true => Refusal::NoTransactionInAllOrNothing(id),
            false => Refusal::ForeignKeysOffInAllOrNothing(id),
        }));
    }
    let no_transaction = work.script.as_ref().is_some_and(|s| s.no_transaction);
    let placement = match (no_transaction, in_run_transaction) {
        (true, _) => Placement::None,
        (false, true) => Placement::Run,
        (false, false) => Placement::Own,
    };
    let guard = work.script.as_deref().map(|s| d.guard(s, placement)).unwrap_or_default();
    let result = match placement {
        Placement::None => script_step(d, migrator, step, &work, &guard).await,
        _ => transactional_step(d, migrator, step, &work, &guard, in_run_transaction).await,
    };
    // On every way out, the session returns to where the run started (a
    // no-transaction script's guard ran before its row was written).
    let mut restored = Ok(());
    if placement != Placement::None {
        for sql in &guard.after {
            if let Err(e) = d.execute(sql).await {
                restored = restored.and(Err(e));
            }
        }
    }
    if let Some(script) = work.script.as_deref() {
        restored = restored.and(d.clean_session(script).await);
    }
    match (result, restored) {
        (Err(e), _) => Err(e),
        (Ok(_), Err(e)) => Err(Error::database(
            format!("{step} is done, but the session it ran in cannot be returned to the run's settings"),
            e.message,
        )),
        (Ok(done), Ok(())) => Ok(done),
    }
}

/// What a step reports once done.
fn done(step: &Step<'_>, duration: Duration, skipped: bool) -> Done {
    Done {
        verb: step.verb(),
        version: step.version(),
        branch: step.branch(),
        name: step.name().to_string(),
        duration,
        skipped,
    }
}

/// A `no-transaction` step: the script on its own, its session restored,
/// then its row in a transaction of its own.
async fn script_step<D: Driver>(
    d: &mut D,
    migrator: &Migrator<'_>,
    step: &Step<'_>,
    work: &Work<'_>,
    guard: &Guard,
) -> Result<Done, Error> {
    let dialect = d.dialect();
    let table = migrator.table_name();
    let started = Instant::now();
    let context = |what: &str| format!("cannot {what} for {step}");
    if !d.exclusive_lock() && already_done(d, table, step, work).await? {
        return Ok(done(step, Duration::ZERO, true));
    }
    let lock_timeout = work.script.as_ref().and_then(|s| s.lock_timeout_ms).or(migrator.default_lock_timeout_ms());
    // Recorded as started before it runs: should it stop half-way (an
    // error, a kill), check and sync say so until an operator tells, with
    // goto, what became of it.
    let started_row = work.record.start(dialect, table);
    let check = d.session_check();
    control(d, dialect.begin(), &context("begin the version-table transaction")).await?;
    if let Some(check) = &check
        && let Err(e) = keep_session(d, step, check).await
    {
        let _ = d.execute(dialect.rollback()).await;
        return Err(e);
    }
    if let Err(e) = d.execute(&started_row).await {
        let _ = d.execute(dialect.rollback()).await;
        return Err(Error::database(context("record the migration as started"), e.message));
    }
    control(d, dialect.commit(), &context("commit the version table")).await?;
    let mut prepared = Ok(());
    for sql in &guard.before {
        prepared = prepared.and(d.execute(sql).await);
    }
    let mut ran = match prepared {
        Ok(()) => Ok(()),
        Err(e) => Err(Error::database(context("prepare the session"), e.message)),
    };
    if ran.is_ok() {
        if let Some(sql) = lock_timeout.and_then(|ms| dialect.lock_timeout(ms, false)) {
            control(d, &sql, "set the lock timeout").await?;
        }
        ran = run_script(d, step, work.script.as_deref(), Aftermath::PartiallyApplied, check.as_deref()).await;
        if lock_timeout.is_some()
            && let Some(sql) = dialect.reset_lock_timeout()
        {
            control(d, sql, "reset the lock timeout").await?;
        }
    }
    for sql in &guard.after {
        if let Err(e) = d.execute(sql).await {
            ran = ran.and(Err(Error::database(context("return the session to the run's settings"), e.message)));
        }
    }
    ran?;
    let duration = started.elapsed();
    let finished = match &work.record {
        RecordChange::Insert(m, _) => dialect.finish_record(
            table,
            m.version,
            &m.fingerprint,
            i64::try_from(duration.as_millis()).unwrap_or(i64::MAX),
        ),
        RecordChange::Delete(_) => work.record.sql(dialect, table, Some(duration)),
    };
    control(d, dialect.begin(), &context("begin the version-table transaction")).await?;
    if let Some(check) = &check
        && let Err(e) = keep_session(d, step, check).await
    {
        let _ = d.execute(dialect.rollback()).await;
        return Err(e);
    }
    let recorded = d.execute(&finished).await;
    if let Err(e) = recorded {
        let _ = d.execute(dialect.rollback()).await;
        return Err(Error::database(context("record the migration"), e.message));
    }
    control(d, dialect.commit(), &context("commit the version table")).await?;
    Ok(done(step, duration, false))
}

/// A step in a transaction: its own, or the all-or-nothing one.
async fn transactional_step<D: Driver>(
    d: &mut D,
    migrator: &Migrator<'_>,
    step: &Step<'_>,
    work: &Work<'_>,
    guard: &Guard,
    in_run_transaction: bool,
) -> Result<Done, Error> {
    let dialect = d.dialect();
    let table = migrator.table_name();
    let started = Instant::now();
    let lock_timeout = work.script.as_ref().and_then(|s| s.lock_timeout_ms).or(migrator.default_lock_timeout_ms());
    // Inside the all-or-nothing transaction the plan is already current.
    let recheck = !d.exclusive_lock() && !in_run_transaction;
    let context = |what: &str| format!("cannot {what} for {step}");

    for sql in &guard.before {
        control(d, sql, &context("prepare the session")).await?;
    }
    if dialect == Dialect::Postgres && !recheck && guard.check.is_none() {
        return batched_step(d, step, work, guard, lock_timeout, in_run_transaction, table)
            .await
            .map(|()| done(step, started.elapsed(), false));
    }

    // Statement by statement (SQLite, whose round trips cost nothing): its
    // own transaction unless inside the all-or-nothing one.
    if !in_run_transaction {
        control(d, dialect.begin(), &context("begin a transaction")).await?;
        if let Some(check) = d.session_check()
            && let Err(e) = keep_session(d, step, &check).await
        {
            let _ = d.execute(dialect.rollback()).await;
            return Err(e);
        }
    }
    // A step that inserts its record needs no look before it: the version
    // is the table's primary key, so when a concurrent run did the step
    // first, a statement or the insert fails, and only then a look tells
    // work already done from a failure. The transaction is rolled back
    // either way.
    let optimistic = recheck && work.record.done_when_recorded();
    let aftermath = if in_run_transaction { Aftermath::RunRolledBack } else { Aftermath::RolledBack };
    let result: Result<bool, Error> = async {
        if recheck && !optimistic && already_done(d, table, step, work).await? {
            return Ok(true);
        }
        if let Some(sql) = lock_timeout.and_then(|ms| dialect.lock_timeout(ms, true)) {
            control(d, &sql, &context("set the lock timeout")).await?;
        }
        let ran = async {
            run_script(d, step, work.script.as_deref(), aftermath, None).await?;
            if let (Some(check), Some(script)) = (&guard.check, work.script.as_deref()) {
                run_check(d, step, script, check, aftermath).await?;
            }
            for sql in &guard.inside {
                control(d, sql, &context("return the session to the run's settings")).await?;
            }
            let record = work.record.sql(dialect, table, Some(started.elapsed()));
            d.execute(&record).await.map_err(|e| Error::database(context("record the migration"), e.message))
        }
        .await;
        match ran {
            Err(_) if optimistic && already_done(d, table, step, work).await? => return Ok(true),
            ran => ran?,
        }
        if !in_run_transaction {
            control(d, dialect.commit(), &context("commit the migration")).await?;
        }
        Ok(false)
    }
    .await;
    match result {
        Ok(skipped) => {
            if skipped && !in_run_transaction {
                control(d, dialect.rollback(), &context("end the transaction")).await?;
            }
            Ok(done(step, started.elapsed(), skipped))
        }
        Err(e) => {
            if !in_run_transaction {
                let _ = d.execute(dialect.rollback()).await;
            }
            Err(e)
        }
    }
}

/// Runs a guard's check: every row it returns is a violation, and fails
/// the step with all of them named.
async fn run_check<D: Driver>(
    d: &mut D,
    step: &Step<'_>,
    script: &Script,
    check: &str,
    aftermath: Aftermath,
) -> Result<(), Error> {
    let mut violations: Vec<String> = Vec::new();
    let mut count = 0usize;
    d.query(check, &mut |row| {
        count += 1;
        if violations.len() < 10 {
            violations.push(row.iter().map(|c| c.text().into_owned()).collect::<Vec<_>>().join(" "));
        }
    })
    .await
    .map_err(|e| statement_failed(step, script, 0, check, e.message, aftermath))?;
    if count == 0 {
        return Ok(());
    }
    let more = if count > violations.len() { format!(" and {} more", count - violations.len()) } else { String::new() };
    Err(statement_failed(
        step,
        script,
        0,
        check,
        format!("{count} violation(s) after the migration: {}{more}", violations.join("; ")),
        aftermath,
    ))
}

/// A transactional step on PostgreSQL, in one round trip: `BEGIN`, the
/// lock timeout, every statement, the guard's statements that return the
/// session to the run's settings, the version-table row and `COMMIT` (or,
/// inside the all-or-nothing transaction, all but `BEGIN` and `COMMIT`).
/// The driver says which part failed, so the error still names the
/// statement.
async fn batched_step<D: Driver>(
    d: &mut D,
    step: &Step<'_>,
    work: &Work<'_>,
    guard: &Guard,
    lock_timeout: Option<u32>,
    in_run_transaction: bool,
    table: &TableName,
) -> Result<(), Error> {
    let dialect = d.dialect();
    let mut lead: Vec<String> = Vec::new();
    if !in_run_transaction {
        lead.push(dialect.begin().to_string());
    }
    // The whole batch runs in one session: one check covers it.
    let checked = d.session_check();
    let check_at = lead.len();
    lead.extend(checked.clone());
    lead.extend(lock_timeout.and_then(|ms| dialect.lock_timeout(ms, true)));
    let statements: Vec<(u32, &str)> = work.script.iter().flat_map(|s| s.statements()).collect();
    let record = work.record.sql(dialect, table, None);
    let mut parts: Vec<&str> = lead.iter().map(String::as_str).collect();
    parts.extend(statements.iter().map(|(_, sql)| *sql));
    parts.extend(guard.inside.iter().map(String::as_str));
    parts.push(&record);
    if !in_run_transaction {
        parts.push(dialect.commit());
    }
    let Err((failed, e)) = d.execute_parts(&parts).await else {
        return Ok(());
    };
    if !in_run_transaction {
        let _ = d.execute(dialect.rollback()).await;
    }
    let context = |what: &str| format!("cannot {what} for {step}");
    let restored = statements.len() + guard.inside.len();
    Err(match failed.checked_sub(lead.len()) {
        None if checked.is_some() && failed == check_at => {
            Error::database(format!("cannot keep one session for {step}"), e.message)
        }
        None => Error::database(context("begin a transaction"), e.message),
        Some(i) if i < statements.len() => {
            let script = work.script.as_deref().expect("statements come from a script");
            let (line, sql) = statements[i];
            let aftermath = if in_run_transaction { Aftermath::RunRolledBack } else { Aftermath::RolledBack };
            statement_failed(step, script, line, sql, e.message, aftermath)
        }
        Some(i) if i < restored => Error::database(context("return the session to the run's settings"), e.message),
        Some(i) if i == restored => Error::database(context("record the migration"), e.message),
        Some(_) => Error::database(context("commit the migration"), e.message),
    })
}

/// The error of a statement of `script` that failed.
fn statement_failed(
    step: &Step<'_>,
    script: &Script,
    line: u32,
    sql: &str,
    message: String,
    aftermath: Aftermath,
) -> Error {
    Error::MigrationFailed(Box::new(MigrationFailure {
        step: step.to_string(),
        version: step.version(),
        path: script.path.to_string(),
        line,
        statement: sql.to_string(),
        message,
        aftermath,
    }))
}

/// Whether a concurrent run already did `step`.
async fn already_done<D: Driver>(
    d: &mut D,
    table: &TableName,
    step: &Step<'_>,
    work: &Work<'_>,
) -> Result<bool, Error> {
    let mut recorded = false;
    d.query(&d.dialect().select_recorded(table, step.version()), &mut |_| recorded = true)
        .await
        .map_err(|e| Error::database(format!("cannot read the version table {table}"), e.message))?;
    Ok(recorded == work.record.done_when_recorded())
}

/// Runs a script statement by statement.
/// `check`, when given, is sent before each statement: outside a
/// transaction, each statement may reach another session.
async fn run_script<D: Driver>(
    d: &mut D,
    step: &Step<'_>,
    script: Option<&Script>,
    aftermath: Aftermath,
    check: Option<&str>,
) -> Result<(), Error> {
    for (line, sql) in script.iter().flat_map(|s| s.statements()) {
        if let Some(check) = check {
            keep_session(d, step, check).await?;
        }
        if let Err(e) = d.execute(sql).await {
            let script = script.expect("statements come from a script");
            return Err(statement_failed(step, script, line, sql, e.message, aftermath));
        }
    }
    Ok(())
}

/// Runs a driver's session check.
async fn keep_session<D: Driver>(d: &mut D, step: &Step<'_>, check: &str) -> Result<(), Error> {
    d.execute(check).await.map_err(|e| Error::database(format!("cannot keep one session for {step}"), e.message))
}

/// A driver that prints instead of executing: reads go to the real
/// database, writes are collected as a script for review (`--sql`).
pub(crate) struct Recorder<'d, D> {
    inner: &'d mut D,
    pub script: String,
}

impl<'d, D: Driver> Recorder<'d, D> {
    pub fn new(inner: &'d mut D) -> Self {
        Recorder { inner, script: String::new() }
    }
}

impl<D: Driver> Driver for Recorder<'_, D> {
    fn dialect(&self) -> Dialect {
        self.inner.dialect()
    }

    fn exclusive_lock(&self) -> bool {
        true
    }

    async fn execute(&mut self, sql: &str) -> Result<(), DbError> {
        let sql = sql.trim().trim_end_matches(';').trim_end();
        self.script.push_str(sql);
        self.script.push_str(";\n");
        Ok(())
    }

    async fn query(&mut self, sql: &str, visit: &mut (dyn FnMut(&[Cell<'_>]) + Send)) -> Result<(), DbError> {
        self.inner.query(sql, visit).await
    }

    async fn try_lock(&mut self, _: &TableName) -> Result<Lock, DbError> {
        Ok(Lock::Taken)
    }

    async fn unlock(&mut self, _: &TableName) -> Result<(), DbError> {
        Ok(())
    }

    async fn pause(&mut self, duration: Duration) {
        self.inner.pause(duration).await;
    }

    async fn lock_held(&mut self, table: &TableName) -> Result<bool, DbError> {
        self.inner.lock_held(table).await
    }

    async fn capture_session(&mut self, table: &TableName) -> Result<TableName, DbError> {
        self.inner.capture_session(table).await
    }

    async fn existing_objects(&mut self) -> Result<Vec<String>, DbError> {
        self.inner.existing_objects().await
    }

    fn guard(&self, script: &Script, placement: Placement) -> Guard {
        // A check would read the real database, not the script's result.
        Guard { check: None, ..self.inner.portable_guard(script, placement) }
    }

    fn annotates(&self) -> bool {
        true
    }

    fn annotate(&mut self, comment: &str) {
        self.script.push_str(&format!("\n-- {comment}\n"));
    }
}

/// The SQL a request would run, without running it (Alembic's offline mode).
pub(crate) async fn script<D: Driver>(d: &mut D, migrator: &Migrator<'_>, request: Request) -> Result<String, Error> {
    let migrator = &settled(d, migrator).await?;
    let table = migrator.table_name();
    let state = read_state(d, table, matches!(request, Request::Downgrade(_))).await?;
    guard_existing_schema(d, migrator, state.as_deref(), request).await?;
    let plan = migrator.plan(state.as_deref(), request)?;
    let mut recorder = Recorder::new(d);
    recorder.script = format!("-- ebbtide {request}: {} step(s), version table {table}\n", plan.steps.len());
    let one_transaction = migrator.options().all_or_nothing;
    let dialect = recorder.dialect();
    if one_transaction {
        control(&mut recorder, dialect.begin(), "begin").await?;
    }
    execute_plan(&mut recorder, migrator, &plan, false).await?;
    if one_transaction {
        control(&mut recorder, dialect.commit(), "commit").await?;
    }
    Ok(recorder.script)
}

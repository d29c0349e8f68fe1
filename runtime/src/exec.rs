//! Executing plans. Drivers only run SQL text; this module decides the
//! order of locking, reading, planning, transactions and records, once for
//! every engine.

use std::borrow::Cow;
use std::time::{Duration, Instant};

use crate::Script;
use crate::dialect::{NewRecord, Sql, TableName};
use crate::engine::{DbError, Driver, Guard, Lock, Placement};
use crate::error::{Aftermath, Error, MigrationFailure};
use crate::lock_retry::Retry;
use crate::plan::{Plan, Refusal, Request, Step};
use crate::record::{Cell, How, Record};
use crate::report::{Done, Event, Report};
use crate::settings::Settings;
use crate::version_table::{read_analysis, read_state, stored_down};

/// Runs a request: plans it on a first read, and when there is work, takes
/// the lock, plans again on a fresh read, and executes. The lock is released
/// on every way out.
pub(crate) async fn run<D: Driver>(d: &mut D, settings: &Settings<'_>, request: Request) -> Result<Report, Error> {
    let table = settings.table_name();
    let nothing_to_do = match request {
        // The common case at every start: one streamed query, no lock.
        Request::Sync(_) | Request::Upgrade(_) => read_analysis(d, settings)
            .await?
            .is_some_and(|a| a.nothing_to_apply(settings.migrations(), request, settings.options())),
        _ => {
            let state = read_state(d, table, matches!(request, Request::Downgrade(_))).await?;
            settings.plan(state.as_deref(), request)?.is_empty()
        }
    };
    if nothing_to_do {
        return Ok(Report::default());
    }
    refuse_all_or_nothing(d, settings, request)?;
    take_lock(d, settings).await?;
    let result = run_locked(d, settings, request).await;
    let unlocked = d.unlock(table).await;
    let report = result?;
    unlocked.map_err(|e| Error::database(format!("cannot release the migration lock on {table}"), e))?;
    Ok(report)
}

/// All-or-nothing needs schema changes that roll back with their
/// transaction: refused, for the requests that run scripts, elsewhere.
fn refuse_all_or_nothing<D: Driver>(d: &D, settings: &Settings<'_>, request: Request) -> Result<(), Error> {
    let runs_scripts = matches!(request, Request::Sync(_) | Request::Upgrade(_) | Request::Downgrade(_));
    match settings.options().all_or_nothing && runs_scripts && !d.transactional_ddl() {
        true => Err(Error::Refused(Refusal::AllOrNothingWithoutTransactionalDdl)),
        false => Ok(()),
    }
}

/// Takes the run lock, waiting for another run to end: every few seconds
/// the observer (and the CLI) hear who holds it and for how long, and
/// after [`Migrator::lock_wait`](crate::Migrator::lock_wait) the run gives up.
async fn take_lock<D: Driver>(d: &mut D, settings: &Settings<'_>) -> Result<(), Error> {
    let table = settings.table_name();
    let started = Instant::now();
    let mut pause = Duration::from_millis(50);
    let mut told = Duration::ZERO;
    loop {
        let holder = match d.try_lock(table).await {
            Ok(Lock::Taken) => return Ok(()),
            Ok(Lock::Busy(holder)) => holder,
            Err(e) => return Err(Error::database(format!("cannot take the migration lock on {table}"), e)),
        };
        let waited = started.elapsed();
        let holder = holder.unwrap_or_else(|| "another run".into());
        if waited >= settings.lock_wait_value() {
            return Err(Error::LockWait { table: table.to_string(), waited, holder });
        }
        if waited >= told + Duration::from_secs(if told.is_zero() { 1 } else { 10 }) {
            told = waited;
            settings.notify(Event::Waiting { lock: table.to_string(), holder: holder.clone(), waited });
        }
        d.pause(pause.min(settings.lock_wait_value() - waited)).await;
        pause = (pause * 2).min(Duration::from_secs(1));
    }
}

async fn run_locked<D: Driver>(d: &mut D, settings: &Settings<'_>, request: Request) -> Result<Report, Error> {
    let settings = &settled(d, settings).await?;
    let table = settings.table_name();
    let dialect = d.sql();
    // Only a downgrade needs to know which records hold a down script.
    let full = matches!(request, Request::Downgrade(_));
    // All-or-nothing without an exclusive lock (SQLite): the transaction
    // opens before the version table is read, so the plan is made under the
    // write lock it holds to the end and no step needs to re-check it. With
    // the lock (PostgreSQL), the table is read first: a failed read of a
    // missing table would abort the transaction.
    let one_transaction = settings.options().all_or_nothing;
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
        guard_existing_schema(d, settings, state.as_deref(), request).await?;
        let plan = settings.plan(state.as_deref(), request)?;
        execute_plan(d, settings, &plan, true).await
    }
    .await;
    if one_transaction {
        match &result {
            Ok(_) => commit(d, "commit the all-or-nothing transaction").await?,
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
    settings: &Settings<'_>,
    state: Option<&[Record]>,
    request: Request,
) -> Result<(), Error> {
    if state.is_some() {
        return Ok(());
    }
    let existing = d.existing_objects().await.map_err(|e| Error::database("cannot list the database's tables", e))?;
    crate::plan::guard_existing_schema(
        &settings.table_name().to_string(),
        state,
        &existing,
        request,
        settings.options(),
    )?;
    Ok(())
}

/// The settings a run works with once the session is captured: its version
/// table addressed in the schema that holds it.
async fn settled<'m, D: Driver>(d: &mut D, settings: &Settings<'m>) -> Result<Settings<'m>, Error> {
    let table = settings.table_name();
    let resolved = d
        .capture_session(table)
        .await
        .map_err(|e| Error::database(format!("cannot read the session's settings and the schema of {table}"), e))?;
    Ok(settings.clone().with_table_name(resolved))
}

/// Runs the steps of a plan; `live` runs (not `--sql` scripts) report
/// their progress to the settings's observer.
async fn execute_plan<D: Driver>(
    d: &mut D,
    settings: &Settings<'_>,
    plan: &Plan<'_>,
    live: bool,
) -> Result<Report, Error> {
    let table = settings.table_name();
    let dialect = d.sql();
    let mut report = Report::default();
    let notify = |event: Event<'_>| {
        if live {
            settings.notify(event);
        }
    };
    notify(Event::Planned { steps: plan.steps.len() });
    if plan.create_table {
        if let Some(check) = d.session_check() {
            control(d, &check, "keep one session").await?;
        }
        d.execute(&dialect.create_table(table))
            .await
            .map_err(|e| Error::database(format!("cannot create the version table {table}"), e))?;
        report.created_table = true;
        notify(Event::CreatedTable { table: table.to_string() });
    }
    let one_transaction = settings.options().all_or_nothing;
    // Records rewritten without a script (a sync's whole-text checksums,
    // `repair`) go first, all in one transaction: one commit, not one per record.
    let rewrites = plan.steps.iter().take_while(|s| matches!(s, Step::Rerecord { .. })).count();
    if rewrites > 0 {
        if d.annotates() {
            d.annotate(&format!("{rewrites} record(s) rewritten as this release describes them"));
        }
        for done in rewrite_records(d, settings, &plan.steps[..rewrites], one_transaction).await? {
            notify(Event::Finished(&done));
            report.steps.push(done);
        }
    }
    for step in &plan.steps[rewrites..] {
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
        match execute_step(d, settings, step, one_transaction).await {
            Ok(done) => {
                crate::backfill::after_step(d, settings, step).await?;
                notify(Event::Finished(&done));
                report.steps.push(done);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(report)
}

/// Runs `Rerecord` steps in one transaction (or in the all-or-nothing one).
/// Each update is guarded by the fingerprint the plan read, so a
/// concurrent run that rewrote a record first leaves it nothing to do.
async fn rewrite_records<D: Driver>(
    d: &mut D,
    settings: &Settings<'_>,
    steps: &[Step<'_>],
    in_run_transaction: bool,
) -> Result<Vec<Done>, Error> {
    let dialect = d.sql();
    let table = settings.table_name();
    let started = Instant::now();
    if !in_run_transaction {
        control(d, dialect.begin(), "begin the transaction that rewrites records").await?;
    }
    let written = async {
        if let Some(check) = d.session_check() {
            control(d, &check, "keep one session").await?;
        }
        for step in steps {
            if let Step::Rerecord { record, migration } = step {
                let sql = RecordChange::Rewrite(record, migration).sql(dialect, table, None);
                d.execute(&sql).await.map_err(|e| Error::database(format!("cannot {step}"), e))?;
            }
        }
        Ok(())
    }
    .await;
    if let Err(e) = written {
        if !in_run_transaction {
            let _ = d.execute(dialect.rollback()).await;
        }
        return Err(e);
    }
    if !in_run_transaction {
        commit(d, "commit the rewritten records").await?;
    }
    Ok(steps.iter().map(|step| done(step, started.elapsed(), false)).collect())
}

async fn control<D: Driver>(d: &mut D, sql: &str, what: &str) -> Result<(), Error> {
    d.execute(sql).await.map_err(|e| Error::database(format!("cannot {what}"), e))
}

/// The script a step runs, and how the version table records it.
struct Work<'s> {
    script: Option<Cow<'s, Script>>,
    record: RecordChange<'s>,
}

/// The version-table write of a step.
enum RecordChange<'s> {
    Insert(&'s crate::Migration, How),
    Delete(&'s Record),
    /// The record rewritten as the migration describes it.
    Rewrite(&'s Record, &'s crate::Migration),
}

impl RecordChange<'_> {
    /// The statement, once the script's duration is known (`None`: the
    /// server measures it; see [`NewRecord::duration_ms`]).
    fn sql(&self, dialect: &dyn Sql, table: &TableName, duration: Option<Duration>) -> String {
        let duration_ms = duration.map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        match self {
            RecordChange::Insert(m, how) => insert_row(dialect, table, m, *how, &m.fingerprint, duration_ms),
            RecordChange::Delete(record) => dialect.delete_record(table, record.version),
            RecordChange::Rewrite(record, m) => {
                dialect.rerecord(table, &new_record(m, How::Applied, &m.fingerprint, None), &record.fingerprint)
            }
        }
    }

    /// The statement that marks the step as started, before a
    /// `no-transaction` script runs.
    fn start(&self, dialect: &dyn Sql, table: &TableName) -> String {
        match self {
            RecordChange::Insert(m, how) => insert_row(dialect, table, m, *how, crate::record::STARTED, Some(0)),
            RecordChange::Delete(record) => dialect.start_record(table, record.version),
            // Runs no script: never started.
            RecordChange::Rewrite(..) => self.sql(dialect, table, None),
        }
    }

    /// The statement that takes [`RecordChange::start`] back, when the
    /// script failed before its first statement was sent.
    fn unstart(&self, dialect: &dyn Sql, table: &TableName) -> String {
        match self {
            RecordChange::Insert(m, _) => dialect.delete_record(table, m.version),
            RecordChange::Delete(record) => {
                dialect.finish_record(table, record.version, &record.fingerprint, record.duration_ms.unwrap_or(0))
            }
            // Runs no script: never started.
            RecordChange::Rewrite(..) => self.sql(dialect, table, None),
        }
    }

    /// A step is done when its version is recorded (apply, stamp, a
    /// rewritten record) or when it is not (revert, unstamp).
    fn done_when_recorded(&self) -> bool {
        matches!(self, RecordChange::Insert(..) | RecordChange::Rewrite(..))
    }
}

/// The insert of `m`'s record, with `fingerprint`.
fn insert_row(
    dialect: &dyn Sql,
    table: &TableName,
    m: &crate::Migration,
    how: How,
    fingerprint: &str,
    duration_ms: Option<i64>,
) -> String {
    dialect.insert_record(table, &new_record(m, how, fingerprint, duration_ms))
}

/// The record of `m`, with `fingerprint`.
fn new_record<'m>(m: &'m crate::Migration, how: How, fingerprint: &'m str, duration_ms: Option<i64>) -> NewRecord<'m> {
    NewRecord {
        version: m.version,
        branch: m.branch,
        name: &m.name,
        checksum: &m.checksum,
        fingerprint,
        how,
        duration_ms,
        down_sql: m.down.as_ref().map(|s| s.sql.as_ref()),
    }
}

async fn work_of<'s, D: Driver>(d: &mut D, table: &TableName, step: &'s Step<'s>) -> Result<Work<'s>, Error> {
    Ok(match step {
        Step::Apply(m) => Work { script: Some(Cow::Borrowed(&m.up)), record: RecordChange::Insert(m, How::Applied) },
        Step::Stamp(m) => Work { script: None, record: RecordChange::Insert(m, How::Stamped) },
        Step::Unstamp(r) => Work { script: None, record: RecordChange::Delete(r) },
        Step::Rerecord { record, migration } => Work { script: None, record: RecordChange::Rewrite(record, migration) },
        Step::Revert { record, embedded } => {
            let script = match embedded.and_then(|m| m.down.as_ref()) {
                Some(down) => Cow::Borrowed(down),
                None => Cow::Owned(stored_down(d, table, record).await?),
            };
            Work { script: Some(script), record: RecordChange::Delete(record) }
        }
    })
}

async fn execute_step<D: Driver>(
    d: &mut D,
    settings: &Settings<'_>,
    step: &Step<'_>,
    in_run_transaction: bool,
) -> Result<Done, Error> {
    if let Step::Apply(m) = step
        && let Some(backfill) = &m.up.backfill
    {
        return crate::backfill::apply(d, settings, step, m, backfill).await;
    }
    let table = settings.table_name();
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
    // A transactional step that gave up on a lock was rolled back whole:
    // try it again (a no-transaction script retries the statement itself).
    let script = work.script.as_deref();
    let timeout = script.and_then(|s| s.lock_timeout_ms).or(settings.default_lock_timeout_ms());
    let mut retry = Retry::new(settings, settings.lock_retry_for(script), timeout);
    // A script run statement by statement retries each statement itself.
    let one_by_one = script.is_some_and(|s| by_statement(d, s));
    loop {
        match attempt_step(d, settings, step, &work, one_by_one, in_run_transaction).await {
            Err(Error::MigrationFailed(mut failure))
                if failure.lock_timeout && failure.aftermath == Aftermath::RolledBack && !one_by_one =>
            {
                if let Err(told) = retry.again(d, step, &failure.statement).await {
                    failure.message = format!("{}; {told}", failure.message);
                    return Err(Error::MigrationFailed(failure));
                }
            }
            Err(Error::MigrationFailed(mut failure))
                if failure.lock_timeout && failure.aftermath == Aftermath::RunRolledBack =>
            {
                failure.message = format!(
                    "{}; an all-or-nothing run is not retried after a lock timeout (all of it rolled back): \
                     run it again, without --all-or-nothing, or with a longer --lock-timeout",
                    failure.message
                );
                return Err(Error::MigrationFailed(failure));
            }
            done => return done,
        }
    }
}

/// One attempt of a step.
async fn attempt_step<D: Driver>(
    d: &mut D,
    settings: &Settings<'_>,
    step: &Step<'_>,
    work: &Work<'_>,
    one_by_one: bool,
    in_run_transaction: bool,
) -> Result<Done, Error> {
    let placement = match (one_by_one, in_run_transaction) {
        (true, _) => Placement::None,
        (false, true) => Placement::Run,
        (false, false) => Placement::Own,
    };
    let guard = work.script.as_deref().map(|s| d.guard(s, placement)).unwrap_or_default();
    let result = match placement {
        Placement::None => script_step(d, settings, step, work, &guard).await,
        _ => transactional_step(d, settings, step, work, &guard, in_run_transaction).await,
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
            e,
        )),
        (Ok(done), Ok(())) => Ok(done),
    }
}

/// Whether `script` runs statement by statement, outside a transaction:
/// marked `no-transaction`, or holding a statement that commits on its own
/// where DDL is not transactional.
fn by_statement<D: Driver>(d: &D, script: &Script) -> bool {
    script.no_transaction || (!d.transactional_ddl() && changes_schema(script))
}

/// Whether a statement of `script` changes the schema or otherwise commits
/// on its own on MySQL (table maintenance, `LOCK TABLES`, transaction
/// control, a procedure call that may do either): where DDL is not
/// transactional, such a script runs statement by statement, its progress
/// recorded. Read conservatively: a statement that cannot be read counts.
fn changes_schema(script: &Script) -> bool {
    const COMMITTING: [&str; 23] = [
        "CREATE",
        "ALTER",
        "DROP",
        "RENAME",
        "TRUNCATE",
        "GRANT",
        "REVOKE",
        "LOCK",
        "UNLOCK",
        "ANALYZE",
        "OPTIMIZE",
        "REPAIR",
        "FLUSH",
        "CACHE",
        "LOAD",
        "INSTALL",
        "UNINSTALL",
        "XA",
        "START",
        "BEGIN",
        "COMMIT",
        "CALL",
        "EXECUTE",
    ];
    script.statements().any(|(_, sql)| {
        let Ok(tokens) = ebbtide_core::lexer::tokenize_with(sql, ebbtide_core::Dialect::Mysql) else { return true };
        tokens
            .iter()
            .find(|t| !t.kind.is_trivia())
            .is_none_or(|t| COMMITTING.iter().any(|k| sql[t.range.clone()].eq_ignore_ascii_case(k)))
    })
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
    settings: &Settings<'_>,
    step: &Step<'_>,
    work: &Work<'_>,
    guard: &Guard,
) -> Result<Done, Error> {
    let dialect = d.sql();
    let table = settings.table_name();
    let started = Instant::now();
    let context = |what: &str| format!("cannot {what} for {step}");
    if !d.exclusive_lock() && already_done(d, table, step, work).await? {
        return Ok(done(step, Duration::ZERO, true));
    }
    // A concurrent statement (`CREATE INDEX CONCURRENTLY`) waits for older
    // transactions anywhere in the database, and nothing queues behind it:
    // the default lock timeout would only make it give up, and rebuild the
    // index, under ordinary load. Its own directive still applies.
    let script = work.script.as_deref();
    let concurrent = script.is_some_and(|s| s.statements().any(|(_, sql)| crate::lock_retry::concurrent(sql)));
    let lock_timeout = match script.and_then(|s| s.lock_timeout_ms) {
        Some(ms) => Some(ms),
        None if concurrent => None,
        None => settings.default_lock_timeout_ms(),
    };
    // Recorded as started before it runs: should it stop half-way (an
    // error, a kill), check and sync say so until an operator tells, with
    // goto, what became of it.
    let started_row = work.record.start(dialect, table);
    let check = d.session_check();
    version_table_write(d, step, check.as_deref(), &started_row, "record the migration as started").await?;
    // Until the first statement is sent nothing has changed, and a failure
    // takes the mark back; after it, the mark stays, unless no statement
    // ran: the first gave up on a lock (rolled back by the server) and
    // left nothing behind.
    let mut sent = false;
    let mut ran_statements = Ran::default();
    let mut ran: Result<(), Error> = async {
        for sql in &guard.before {
            d.execute(sql).await.map_err(|e| Error::database(context("prepare the session"), e))?;
        }
        if let Some(sql) = lock_timeout.and_then(|ms| dialect.lock_timeout(ms, false)) {
            control(d, &sql, &format!("set the lock timeout for {step}")).await?;
        }
        sent = true;
        let mut retry = Retry::new(settings, settings.lock_retry_for(work.script.as_deref()), lock_timeout);
        let ran = run_script(
            d,
            step,
            work.script.as_deref(),
            Aftermath::PartiallyApplied,
            check.as_deref(),
            Some((&mut retry, &mut ran_statements)),
            Some(table).filter(|_| !d.transactional_ddl()),
        )
        .await;
        if ran.is_err() {
            // A script that manages its own transactions may have failed
            // inside one: end it, or nothing after works on this session.
            let _ = d.execute(dialect.rollback()).await;
        }
        match dialect.reset_lock_timeout().filter(|_| lock_timeout.is_some()) {
            Some(sql) => ran.and(control(d, sql, &format!("reset the lock timeout for {step}")).await),
            None => ran,
        }
    }
    .await;
    for sql in &guard.after {
        if let Err(e) = d.execute(sql).await {
            ran = ran.and(Err(Error::database(context("return the session to the run's settings"), e)));
        }
    }
    if let Err(mut e) = ran {
        // A first statement that failed may still have changed something
        // (MySQL's `DROP TABLE a, missing` drops `a`): only one that never
        // got its lock left nothing.
        let nothing_ran = ran_statements.statements == 0
            && !ran_statements.leftover
            && matches!(&e, Error::MigrationFailed(f) if f.lock_timeout);
        if !sent || nothing_ran {
            if let Error::MigrationFailed(f) = &mut e {
                f.aftermath = Aftermath::RolledBack;
            }
            let unstart = work.record.unstart(dialect, table);
            if let Err(undo) =
                version_table_write(d, step, check.as_deref(), &unstart, "take back the started mark").await
            {
                return Err(Error::found(format!("{e}; and the migration stays marked as started"), undo.to_string()));
            }
        } else if let Error::MigrationFailed(f) = &mut e
            && let of = work.script.as_ref().map_or(0, |s| s.statements.len())
            && let Some(sql) = dialect.statement_failure(table, step.version(), &f.message, of)
        {
            f.aftermath = Aftermath::StatementsApplied { applied: ran_statements.statements, of };
            if let Err(undo) = d.execute_aside(&sql).await {
                return Err(Error::found(format!("{e}; and its error could not be recorded"), undo.message));
            }
        }
        return Err(e);
    }
    let duration = started.elapsed();
    let finished = match &work.record {
        RecordChange::Insert(m, _) => dialect.finish_record(
            table,
            m.version,
            &m.fingerprint,
            i64::try_from(duration.as_millis()).unwrap_or(i64::MAX),
        ),
        RecordChange::Delete(_) | RecordChange::Rewrite(..) => work.record.sql(dialect, table, Some(duration)),
    };
    version_table_write(d, step, check.as_deref(), &finished, "record the migration").await?;
    Ok(done(step, duration, false))
}

/// One write to the version table in a transaction of its own, on the
/// run's session.
async fn version_table_write<D: Driver>(
    d: &mut D,
    step: &Step<'_>,
    check: Option<&str>,
    sql: &str,
    what: &str,
) -> Result<(), Error> {
    let dialect = d.sql();
    if check.is_none() && d.joins_statements() {
        // One round trip.
        let batch = format!("{}; {sql}; {}", dialect.begin(), dialect.commit());
        if let Err(e) = d.execute(&batch).await {
            let _ = d.execute(dialect.rollback()).await;
            return Err(Error::database(format!("cannot {what} for {step}"), e));
        }
        return Ok(());
    }
    control(d, dialect.begin(), &format!("begin the version-table transaction for {step}")).await?;
    let written = async {
        if let Some(check) = check {
            keep_session(d, step, check).await?;
        }
        d.execute(sql).await.map_err(|e| Error::database(format!("cannot {what} for {step}"), e))
    }
    .await;
    if let Err(e) = written {
        let _ = d.execute(dialect.rollback()).await;
        return Err(e);
    }
    commit(d, &format!("commit the version table for {step}")).await
}

/// Commits; when the commit fails, rolls back, since SQLite keeps the
/// transaction open after a failed COMMIT (a deferred foreign-key
/// violation, a busy database).
async fn commit<D: Driver>(d: &mut D, what: &str) -> Result<(), Error> {
    let dialect = d.sql();
    let committed = control(d, dialect.commit(), what).await;
    if committed.is_err() {
        let _ = d.execute(dialect.rollback()).await;
    }
    committed
}

/// A step in a transaction: its own, or the all-or-nothing one.
async fn transactional_step<D: Driver>(
    d: &mut D,
    settings: &Settings<'_>,
    step: &Step<'_>,
    work: &Work<'_>,
    guard: &Guard,
    in_run_transaction: bool,
) -> Result<Done, Error> {
    let dialect = d.sql();
    let table = settings.table_name();
    let started = Instant::now();
    let lock_timeout = work.script.as_ref().and_then(|s| s.lock_timeout_ms).or(settings.default_lock_timeout_ms());
    // Inside the all-or-nothing transaction the plan is already current.
    let recheck = !d.exclusive_lock() && !in_run_transaction;
    let context = |what: &str| format!("cannot {what} for {step}");

    for sql in &guard.before {
        control(d, sql, &format!("prepare the session for {step}")).await?;
    }
    if d.batches() && !recheck && guard.check.is_none() {
        return batched_step(d, step, work, guard, lock_timeout, in_run_transaction, table)
            .await
            .map(|()| done(step, started.elapsed(), false));
    }

    // Statement by statement (SQLite, whose round trips cost nothing): its
    // own transaction unless inside the all-or-nothing one.
    if !in_run_transaction {
        control(d, dialect.begin(), &format!("begin a transaction for {step}")).await?;
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
            control(d, &sql, &format!("set the lock timeout for {step}")).await?;
        }
        let ran = async {
            run_script(d, step, work.script.as_deref(), aftermath, None, None, None).await?;
            if let (Some(check), Some(script)) = (&guard.check, work.script.as_deref()) {
                run_check(d, step, script, check, aftermath).await?;
            }
            for sql in &guard.inside {
                control(d, sql, &format!("return the session to the run's settings for {step}")).await?;
            }
            let record = work.record.sql(dialect, table, Some(started.elapsed()));
            d.execute(&record).await.map_err(|e| Error::database(context("record the migration"), e))
        }
        .await;
        match ran {
            Err(_) if optimistic && already_done(d, table, step, work).await? => return Ok(true),
            ran => ran?,
        }
        if !in_run_transaction {
            commit(d, &context("commit the migration")).await?;
        }
        Ok(false)
    }
    .await;
    match result {
        Ok(skipped) => {
            if skipped && !in_run_transaction {
                control(d, dialect.rollback(), &format!("end the transaction for {step}")).await?;
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
    .map_err(|e| statement_failed(step, script, 0, check, e, aftermath))?;
    if count == 0 {
        return Ok(());
    }
    let more = if count > violations.len() { format!(" and {} more", count - violations.len()) } else { String::new() };
    Err(statement_failed(
        step,
        script,
        0,
        check,
        DbError::new(format!("{count} violation(s) after the migration: {}{more}", violations.join("; "))),
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
    let dialect = d.sql();
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
            Error::database(format!("cannot keep one session for {step}"), e)
        }
        None => Error::database(context("begin a transaction"), e),
        Some(i) if i < statements.len() => {
            let script = work.script.as_deref().expect("statements come from a script");
            let (line, sql) = statements[i];
            let aftermath = if in_run_transaction { Aftermath::RunRolledBack } else { Aftermath::RolledBack };
            statement_failed(step, script, line, sql, e, aftermath)
        }
        Some(i) if i < restored => Error::database(context("return the session to the run's settings"), e),
        Some(i) if i == restored => Error::database(context("record the migration"), e),
        Some(_) => Error::database(context("commit the migration"), e),
    })
}

/// The error of a statement of `script` that failed.
fn statement_failed(step: &Step<'_>, script: &Script, line: u32, sql: &str, e: DbError, aftermath: Aftermath) -> Error {
    Error::MigrationFailed(Box::new(MigrationFailure {
        step: step.to_string(),
        version: step.version(),
        path: script.path.to_string(),
        line,
        statement: sql.to_string(),
        message: e.message,
        aftermath,
        lock_timeout: e.lock_timeout,
        code: e.code,
        source: e.source,
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
    d.query(&d.sql().select_recorded(table, step.version()), &mut |_| recorded = true)
        .await
        .map_err(|e| Error::database(format!("cannot read the version table {table}"), e))?;
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
    mut retry: Option<(&mut Retry<'_>, &mut Ran)>,
    progress: Option<&TableName>,
) -> Result<(), Error> {
    let of = script.map_or(0, |s| s.statements.len());
    let mut reached = 0;
    let failed = |line, sql, e, told: Option<String>| {
        let script = script.expect("statements come from a script");
        let mut failed = statement_failed(step, script, line, sql, e, aftermath);
        if let (Error::MigrationFailed(f), Some(told)) = (&mut failed, told) {
            f.message = format!("{}; {told}", f.message);
        }
        failed
    };
    for (line, sql) in script.iter().flat_map(|s| s.statements()) {
        // Outside a transaction, a statement that gave up on a lock is
        // tried again on its own. A `CREATE INDEX CONCURRENTLY` that did
        // leaves its index behind, invalid: it is dropped (concurrently,
        // which may itself wait) before the next attempt.
        let mut leftover: Option<(String, String)> = None;
        loop {
            if let Some(check) = check {
                keep_session(d, step, check).await?;
            }
            let attempt = match &leftover {
                Some((_, drop)) => d.execute(drop).await.map(|()| false),
                None => d.execute(sql).await.map(|()| true),
            };
            if let Some((_, ran)) = retry.as_mut() {
                ran.leftover = leftover.is_some();
            }
            let e = match attempt {
                Ok(true) => {
                    if let Some((_, ran)) = retry.as_mut() {
                        ran.statements += 1;
                    }
                    reached += 1;
                    // Where a statement commits on its own, so does its
                    // progress; after the last one, the record's end says it.
                    let progress = progress.filter(|_| reached < of);
                    if let Some(sql) = progress.and_then(|t| d.sql().statement_progress(t, step.version(), reached, of))
                    {
                        d.execute_aside(&sql).await.map_err(|e| {
                            Error::database(
                                format!(
                                    "cannot record the progress of {step} after its statement {reached} of {of}, which stays applied; \
                                     the migration stays marked as started"
                                ),
                                e,
                            )
                        })?;
                    }
                    break;
                }
                Ok(false) => {
                    leftover = None;
                    continue;
                }
                Err(e) => e,
            };
            let Some((retry, ran)) = retry.as_mut().filter(|_| e.lock_timeout) else {
                let told = leftover.map(|(index, drop)| {
                    format!("the invalid index {index} it left could not be dropped ({}): run `{drop}`", e.message)
                });
                return Err(failed(line, sql, e, told));
            };
            if leftover.is_none() {
                leftover = invalid_index(d, sql).await;
                ran.leftover = leftover.is_some();
            }
            if let Err(mut told) = retry.again(d, step, sql).await {
                if let Some((index, drop)) = &leftover {
                    told.push_str(&format!("; it left the invalid index {index} behind: drop it with `{drop}`"));
                }
                return Err(failed(line, sql, e, Some(told)));
            }
        }
    }
    Ok(())
}

/// What a no-transaction script's statements did: how many ran, and
/// whether one left something behind (an invalid index).
#[derive(Default)]
struct Ran {
    statements: usize,
    leftover: bool,
}

/// The invalid index a `CREATE INDEX CONCURRENTLY` that gave up left
/// behind, with the statement that drops it.
async fn invalid_index<D: Driver>(d: &mut D, statement: &str) -> Option<(String, String)> {
    let dialect = d.sql();
    let index = crate::lock_retry::concurrent_index(statement)?;
    let (probe, drop) = (dialect.invalid_index(&index)?, dialect.drop_index_concurrently(&index)?);
    let mut invalid = false;
    d.query(&probe, &mut |_| invalid = true).await.ok()?;
    invalid.then_some((index, drop))
}

/// Runs a driver's session check.
async fn keep_session<D: Driver>(d: &mut D, step: &Step<'_>, check: &str) -> Result<(), Error> {
    d.execute(check).await.map_err(|e| Error::database(format!("cannot keep one session for {step}"), e))
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
    fn sql(&self) -> &'static dyn Sql {
        self.inner.sql()
    }

    fn exclusive_lock(&self) -> bool {
        true
    }

    /// The script runs as the engine would run it: statement by statement,
    /// its progress recorded, where DDL is not transactional.
    fn transactional_ddl(&self) -> bool {
        self.inner.transactional_ddl()
    }

    /// A script for review keeps one statement per line.
    fn joins_statements(&self) -> bool {
        false
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

    async fn cluster(&mut self) -> Result<Option<String>, DbError> {
        self.inner.cluster().await
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
pub(crate) async fn script<D: Driver>(d: &mut D, settings: &Settings<'_>, request: Request) -> Result<String, Error> {
    let settings = &settled(d, settings).await?;
    let table = settings.table_name();
    let state = read_state(d, table, matches!(request, Request::Downgrade(_))).await?;
    guard_existing_schema(d, settings, state.as_deref(), request).await?;
    let plan = settings.plan(state.as_deref(), request)?;
    refuse_all_or_nothing(d, settings, request)?;
    let mut recorder = Recorder::new(d);
    recorder.script = format!("-- ebbtide {request}: {} step(s), version table {table}\n", plan.steps.len());
    let one_transaction = settings.options().all_or_nothing;
    let dialect = recorder.sql();
    if one_transaction {
        control(&mut recorder, dialect.begin(), "begin").await?;
    }
    execute_plan(&mut recorder, settings, &plan, false).await?;
    if one_transaction {
        control(&mut recorder, dialect.commit(), "commit").await?;
    }
    Ok(recorder.script)
}

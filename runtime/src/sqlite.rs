//! SQLite, through rusqlite: the embedded default.
//!
//! Every operation is synchronous. Concurrent runs on one database file
//! take turns: a run holds an exclusive lock on a file beside the database
//! (`<database>-ebbtide.lock`, released when the run ends or its process
//! dies) from its first write to its end, so every migration, `no-transaction`
//! ones included, is applied exactly once; readers of the database never
//! wait for it. Each migration also runs in a `BEGIN IMMEDIATE` transaction
//! that re-checks that no other run applied it.
//!
//! A migration's pragmas and temporary objects end with it: ebbtide reads
//! the connection's settings when a run starts and sets them back after
//! every migration that changes them. A migration that turns foreign keys
//! off gets SQLite's table-rebuild procedure: foreign keys off before its
//! transaction, `PRAGMA foreign_key_check` before it commits (a violation
//! rolls it back), and the connection's setting back afterwards.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use rusqlite::types::ValueRef;

use crate::Script;
use crate::dialect::{Sql, TableName};
use crate::engine::{DbError, Driver, Guard, Lock, Placement};
use crate::error::DriverError;
use crate::ops::front_end;
use crate::record::Cell;
use crate::settings::Settings;

/// The operations of a [`Migrator`](crate::Migrator) on one SQLite connection; see
/// [`Migrator::sqlite`](crate::Migrator::sqlite).
///
/// Every operation is synchronous. A rolling upgrade, one step per release
/// stage, then the status an operator reads:
///
/// ```
/// ebbtide::embed_migrations!("../migrations");
///
/// # fn main() -> Result<(), ebbtide::Error> {
/// let conn = ebbtide::rusqlite::Connection::open_in_memory().unwrap();
/// let migrator = ebbtide::Migrator::new(&migrations::MIGRATIONS);
/// let db = migrator.sqlite(&conn);
///
/// db.sync(ebbtide::Scope::Expand)?; // before the new release starts
/// assert!(db.check()?.may_serve());
/// db.sync(ebbtide::Scope::Contract)?; // once the old release is gone
/// assert_eq!(db.check()?, ebbtide::Verdict::Current);
/// assert!(db.sync(ebbtide::Scope::All)?.is_empty()); // nothing left: one query
///
/// let status = ebbtide::status::table(&db.status()?);
/// assert!(status.starts_with("VERSION"));
/// # Ok(())
/// # }
/// ```
pub struct Sqlite<'c> {
    settings: &'c Settings<'c>,
    conn: &'c rusqlite::Connection,
}

impl<'c> Sqlite<'c> {
    pub(crate) fn new(settings: &'c Settings<'c>, conn: &'c rusqlite::Connection) -> Self {
        Sqlite { settings, conn }
    }

    /// The driver of one operation. While it lives, waits for SQLite's
    /// write lock (another connection writing) are told to the observer and
    /// bounded by [`Migrator::busy_timeout`]; then the connection gets back
    /// the busy timeout it had.
    fn driver(&self) -> SqliteDriver<'c> {
        let saved_busy = self.conn.pragma_query_value(None, "busy_timeout", |row| row.get::<_, i64>(0)).ok();
        let limit = self.settings.busy_timeout_value();
        // SQLite waits a second at a time; the driver tells and retries.
        let _ = self.conn.busy_timeout(limit.min(Duration::from_secs(1)));
        SqliteDriver {
            conn: self.conn,
            session: None,
            lock: None,
            saved_busy,
            busy: BusyWait { limit, observer: self.settings.observer() },
        }
    }
}

/// How a driver waits for SQLite's write lock while another connection
/// writes.
struct BusyWait {
    limit: Duration,
    observer: Option<crate::settings::Observer>,
}

impl Drop for SqliteDriver<'_> {
    fn drop(&mut self) {
        let ms = self.saved_busy.unwrap_or(0).max(0) as u64;
        let _ = self.conn.busy_timeout(Duration::from_millis(ms));
    }
}

/// Retries of what SQLite refused because another connection holds its
/// write lock: each waited a second (the connection's busy timeout while
/// ebbtide works); the observer hears of the wait after a second and every
/// ten, and after the busy limit the refusal stands.
struct Retry<'b> {
    busy: &'b BusyWait,
    started: Instant,
    told: Duration,
    /// When the last attempt began.
    attempt: Instant,
}

impl<'b> Retry<'b> {
    fn new(busy: &'b BusyWait) -> Self {
        let now = Instant::now();
        Retry { busy, started: now, told: Duration::ZERO, attempt: now }
    }

    /// Whether to try `sql` again after `error`. Only what ran as a whole
    /// or not at all is tried again: a statement outside a transaction (a
    /// BEGIN among them), or a COMMIT, which leaves the transaction open
    /// when refused. Inside a transaction a refused statement stands: the
    /// transaction may hold only part of it, and only a rollback frees the
    /// lock the other connection waits for.
    fn again(&mut self, error: &rusqlite::Error, conn: &rusqlite::Connection, sql: &str) -> bool {
        if error.sqlite_error_code() != Some(rusqlite::ErrorCode::DatabaseBusy) {
            return false;
        }
        if !conn.is_autocommit() && !sql.trim().eq_ignore_ascii_case("COMMIT") {
            return false;
        }
        // SQLite refuses at once, without waiting its busy timeout, when
        // waiting could deadlock: no busy loop.
        let pause = Duration::from_millis(100);
        if let Some(rest) = pause.checked_sub(self.attempt.elapsed()) {
            std::thread::sleep(rest);
        }
        self.attempt = Instant::now();
        let waited = self.started.elapsed();
        if waited >= self.busy.limit {
            return false;
        }
        if waited >= self.told + Duration::from_secs(if self.told.is_zero() { 1 } else { 10 }) {
            self.told = waited;
            if let Some(observer) = &self.busy.observer {
                observer(&crate::Event::Waiting {
                    lock: format!(
                        "SQLite's write lock on {}",
                        conn.path().filter(|p| !p.is_empty()).unwrap_or("the database")
                    ),
                    holder: "another connection, writing to the database".into(),
                    waited,
                });
            }
        }
        true
    }
}

/// Drives a future whose every await completes at once, as the SQLite
/// driver's do (rusqlite is synchronous).
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

macro_rules! blocking {
    ($e:expr) => {
        block_on($e)
    };
}

front_end!(Sqlite, [], blocking);

/// SQLite's SQL for ebbtide's own statements.
struct SqliteSql;

impl Sql for SqliteSql {
    fn create_table(&self, table: &TableName) -> String {
        format!(
            "CREATE TABLE IF NOT EXISTS {} (\n\
             \x20 version INTEGER PRIMARY KEY,\n\
             \x20 branch TEXT NOT NULL CHECK (branch IN ('initial', 'expand', 'contract')),\n\
             \x20 name TEXT NOT NULL,\n\
             \x20 checksum TEXT NOT NULL,\n\
             \x20 fingerprint TEXT NOT NULL,\n\
             \x20 how TEXT NOT NULL CHECK (how IN ('applied', 'stamped')),\n\
             \x20 applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),\n\
             \x20 duration_ms INTEGER NOT NULL,\n\
             \x20 down_sql TEXT\n)",
            // No index beside the primary key: one would cost every
            // applied migration a page write, and the startup check is
            // under its floor without one (BENCHMARKS.md).
            self.table(table)
        )
    }

    /// The write lock at once, so that concurrent runs queue instead of
    /// failing on a lock upgrade.
    fn begin(&self) -> &'static str {
        "BEGIN IMMEDIATE"
    }
}

pub(crate) struct SqliteDriver<'c> {
    conn: &'c rusqlite::Connection,
    /// The connection's state as the run found it.
    session: Option<Session>,
    /// The run lock's file, while this run holds it.
    lock: Option<std::fs::File>,
    /// The connection's busy timeout before this operation, in ms.
    saved_busy: Option<i64>,
    busy: BusyWait,
}

impl SqliteDriver<'_> {
    /// The file whose lock is the run lock: beside the database file.
    /// `None` for an in-memory database, which has one connection.
    fn lock_path(&self) -> Option<std::path::PathBuf> {
        let path = self.conn.path().filter(|p| !p.is_empty())?;
        Some(std::path::PathBuf::from(format!("{path}-ebbtide.lock")))
    }
}

/// A connection's state as a run found it.
#[derive(Debug, Default)]
struct Session {
    /// Every pragma a migration may change, with its value.
    pragmas: Vec<(String, String)>,
    /// The temporary objects that existed, as (type, name).
    temporary: Vec<(String, String)>,
}

impl Session {
    fn foreign_keys(&self) -> bool {
        self.pragmas.iter().any(|(name, value)| name == "foreign_keys" && value == "1")
    }

    /// `PRAGMA name = value` for each captured pragma that `keep` accepts.
    fn restore(&self, keep: impl Fn(&str) -> bool) -> Vec<String> {
        self.pragmas
            .iter()
            .filter(|(name, _)| keep(name))
            .map(|(name, value)| format!("PRAGMA {name} = {value}"))
            .collect()
    }
}

/// Pragmas set back only once the migration's transaction is over: those
/// SQLite refuses or ignores inside one, and `defer_foreign_keys`, whose
/// reset inside the transaction would forget the foreign-key violations
/// it deferred to the commit (and let them commit).
const OUTSIDE_TRANSACTION: [&str; 4] = ["foreign_keys", "synchronous", "temp_store", "defer_foreign_keys"];

/// The temporary objects of the connection, as (type, name).
const TEMPORARY_OBJECTS: &str = "SELECT type, name FROM temp.sqlite_master";

/// SQLite's name for a result code: the extended name where SQLite has one
/// for the codes a migration meets (constraints, locks), the primary
/// code's name otherwise.
fn result_code(extended: std::ffi::c_int) -> String {
    const EXTENDED: &[(std::ffi::c_int, &str)] = &[
        (261, "SQLITE_BUSY_RECOVERY"),
        (517, "SQLITE_BUSY_SNAPSHOT"),
        (773, "SQLITE_BUSY_TIMEOUT"),
        (262, "SQLITE_LOCKED_SHAREDCACHE"),
        (275, "SQLITE_CONSTRAINT_CHECK"),
        (531, "SQLITE_CONSTRAINT_COMMITHOOK"),
        (787, "SQLITE_CONSTRAINT_FOREIGNKEY"),
        (1043, "SQLITE_CONSTRAINT_FUNCTION"),
        (1299, "SQLITE_CONSTRAINT_NOTNULL"),
        (1555, "SQLITE_CONSTRAINT_PRIMARYKEY"),
        (1811, "SQLITE_CONSTRAINT_TRIGGER"),
        (2067, "SQLITE_CONSTRAINT_UNIQUE"),
        (2323, "SQLITE_CONSTRAINT_VTAB"),
        (2579, "SQLITE_CONSTRAINT_ROWID"),
        (3091, "SQLITE_CONSTRAINT_DATATYPE"),
        (264, "SQLITE_READONLY_RECOVERY"),
        (520, "SQLITE_READONLY_CANTLOCK"),
        (776, "SQLITE_READONLY_ROLLBACK"),
        (1032, "SQLITE_READONLY_DBMOVED"),
    ];
    const PRIMARY: [&str; 29] = [
        "SQLITE_OK",
        "SQLITE_ERROR",
        "SQLITE_INTERNAL",
        "SQLITE_PERM",
        "SQLITE_ABORT",
        "SQLITE_BUSY",
        "SQLITE_LOCKED",
        "SQLITE_NOMEM",
        "SQLITE_READONLY",
        "SQLITE_INTERRUPT",
        "SQLITE_IOERR",
        "SQLITE_CORRUPT",
        "SQLITE_NOTFOUND",
        "SQLITE_FULL",
        "SQLITE_CANTOPEN",
        "SQLITE_PROTOCOL",
        "SQLITE_EMPTY",
        "SQLITE_SCHEMA",
        "SQLITE_TOOBIG",
        "SQLITE_CONSTRAINT",
        "SQLITE_MISMATCH",
        "SQLITE_MISUSE",
        "SQLITE_NOLFS",
        "SQLITE_AUTH",
        "SQLITE_FORMAT",
        "SQLITE_RANGE",
        "SQLITE_NOTADB",
        "SQLITE_NOTICE",
        "SQLITE_WARNING",
    ];
    if let Some((_, name)) = EXTENDED.iter().find(|(code, _)| *code == extended) {
        return (*name).to_string();
    }
    match PRIMARY.get((extended & 0xff) as usize) {
        Some(name) => (*name).to_string(),
        None => format!("SQLITE_{extended}"),
    }
}

fn db_error(e: rusqlite::Error) -> DbError {
    let mut message = e.to_string();
    if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy) {
        message.push_str(
            ": another connection kept SQLite's write lock for longer than ebbtide waits for it (Migrator::busy_timeout, 60 s by default)",
        );
    }
    let code = match &e {
        rusqlite::Error::SqliteFailure(failure, _) => Some(result_code(failure.extended_code)),
        _ => None,
    };
    let undefined_table = message.starts_with("no such table");
    DbError { undefined_table, lock_timeout: false, message, code, source: Some(DriverError::new(e)) }
}

impl Driver for SqliteDriver<'_> {
    fn sql(&self) -> &'static dyn Sql {
        &SqliteSql
    }

    /// SQLite has one write lock, and a writer waiting for it polls (its
    /// busy handler sleeps between attempts): a batch that began again at
    /// once would keep it from the application. Half a batch's time
    /// between batches lets waiting writers in.
    fn pause_after_batch(&self, batch: Duration) -> Duration {
        (batch / 2).clamp(Duration::from_millis(1), Duration::from_millis(250))
    }

    fn exclusive_lock(&self) -> bool {
        false
    }

    async fn execute(&mut self, sql: &str) -> Result<(), DbError> {
        let mut retry = Retry::new(&self.busy);
        loop {
            match self.conn.execute_batch(sql) {
                Err(e) if retry.again(&e, self.conn, sql) => continue,
                done => return done.map_err(db_error),
            }
        }
    }

    async fn query(&mut self, sql: &str, visit: &mut (dyn FnMut(&[Cell<'_>]) + Send)) -> Result<(), DbError> {
        let mut stmt = self.conn.prepare(sql).map_err(db_error)?;
        let columns = stmt.column_count();
        // A wait for the lock comes before the first row, or not at all:
        // the query starts again until it gets past it.
        let mut retry = Retry::new(&self.busy);
        loop {
            let mut rows = stmt.query([]).map_err(db_error)?;
            let mut next = rows.next();
            if let Err(e) = &next
                && retry.again(e, self.conn, sql)
            {
                continue;
            }
            while let Some(row) = next.map_err(db_error)? {
                // Values are borrowed from the row; ebbtide's queries have up to
                // eight columns, which live on the stack.
                let mut cells = [Cell::Null; 8];
                let mut many: Vec<Cell<'_>> = Vec::new();
                for i in 0..columns {
                    let cell = match row.get_ref(i).map_err(db_error)? {
                        ValueRef::Null => Cell::Null,
                        ValueRef::Integer(n) => Cell::Int(n),
                        // ebbtide stores no floating-point values.
                        ValueRef::Real(x) => Cell::Int(x as i64),
                        ValueRef::Text(t) | ValueRef::Blob(t) => Cell::Text(t),
                    };
                    match cells.get_mut(i) {
                        Some(slot) => *slot = cell,
                        None => many.push(cell),
                    }
                }
                if columns <= cells.len() {
                    visit(&cells[..columns]);
                } else {
                    let all: Vec<Cell<'_>> = cells.iter().chain(&many).copied().collect();
                    visit(&all);
                }
                next = rows.next();
            }
            return Ok(());
        }
    }

    async fn try_lock(&mut self, _: &TableName) -> Result<Lock, DbError> {
        use std::io::{Read, Seek, Write};
        let Some(path) = self.lock_path() else {
            return Ok(Lock::Taken);
        };
        let failed = |what: &str, e: std::io::Error| {
            DbError::new(format!("cannot {what} the lock file {}: {e}", path.display()))
        };
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| failed("open", e))?;
        match file.try_lock() {
            Ok(()) => {
                // Who holds it, for runs that wait.
                let since =
                    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
                let note = format!("{} {since}", std::process::id());
                file.set_len(0)
                    .and_then(|()| file.rewind())
                    .and_then(|()| file.write_all(note.as_bytes()))
                    .map_err(|e| failed("write", e))?;
                self.lock = Some(file);
                Ok(Lock::Taken)
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut note = String::new();
                let _ = file.read_to_string(&mut note);
                let mut words = note.split_whitespace();
                let holder = match (words.next(), words.next().and_then(|s| s.parse::<u64>().ok())) {
                    (Some(pid), Some(since)) => {
                        let now = std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .map_or(since, |d| d.as_secs());
                        Some(format!("process {pid}, for {} s", now.saturating_sub(since)))
                    }
                    _ => None,
                };
                Ok(Lock::Busy(holder))
            }
            Err(std::fs::TryLockError::Error(e)) => Err(failed("lock", e)),
        }
    }

    async fn lock_held(&mut self, _: &TableName) -> Result<bool, DbError> {
        let Some(path) = self.lock_path() else {
            return Ok(false);
        };
        let Ok(file) = std::fs::File::open(&path) else {
            return Ok(false); // no run ever took it
        };
        Ok(matches!(file.try_lock_shared(), Err(std::fs::TryLockError::WouldBlock)))
    }

    async fn unlock(&mut self, _: &TableName) -> Result<(), DbError> {
        // Closing the file releases its lock; the file stays for the next run.
        self.lock = None;
        Ok(())
    }

    async fn pause(&mut self, duration: std::time::Duration) {
        std::thread::sleep(duration);
    }

    async fn capture_session(&mut self, table: &TableName) -> Result<TableName, DbError> {
        let mut session = Session::default();
        let read = ebbtide_core::rules::RESTORED_PRAGMAS
            .iter()
            .map(|name| format!("SELECT '{name}', * FROM pragma_{name}"))
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        self.query(&read, &mut |row| {
            session.pragmas.push((Cell::at(row, 0).text().into_owned(), Cell::at(row, 1).text().into_owned()));
        })
        .await?;
        self.query(TEMPORARY_OBJECTS, &mut |row| {
            session.temporary.push((Cell::at(row, 0).text().into_owned(), Cell::at(row, 1).text().into_owned()));
        })
        .await?;
        self.session = Some(session);
        // `main`: a temporary table of the same name would otherwise hide it.
        Ok(match table.schema() {
            Some(_) => table.clone(),
            None => table.in_schema("main"),
        })
    }

    fn guard(&self, script: &Script, placement: Placement) -> Guard {
        let Some(session) = &self.session else {
            return Guard::default();
        };
        let rebuild = script.foreign_keys_off && session.foreign_keys();
        let mut guard = Guard::default();
        if rebuild && placement != Placement::Run {
            guard.before.push("PRAGMA foreign_keys = OFF".into());
        }
        if rebuild && placement != Placement::None {
            guard.check = Some(
                "SELECT \"table\" || ' row ' || coalesce(rowid, '?') || ' refers to a row of ' || parent || ' that does not exist' \
                 FROM pragma_foreign_key_check"
                    .into(),
            );
        }
        if script.sets_session && placement != Placement::None {
            guard.inside = session.restore(|name| !OUTSIDE_TRANSACTION.contains(&name));
        }
        if placement != Placement::Run {
            if script.sets_session {
                guard.after = session.restore(|_| true);
            } else if rebuild {
                guard.after = session.restore(|name| name == "foreign_keys");
            }
        }
        guard
    }

    async fn existing_objects(&mut self) -> Result<Vec<String>, DbError> {
        let mut objects = Vec::new();
        self.query(
            // Another migration tool's history table first: it says what to do.
            &format!(
                "SELECT name FROM main.sqlite_master WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite%' \
                 ORDER BY name NOT IN {}, name LIMIT 6",
                crate::dialect::other_tools_tables()
            ),
            &mut |row| objects.push(Cell::at(row, 0).text().into_owned()),
        )
        .await?;
        Ok(objects)
    }

    async fn clean_session(&mut self, script: &Script) -> Result<(), DbError> {
        let known = match &self.session {
            Some(session) if script.sets_session => session.temporary.clone(),
            _ => return Ok(()),
        };
        let mut created: Vec<(String, String)> = Vec::new();
        self.query(TEMPORARY_OBJECTS, &mut |row| {
            let object = (Cell::at(row, 0).text().into_owned(), Cell::at(row, 1).text().into_owned());
            if !known.contains(&object) {
                created.push(object);
            }
        })
        .await?;
        // Triggers and views first: dropping a table takes its indexes and
        // triggers with it.
        created.sort_by_key(|(kind, _)| ["trigger", "view", "index", "table"].iter().position(|k| k == kind));
        for (kind, name) in created {
            let sql = format!("DROP {kind} IF EXISTS temp.\"{}\"", name.replace('"', "\"\""));
            self.execute(&sql).await?;
        }
        Ok(())
    }
}

/// SQLite in the registry: `sqlite:PATH`, `sqlite://PATH`, `sqlite::memory:`.
pub(crate) const ENGINE: crate::database::Engine = crate::database::Engine {
    name: "sqlite",
    urls: "sqlite:PATH or sqlite::memory:",
    capabilities: crate::database::Capabilities {
        transactional_ddl: true,
        schemas: false,
        lock_timeout: false,
        server: false,
        server_lock: false,
        databases: false,
    },
    accepts: |url| url.starts_with("sqlite:"),
    open: open_url,
};

/// Opens the database a `sqlite:` URL names. Only a writer creates the
/// file: looking at a path that holds no database must not leave one there.
fn open_url(url: &str, access: crate::database::Access) -> Result<Box<dyn crate::database::Database>, crate::Error> {
    if url == "sqlite::memory:" || url == "sqlite://:memory:" {
        let conn = rusqlite::Connection::open_in_memory().map_err(|e| crate::Error::Url(e.to_string()))?;
        return Ok(Box::new(Opened(std::sync::Mutex::new(conn))));
    }
    let path = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or(url);
    let path = path.split('?').next().unwrap_or_default();
    if path.is_empty() {
        return Err(crate::Error::Url(format!("{url:?} names no file: use sqlite:PATH or sqlite::memory:")));
    }
    if access == crate::database::Access::Read && !std::path::Path::new(path).exists() {
        return Err(crate::Error::Url(format!(
            "there is no SQLite database at {path}: nothing to read (sync creates it)"
        )));
    }
    let conn = rusqlite::Connection::open(path)
        .map_err(|e| crate::Error::Connect { target: path.to_string(), message: e.to_string() })?;
    Ok(Box::new(Opened(std::sync::Mutex::new(conn))))
}

/// A SQLite database opened from a URL, shareable between threads.
struct Opened(std::sync::Mutex<rusqlite::Connection>);

impl Opened {
    fn conn(&self) -> std::sync::MutexGuard<'_, rusqlite::Connection> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl crate::database::Database for Opened {
    crate::database::migrator_operations!(|self, m| m.sqlite(&self.conn()), |done| done);

    fn execute(&self, sql: &str) -> Result<(), crate::Error> {
        self.conn().execute_batch(sql).map_err(|e| crate::Error::database("cannot run SQL", db_error(e)))
    }

    fn strings(&self, sql: &str) -> Result<Vec<Option<String>>, crate::Error> {
        let fail = |e: rusqlite::Error| crate::Error::database("cannot run SQL", db_error(e));
        let conn = self.conn();
        let mut stmt = conn.prepare(sql).map_err(fail)?;
        let rows = stmt
            .query_map([], |row| {
                Ok(match row.get_ref(0)? {
                    ValueRef::Null => None,
                    ValueRef::Integer(i) => Some(i.to_string()),
                    ValueRef::Real(r) => Some(r.to_string()),
                    ValueRef::Text(t) | ValueRef::Blob(t) => Some(String::from_utf8_lossy(t).into_owned()),
                })
            })
            .map_err(fail)?;
        rows.collect::<Result<_, _>>().map_err(fail)
    }

    fn rows(&self, sql: &str) -> Result<Vec<Vec<Option<String>>>, crate::Error> {
        let fail = |e: rusqlite::Error| crate::Error::database("cannot run SQL", db_error(e));
        let conn = self.conn();
        let mut stmt = conn.prepare(sql).map_err(fail)?;
        let width = stmt.column_count();
        let rows = stmt
            .query_map([], |row| {
                (0..width)
                    .map(|i| {
                        Ok(match row.get_ref(i)? {
                            ValueRef::Null => None,
                            ValueRef::Integer(i) => Some(i.to_string()),
                            ValueRef::Real(r) => Some(r.to_string()),
                            ValueRef::Text(t) => Some(String::from_utf8_lossy(t).into_owned()),
                            ValueRef::Blob(b) => Some(ebbtide_core::checksum::hex(b)),
                        })
                    })
                    .collect()
            })
            .map_err(fail)?;
        rows.collect::<Result<_, _>>().map_err(fail)
    }
}

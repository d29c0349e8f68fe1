//! The scenario on SQLite: one database file in WAL mode, a connection per
//! writer, the blocker and each sync process.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::thread;
use std::time::{Duration, Instant};

use ebbtide::{Migrator, Scope, Verdict};
use rusqlite::{Connection, OptionalExtension, params};

use super::{Backend, Blocked, Engine, Error, Name, Release, Service, SqliteApplication, migrations};

/// Release 1 of the service.
pub mod release1 {
    ebbtide::embed_migrations!("zero_downtime/sqlite/release1/migrations");
}

/// Release 2 of the service.
pub mod release2 {
    ebbtide::embed_migrations!("zero_downtime/sqlite/release2/migrations");
}

/// How long the application's connections wait for the write lock before
/// a write fails with `SQLITE_BUSY`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

pub(crate) struct Sqlite {
    pub path: PathBuf,
    pub application: SqliteApplication,
}

/// A busy handler that tries again every millisecond, for as long as
/// [`BUSY_TIMEOUT`].
fn poll(attempts: i32) -> bool {
    thread::sleep(Duration::from_millis(1));
    u128::try_from(attempts).unwrap_or(0) < BUSY_TIMEOUT.as_millis()
}

impl Sqlite {
    /// A connection as the application opens one: WAL, `synchronous =
    /// NORMAL` (the usual pair), and a busy timeout or handler.
    fn connect(&self) -> Result<Connection, Error> {
        let mut conn = Connection::open(&self.path)?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        if self.application.busy_poll {
            conn.busy_handler(Some(poll))?;
        } else {
            conn.busy_timeout(BUSY_TIMEOUT)?;
        }
        if self.application.checkpointer {
            conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        }
        Ok(conn)
    }

    fn count(&self, sql: &str) -> Result<u64, Error> {
        Ok(self.connect()?.query_row(sql, [], |r| r.get::<_, i64>(0))? as u64)
    }
}

impl Backend for Sqlite {
    fn prepare(&self, rows: u64) -> Result<(), Error> {
        let conn = self.connect()?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        Migrator::new(migrations(Engine::Sqlite, Release::One)).sqlite(&conn).sync(Scope::All)?;
        conn.execute_batch(&format!(
            "INSERT INTO users (id, name) \
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows}) \
             SELECT i, CASE WHEN i % 3 = 0 THEN 'Solo' || i ELSE 'First' || i || ' Last' || i END FROM n; \
             PRAGMA wal_checkpoint(TRUNCATE);"
        ))?;
        Ok(())
    }

    fn start(&self, release: Release, _node: usize) -> Result<Box<dyn Service>, Error> {
        let verdict = self.check(release)?;
        if !verdict.may_serve() {
            return Err(format!("{release} refuses to start: {verdict}").into());
        }
        Ok(Box::new(Instance { release, conn: self.connect()? }))
    }

    fn check(&self, release: Release) -> Result<Verdict, Error> {
        Ok(Migrator::new(migrations(Engine::Sqlite, release)).sqlite(&self.connect()?).check()?)
    }

    fn block(&self, hold: Duration, gap: Duration, stop: &AtomicBool, opened: &Sender<()>) -> Result<Blocked, Error> {
        let conn = self.connect()?;
        let mut transactions = 0;
        while !stop.load(Ordering::Relaxed) {
            // A read transaction: it starts with the first read and keeps
            // its snapshot of the database until it ends.
            conn.execute_batch("BEGIN")?;
            conn.query_row("SELECT count(*) FROM users WHERE id <= 100", [], |r| r.get::<_, i64>(0))?;
            transactions += 1;
            let _ = opened.send(());
            let until = Instant::now() + hold;
            while Instant::now() < until && !stop.load(Ordering::Relaxed) {
                thread::sleep(Duration::from_millis(20));
            }
            conn.execute_batch("COMMIT")?;
            thread::sleep(gap);
        }
        Ok(Blocked { transactions, aborted: 0 })
    }

    fn shapes_disagree(&self) -> Result<u64, Error> {
        self.count("SELECT count(*) FROM users WHERE name IS NOT first_name || coalesce(' ' || last_name, '')")
    }

    fn seeded_wrong(&self, rows: u64) -> Result<u64, Error> {
        self.count(&format!(
            "SELECT count(*) FROM users WHERE id <= {rows} AND (\
             first_name IS NOT CASE WHEN id % 3 = 0 THEN 'Solo' || id ELSE 'First' || id END \
             OR last_name IS NOT CASE WHEN id % 3 = 0 THEN NULL ELSE 'Last' || id END)"
        ))
    }

    fn users_above(&self, from: u64) -> Result<Vec<(i64, Name)>, Error> {
        let conn = self.connect()?;
        let mut statement = conn.prepare("SELECT id, first_name, last_name FROM users WHERE id > ?1")?;
        let rows =
            statement.query_map([from as i64], |r| Ok((r.get(0)?, Name { first: r.get(1)?, last: r.get(2)? })))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn housekeeping(&self, stop: &AtomicBool) -> Result<(), Error> {
        if !self.application.checkpointer {
            return Ok(());
        }
        let conn = self.connect()?;
        while !stop.load(Ordering::Relaxed) {
            conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
            thread::sleep(Duration::from_millis(250));
        }
        Ok(())
    }

    fn sync(&self, migrator: Migrator<'_>, scope: Scope) -> Result<ebbtide::Report, Error> {
        // ebbtide's connection: SQLite's defaults, ebbtide's own busy wait.
        Ok(migrator.sqlite(&Connection::open(&self.path)?).sync(scope)?)
    }
}

/// An instance of a release.
struct Instance {
    release: Release,
    conn: Connection,
}

impl Service for Instance {
    fn insert(&mut self, name: &Name) -> Result<i64, Error> {
        Ok(match self.release {
            Release::One => self
                .conn
                .prepare("INSERT INTO users (name) VALUES (?1) RETURNING id")?
                .query_row(params![name.full()], |r| r.get(0))?,
            Release::Two => self
                .conn
                .prepare("INSERT INTO users (first_name, last_name) VALUES (?1, ?2) RETURNING id")?
                .query_row(params![name.first, name.last], |r| r.get(0))?,
        })
    }

    fn rename(&mut self, id: i64, name: &Name) -> Result<(), Error> {
        match self.release {
            Release::One => {
                self.conn.prepare("UPDATE users SET name = ?2 WHERE id = ?1")?.execute(params![id, name.full()])?
            }
            Release::Two => self
                .conn
                .prepare("UPDATE users SET first_name = ?2, last_name = ?3 WHERE id = ?1")?
                .execute(params![id, name.first, name.last])?,
        };
        Ok(())
    }

    fn read(&mut self, id: i64) -> Result<Name, Error> {
        let name = match self.release {
            Release::One => self
                .conn
                .prepare("SELECT name FROM users WHERE id = ?1")?
                .query_row([id], |r| r.get::<_, String>(0))
                .optional()?
                .map(|full| Name::split(&full)),
            Release::Two => self
                .conn
                .prepare("SELECT first_name, last_name FROM users WHERE id = ?1")?
                .query_row([id], |r| Ok(Name { first: r.get(0)?, last: r.get(1)? }))
                .optional()?,
        };
        name.ok_or_else(|| format!("user {id} is gone").into())
    }
}

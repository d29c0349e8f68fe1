//! The scenario on MySQL or MariaDB: every instance a pool of its own with
//! one connection in use, driven from a thread of its own through a
//! single-threaded tokio runtime. On a Galera cluster, the same with each
//! instance connected to one node.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

use ebbtide::mysql_async::prelude::Queryable;
use ebbtide::mysql_async::{self, Conn, Pool};
use ebbtide::{Migrator, Scope, Verdict};
use tokio::runtime::Runtime;

use super::{Backend, Blocked, Engine, Error, Name, Release, Service, migrations};

/// Release 1 of the service.
pub mod release1 {
    ebbtide::embed_migrations!("zero_downtime/mysql/release1/migrations", engine = "mysql");
}

/// Release 2 of the service.
pub mod release2 {
    ebbtide::embed_migrations!("zero_downtime/mysql/release2/migrations", engine = "mysql");
}

pub(crate) struct Mysql {
    /// The database through the server, or through the cluster's node
    /// the migrations and the checks run through.
    pub url: String,
    /// On a Galera cluster, the database through each node; else empty.
    pub nodes: Vec<String>,
}

/// MySQL's error for a transaction the server rolled back that may pass
/// when run again: a deadlock, or on Galera a certification failure or a
/// transaction aborted by a schema change (1213); a lock wait timeout
/// (1205).
fn aborted(error: &mysql_async::Error) -> bool {
    matches!(error, mysql_async::Error::Server(e) if e.code == 1213 || e.code == 1205)
}

/// A pool, the one connection taken from it, and the runtime that drives
/// them.
struct Connection {
    runtime: Runtime,
    pool: Pool,
    /// Taken from `pool`; given back when this is dropped.
    conn: Option<Conn>,
}

impl Connection {
    /// Runs `work` on the connection to its end.
    fn block_on<T>(&mut self, work: impl AsyncFnOnce(&mut Conn) -> T) -> T {
        let conn = self.conn.as_mut().expect("the connection is there until dropped");
        self.runtime.block_on(work(conn))
    }
}

impl Drop for Connection {
    /// Gives the connection back and closes the pool while its runtime
    /// still runs (mysql_async closes connections on the runtime).
    fn drop(&mut self) {
        drop(self.conn.take());
        let _ = self.runtime.block_on(self.pool.clone().disconnect());
    }
}

impl Mysql {
    fn connect(&self) -> Result<Connection, Error> {
        Mysql::connect_to(&self.url)
    }

    fn connect_to(url: &str) -> Result<Connection, Error> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let pool = runtime.block_on(ebbtide::mysql::connect(url))?;
        let conn = runtime.block_on(pool.get_conn())?;
        Ok(Connection { runtime, pool, conn: Some(conn) })
    }

    /// The database through `node`: on a cluster, its URL there.
    fn through(&self, node: usize) -> &str {
        self.nodes.get(node).unwrap_or(&self.url)
    }

    /// A connection whose reads see what was written through any node:
    /// on a cluster, each read waits until its node has applied every
    /// commit before it (`wsrep_sync_wait`).
    fn connect_to_read(&self) -> Result<Connection, Error> {
        let mut c = self.connect()?;
        if !self.nodes.is_empty() {
            c.block_on(async |conn| conn.query_drop("SET SESSION wsrep_sync_wait = 1").await)?;
        }
        Ok(c)
    }

    fn count(&self, sql: &str) -> Result<u64, Error> {
        let count: Option<u64> = self.connect_to_read()?.block_on(async |conn| conn.query_first(sql).await)?;
        Ok(count.unwrap_or(0))
    }

    /// `release`'s startup check through `url`.
    fn check_through(&self, release: Release, url: &str) -> Result<Verdict, Error> {
        let c = Mysql::connect_to(url)?;
        Ok(c.runtime.block_on(Migrator::new(migrations(Engine::Mysql, release)).mysql(&c.pool).check())?)
    }
}

/// `SELECT i FROM ...` for every `i` from 1 to `rows`, without a sequence
/// table or a recursive query (whose depth a server may cap): the digits
/// of `i - 1`, one derived table of 0 to 9 each.
fn numbers(rows: u64) -> String {
    let digits = rows.max(2).saturating_sub(1).to_string().len();
    let ten = "(SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 \
               UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9)";
    let tables: Vec<String> = (0..digits).map(|k| format!("{ten} AS d{k}")).collect();
    let sum: Vec<String> = (0..digits).map(|k| format!("d{k}.d * {}", 10u64.pow(k as u32))).collect();
    format!(
        "SELECT i FROM (SELECT {} + 1 AS i FROM {}) AS numbers WHERE i <= {rows}",
        sum.join(" + "),
        tables.join(" CROSS JOIN ")
    )
}

impl Backend for Mysql {
    fn prepare(&self, rows: u64) -> Result<(), Error> {
        let mut c = self.connect()?;
        let pool = c.pool.clone();
        c.block_on(async |conn| {
            Migrator::new(migrations(Engine::Mysql, Release::One)).mysql(&pool).sync(Scope::All).await?;
            // Ids given, so that user i is the one seeded i-th.
            conn.query_drop(format!(
                "INSERT INTO users (id, name) \
                     SELECT i, CASE WHEN i % 3 = 0 THEN CONCAT('Solo', i) ELSE CONCAT('First', i, ' Last', i) END \
                     FROM ({}) AS seeded ORDER BY i",
                numbers(rows)
            ))
            .await?;
            conn.query_drop("ANALYZE TABLE users").await?;
            Ok::<_, Error>(())
        })?;
        // On Galera each node applies the seeded rows after node 1 commits
        // them; an insert through a node still applying them may take the
        // id of one (its counter behind), fail certification, and fail
        // again as a duplicate key when the server retries it. The
        // writers start once every node has applied them.
        for node in &self.nodes {
            Mysql::connect_to(node)?.block_on(async |conn| {
                conn.query_drop("SET SESSION wsrep_sync_wait = 1").await?;
                conn.query_drop("SELECT 1 FROM users LIMIT 1").await
            })?;
        }
        Ok(())
    }

    fn nodes(&self) -> usize {
        self.nodes.len().max(1)
    }

    fn start(&self, release: Release, node: usize) -> Result<Box<dyn Service>, Error> {
        let url = self.through(node);
        let verdict = self.check_through(release, url)?;
        if !verdict.may_serve() {
            return Err(format!("{release} refuses to start: {verdict}").into());
        }
        Ok(Box::new(Instance { release, c: Mysql::connect_to(url)? }))
    }

    fn check(&self, release: Release) -> Result<Verdict, Error> {
        self.check_through(release, &self.url)
    }

    /// MySQL has no `application_name`: the retries name the blocker's
    /// session by its user and host. On a cluster the blocker is on the
    /// last node, and a schema change through another aborts its
    /// transaction there: its next statement fails with 1213.
    fn block(&self, hold: Duration, gap: Duration, stop: &AtomicBool, opened: &Sender<()>) -> Result<Blocked, Error> {
        let mut blocked = Blocked::default();
        let node = self.nodes.len().saturating_sub(1);
        Mysql::connect_to(self.through(node))?.block_on(async |conn| {
            while !stop.load(Ordering::Relaxed) {
                conn.query_drop("START TRANSACTION").await?;
                blocked.transactions += 1;
                let held = async {
                    let _: Option<u64> = conn.query_first("SELECT count(*) FROM users WHERE id <= 100").await?;
                    let _ = opened.send(());
                    let until = Instant::now() + hold;
                    while Instant::now() < until && !stop.load(Ordering::Relaxed) {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    conn.query_drop("COMMIT").await
                }
                .await;
                match held {
                    Ok(()) => {}
                    Err(e) if aborted(&e) => {
                        blocked.aborted += 1;
                        conn.query_drop("ROLLBACK").await?;
                    }
                    Err(e) => return Err(e.into()),
                }
                tokio::time::sleep(gap).await;
            }
            Ok::<_, Error>(())
        })?;
        Ok(blocked)
    }

    fn shapes_disagree(&self) -> Result<u64, Error> {
        self.count("SELECT count(*) FROM users WHERE NOT (name <=> CONCAT_WS(' ', first_name, last_name))")
    }

    fn seeded_wrong(&self, rows: u64) -> Result<u64, Error> {
        self.count(&format!(
            "SELECT count(*) FROM users WHERE id <= {rows} AND NOT (\
             first_name <=> CASE WHEN id % 3 = 0 THEN CONCAT('Solo', id) ELSE CONCAT('First', id) END \
             AND last_name <=> CASE WHEN id % 3 = 0 THEN NULL ELSE CONCAT('Last', id) END)"
        ))
    }

    fn users_above(&self, from: u64) -> Result<Vec<(i64, Name)>, Error> {
        let sql = "SELECT id, first_name, last_name FROM users WHERE id > ?";
        let rows: Vec<(i64, String, Option<String>)> =
            self.connect_to_read()?.block_on(async |conn| conn.exec(sql, (from,)).await)?;
        Ok(rows.into_iter().map(|(id, first, last)| (id, Name { first, last })).collect())
    }

    fn sync(&self, migrator: Migrator<'_>, scope: Scope) -> Result<ebbtide::Report, Error> {
        let c = self.connect()?;
        Ok(c.runtime.block_on(migrator.mysql(&c.pool).sync(scope))?)
    }
}

/// An instance of a release.
struct Instance {
    release: Release,
    c: Connection,
}

impl Service for Instance {
    fn insert(&mut self, name: &Name) -> Result<i64, Error> {
        let release = self.release;
        self.c.block_on(async |conn| {
            match release {
                Release::One => conn.exec_drop("INSERT INTO users (name) VALUES (?)", (name.full(),)).await,
                Release::Two => {
                    let sql = "INSERT INTO users (first_name, last_name) VALUES (?, ?)";
                    conn.exec_drop(sql, (name.first.as_str(), name.last.as_deref())).await
                }
            }?;
            let id = conn.last_insert_id().ok_or("the insert returned no id")?;
            Ok(i64::try_from(id)?)
        })
    }

    fn rename(&mut self, id: i64, name: &Name) -> Result<(), Error> {
        let release = self.release;
        self.c.block_on(async |conn| match release {
            Release::One => conn.exec_drop("UPDATE users SET name = ? WHERE id = ?", (name.full(), id)).await,
            Release::Two => {
                let sql = "UPDATE users SET first_name = ?, last_name = ? WHERE id = ?";
                conn.exec_drop(sql, (name.first.as_str(), name.last.as_deref(), id)).await
            }
        })?;
        Ok(())
    }

    fn read(&mut self, id: i64) -> Result<Name, Error> {
        let release = self.release;
        self.c.block_on(async |conn| {
            Ok(match release {
                Release::One => {
                    let name: Option<String> = conn.exec_first("SELECT name FROM users WHERE id = ?", (id,)).await?;
                    Name::split(&name.ok_or_else(|| format!("no user {id}"))?)
                }
                Release::Two => {
                    let sql = "SELECT first_name, last_name FROM users WHERE id = ?";
                    let names: Option<(String, Option<String>)> = conn.exec_first(sql, (id,)).await?;
                    let (first, last) = names.ok_or_else(|| format!("no user {id}"))?;
                    Name { first, last }
                }
            })
        })
    }

    fn retryable(&self, error: &Error) -> bool {
        error.downcast_ref::<mysql_async::Error>().is_some_and(aborted)
    }
}

//! The floors: the same work written directly on rusqlite / tokio-postgres /
//! mysql_async, the way a person would write it by hand, with nothing a
//! library adds (no checksums, no lock, no statement splitting, no planner).
//!
//! - `sync`: one query reading the version table (`version, name`), the
//!   names compared with the directory's; then, for each pending migration,
//!   one transaction holding its SQL (sent as one batch) and one prepared
//!   version-row insert. On an up-to-date database that is one query: the
//!   "nothing to do" floor.
//! - `sync-one-tx`: the same with one transaction around every migration.
//! - `check`: the one query and the comparison.
//!
//! On MySQL (MariaDB) every DDL statement commits the open transaction by
//! itself, so a transaction around a migration holds nothing together: the
//! per-migration floor is the file as one multi-statement batch and the
//! prepared insert (autocommit), two round trips, and `sync-one-tx` is not
//! possible (exit 3).
//!
//! It reads the `flat` layout (`00001_create_t1.sql`) and keeps its rows in
//! `raw_migrations`.

use bench_common::{Args, END, Engine, Op, RawMigration, START, read_flat, timed};

const TABLE: &str = "raw_migrations";

fn main() {
    let args = Args::parse("raw");
    let mut report = args.report();
    if args.count && args.engine == Engine::Sqlite {
        bench_common::sqlite_trace::install();
    }
    let (loaded, load_ms) = timed(|| read_flat(&args.dir));
    let migrations = loaded.unwrap_or_else(|e| report.clone().fail("load", e));
    report.load_ms = Some(load_ms);
    report.migrations = migrations.len();
    match args.engine {
        Engine::Sqlite => sqlite::run(&args, &migrations, report),
        Engine::Postgres => bench_common::block_on!(postgres::run(&args, &migrations, report)),
        Engine::Mysql => {
            if args.op == Op::SyncOneTx {
                report.unsupported("DDL is not transactional on MySQL: each statement commits by itself");
            }
            bench_common::block_on!(mysql::run(&args, &migrations, report))
        }
    }
}

/// What the version table says, compared with the directory: the pending
/// migrations, or an error when a recorded row is not the migration at its
/// place.
fn pending<'m>(migrations: &'m [RawMigration], recorded: &[(i64, String)]) -> Result<&'m [RawMigration], String> {
    if recorded.len() > migrations.len() {
        return Err(format!("{} rows recorded, {} migrations known", recorded.len(), migrations.len()));
    }
    for (m, (version, name)) in migrations.iter().zip(recorded) {
        if m.version != *version || m.id != *name {
            return Err(format!("recorded {version} {name}, expected {} {}", m.version, m.id));
        }
    }
    Ok(&migrations[recorded.len()..])
}

mod sqlite {
    use super::*;
    use rusqlite::Connection;

    /// `None` when the table does not exist.
    fn read(conn: &Connection) -> rusqlite::Result<Option<Vec<(i64, String)>>> {
        let mut stmt = match conn.prepare(&format!("SELECT version, name FROM {TABLE} ORDER BY version")) {
            Ok(s) => s,
            Err(e) if e.to_string().starts_with("no such table") => return Ok(None),
            Err(e) => return Err(e),
        };
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<Result<Vec<_>, _>>().map(Some)
    }

    fn sync(conn: &Connection, migrations: &[RawMigration], one_tx: bool) -> Result<(u64, bool), String> {
        let recorded = match read(conn).map_err(|e| e.to_string())? {
            Some(r) => r,
            None => {
                conn.execute_batch(&format!(
                    "CREATE TABLE IF NOT EXISTS {TABLE} (version INTEGER PRIMARY KEY, name TEXT NOT NULL, \
                     applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)"
                ))
                .map_err(|e| e.to_string())?;
                Vec::new()
            }
        };
        let pending = pending(migrations, &recorded)?;
        if pending.is_empty() {
            return Ok((0, true));
        }
        // Prepared once; SQLite re-prepares it by itself after each
        // migration changes the schema.
        let mut insert =
            conn.prepare(&format!("INSERT INTO {TABLE} (version, name) VALUES (?1, ?2)")).map_err(|e| e.to_string())?;
        let mut apply = |m: &RawMigration| -> rusqlite::Result<()> {
            conn.execute_batch(&m.sql)?;
            insert.execute((m.version, &m.id))?;
            Ok(())
        };
        let in_tx = |f: &mut dyn FnMut() -> rusqlite::Result<()>| -> rusqlite::Result<()> {
            conn.execute_batch("BEGIN")?;
            match f() {
                Ok(()) => conn.execute_batch("COMMIT"),
                Err(e) => {
                    let _ = conn.execute_batch("ROLLBACK");
                    Err(e)
                }
            }
        };
        if one_tx {
            in_tx(&mut || pending.iter().try_for_each(&mut apply)).map_err(|e| e.to_string())?;
        } else {
            for m in pending {
                in_tx(&mut || apply(m)).map_err(|e| format!("{}: {e}", m.id))?;
            }
        }
        Ok((pending.len() as u64, false))
    }

    fn check(conn: &Connection, migrations: &[RawMigration]) -> Result<bool, String> {
        let recorded = read(conn).map_err(|e| e.to_string())?.unwrap_or_default();
        Ok(pending(migrations, &recorded)?.is_empty())
    }

    pub fn run(args: &Args, migrations: &[RawMigration], mut report: bench_common::Report) -> ! {
        let (conn, connect_ms) = timed(|| {
            let conn = Connection::open(&args.database)?;
            conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get::<_, i64>(0))?;
            Ok::<_, rusqlite::Error>(conn)
        });
        let conn = conn.unwrap_or_else(|e| report.clone().fail("connect", e));
        report.connect_ms = Some(connect_ms);
        if args.count {
            conn.execute_batch(START).unwrap_or_else(|e| report.clone().fail("marker", e));
        }
        let (done, ms) = timed(|| match args.op {
            Op::Sync => sync(&conn, migrations, false).map(|(n, u)| (Some(n), u)),
            Op::SyncOneTx => sync(&conn, migrations, true).map(|(n, u)| (Some(n), u)),
            Op::Check => check(&conn, migrations).map(|u| (None, u)),
        });
        if args.count {
            conn.execute_batch(END).unwrap_or_else(|e| report.clone().fail("marker", e));
            report.statements = bench_common::sqlite_trace::count();
        }
        report.ms = Some(ms);
        match done {
            Ok((applied, up_to_date)) => {
                report.applied = applied;
                report.up_to_date = Some(up_to_date);
            }
            Err(e) => report.error = Some(format!("{}: {e}", args.op.as_str())),
        }
        report.rows =
            conn.query_row(&format!("SELECT count(*) FROM {TABLE}"), [], |r| r.get::<_, i64>(0)).ok().map(|n| n as u64);
        report.finish()
    }
}

mod postgres {
    use super::*;
    use tokio_postgres::error::SqlState;
    use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

    /// The server's message and code, not just "db error".
    fn text(e: &tokio_postgres::Error) -> String {
        match e.as_db_error() {
            Some(db) => format!("{} ({})", db.message(), db.code().code()),
            None => e.to_string(),
        }
    }

    /// One simple query (one round trip); `None` when the table does not exist.
    async fn read(client: &Client) -> Result<Option<Vec<(i64, String)>>, tokio_postgres::Error> {
        let messages = match client.simple_query(&format!("SELECT version, name FROM {TABLE} ORDER BY version")).await {
            Ok(m) => m,
            Err(e) if e.code() == Some(&SqlState::UNDEFINED_TABLE) => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(Some(
            messages
                .into_iter()
                .filter_map(|m| match m {
                    SimpleQueryMessage::Row(r) => Some((
                        r.get(0).and_then(|v| v.parse().ok()).unwrap_or(-1),
                        r.get(1).unwrap_or_default().to_string(),
                    )),
                    _ => None,
                })
                .collect(),
        ))
    }

    async fn sync(client: &mut Client, migrations: &[RawMigration], one_tx: bool) -> Result<(u64, bool), String> {
        let recorded = match read(client).await.map_err(|e| text(&e))? {
            Some(r) => r,
            None => {
                client
                    .batch_execute(&format!(
                        "CREATE TABLE IF NOT EXISTS {TABLE} (version BIGINT PRIMARY KEY, name TEXT NOT NULL, \
                         applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
                    ))
                    .await
                    .map_err(|e| text(&e))?;
                Vec::new()
            }
        };
        let pending = pending(migrations, &recorded)?;
        if pending.is_empty() {
            return Ok((0, true));
        }
        let insert = client
            .prepare(&format!("INSERT INTO {TABLE} (version, name) VALUES ($1, $2)"))
            .await
            .map_err(|e| text(&e))?;
        fn e(m: &RawMigration) -> impl Fn(tokio_postgres::Error) -> String + '_ {
            move |e| format!("{}: {}", m.id, text(&e))
        }
        if one_tx {
            let tx = client.transaction().await.map_err(|e| text(&e))?;
            for m in pending {
                tx.batch_execute(&m.sql).await.map_err(e(m))?;
                tx.execute(&insert, &[&m.version, &m.id]).await.map_err(e(m))?;
            }
            tx.commit().await.map_err(|e| text(&e))?;
        } else {
            for m in pending {
                let tx = client.transaction().await.map_err(e(m))?;
                tx.batch_execute(&m.sql).await.map_err(e(m))?;
                tx.execute(&insert, &[&m.version, &m.id]).await.map_err(e(m))?;
                tx.commit().await.map_err(e(m))?;
            }
        }
        Ok((pending.len() as u64, false))
    }

    async fn check(client: &Client, migrations: &[RawMigration]) -> Result<bool, String> {
        let recorded = read(client).await.map_err(|e| text(&e))?.unwrap_or_default();
        Ok(pending(migrations, &recorded)?.is_empty())
    }

    pub async fn run(args: &Args, migrations: &[RawMigration], mut report: bench_common::Report) -> ! {
        let start = std::time::Instant::now();
        let mut client = match tokio_postgres::connect(&args.database, NoTls).await {
            Ok((client, connection)) => {
                tokio::spawn(async move {
                    let _ = connection.await;
                });
                client
            }
            Err(e) => report.fail("connect", e),
        };
        if let Err(e) = client.batch_execute("SELECT 1").await {
            report.fail("connect", e);
        }
        report.connect_ms = Some(start.elapsed().as_secs_f64() * 1e3);
        if args.count {
            client.batch_execute(START).await.unwrap_or_else(|e| report.clone().fail("marker", e));
        }
        let start = std::time::Instant::now();
        let done = match args.op {
            Op::Sync => sync(&mut client, migrations, false).await.map(|(n, u)| (Some(n), u)),
            Op::SyncOneTx => sync(&mut client, migrations, true).await.map(|(n, u)| (Some(n), u)),
            Op::Check => check(&client, migrations).await.map(|u| (None, u)),
        };
        let ms = start.elapsed().as_secs_f64() * 1e3;
        if args.count {
            client.batch_execute(END).await.unwrap_or_else(|e| report.clone().fail("marker", e));
        }
        report.ms = Some(ms);
        match done {
            Ok((applied, up_to_date)) => {
                report.applied = applied;
                report.up_to_date = Some(up_to_date);
            }
            Err(e) => report.error = Some(format!("{}: {e}", args.op.as_str())),
        }
        report.rows = client
            .query_one(&format!("SELECT count(*) FROM {TABLE}"), &[])
            .await
            .ok()
            .map(|r| r.get::<_, i64>(0) as u64);
        report.finish()
    }
}

mod mysql {
    use super::*;
    use mysql_async::prelude::Queryable;
    use mysql_async::{Conn, Opts};

    /// The server's message and code.
    fn text(e: &mysql_async::Error) -> String {
        match e {
            mysql_async::Error::Server(s) => format!("{} ({})", s.message, s.code),
            e => e.to_string(),
        }
    }

    /// One text-protocol query (one round trip); `None` when the table does
    /// not exist (ER_NO_SUCH_TABLE, 1146).
    async fn read(conn: &mut Conn) -> Result<Option<Vec<(i64, String)>>, mysql_async::Error> {
        match conn.query::<(i64, String), _>(format!("SELECT version, name FROM {TABLE} ORDER BY version")).await {
            Ok(rows) => Ok(Some(rows)),
            Err(mysql_async::Error::Server(e)) if e.code == 1146 => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn sync(conn: &mut Conn, migrations: &[RawMigration]) -> Result<(u64, bool), String> {
        let recorded = match read(conn).await.map_err(|e| text(&e))? {
            Some(r) => r,
            None => {
                conn.query_drop(format!(
                    "CREATE TABLE IF NOT EXISTS {TABLE} (version BIGINT PRIMARY KEY, name VARCHAR(255) NOT NULL, \
                     applied_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)"
                ))
                .await
                .map_err(|e| text(&e))?;
                Vec::new()
            }
        };
        let pending = pending(migrations, &recorded)?;
        if pending.is_empty() {
            return Ok((0, true));
        }
        let insert =
            conn.prep(format!("INSERT INTO {TABLE} (version, name) VALUES (?, ?)")).await.map_err(|e| text(&e))?;
        for m in pending {
            // The file as one multi-statement query; every result drained.
            conn.query_drop(&m.sql).await.map_err(|e| format!("{}: {}", m.id, text(&e)))?;
            conn.exec_drop(&insert, (m.version, &m.id)).await.map_err(|e| format!("{}: {}", m.id, text(&e)))?;
        }
        Ok((pending.len() as u64, false))
    }

    async fn check(conn: &mut Conn, migrations: &[RawMigration]) -> Result<bool, String> {
        let recorded = read(conn).await.map_err(|e| text(&e))?.unwrap_or_default();
        Ok(pending(migrations, &recorded)?.is_empty())
    }

    pub async fn run(args: &Args, migrations: &[RawMigration], mut report: bench_common::Report) -> ! {
        let start = std::time::Instant::now();
        let opts = Opts::from_url(&args.database).unwrap_or_else(|e| report.clone().fail("connect", e));
        let mut conn = match Conn::new(opts).await {
            Ok(c) => c,
            Err(e) => report.fail("connect", text(&e)),
        };
        if let Err(e) = conn.query_drop("SELECT 1").await {
            report.fail("connect", text(&e));
        }
        report.connect_ms = Some(start.elapsed().as_secs_f64() * 1e3);
        if args.count {
            conn.query_drop(START).await.unwrap_or_else(|e| report.clone().fail("marker", text(&e)));
        }
        let start = std::time::Instant::now();
        let done = match args.op {
            Op::Sync => sync(&mut conn, migrations).await.map(|(n, u)| (Some(n), u)),
            Op::SyncOneTx => unreachable!("refused in main"),
            Op::Check => check(&mut conn, migrations).await.map(|u| (None, u)),
        };
        let ms = start.elapsed().as_secs_f64() * 1e3;
        if args.count {
            conn.query_drop(END).await.unwrap_or_else(|e| report.clone().fail("marker", text(&e)));
        }
        report.ms = Some(ms);
        match done {
            Ok((applied, up_to_date)) => {
                report.applied = applied;
                report.up_to_date = Some(up_to_date);
            }
            Err(e) => report.error = Some(format!("{}: {e}", args.op.as_str())),
        }
        report.rows =
            conn.query_first::<i64, _>(format!("SELECT count(*) FROM {TABLE}")).await.ok().flatten().map(|n| n as u64);
        let _ = conn.disconnect().await;
        report.finish()
    }
}

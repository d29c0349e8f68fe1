//! refinery 0.10, as `embed_migrations!` uses it.
//!
//! `embed_migrations!("dir")` expands to a `Runner` over `Migration` values
//! built from embedded text; `load_sql_migrations(dir)` (untimed here)
//! builds the same values from the files, so the timed run is the embedded
//! code path.
//!
//! - `sync`: `Runner::run` (rusqlite) / `run_async` (tokio-postgres, and a
//!   `mysql_async::Pool` on MySQL: refinery's async MySQL driver); by
//!   default refinery commits each migration's SQL and its version row in
//!   two separate transactions;
//! - `sync-one-tx`: `Runner::set_grouped(true)`: everything in one transaction
//!   (not on MySQL, where DDL commits by itself: exit 3);
//! - `check`: `Runner::get_applied_migrations` compared with the migrations
//!   (versions and checksums): refinery has no startup check of its own.

use bench_common::{Args, END, Engine, Op, START, timed};
use refinery::{Migration, Runner};

const TABLE: &str = "refinery_schema_history";

fn main() {
    let args = Args::parse("refinery");
    let mut report = args.report();
    if args.count && args.engine == Engine::Sqlite {
        bench_common::sqlite_trace::install();
    }
    let (loaded, load_ms) = timed(|| refinery::load_sql_migrations(&args.dir));
    let migrations = loaded.unwrap_or_else(|e| report.clone().fail("load", e));
    report.load_ms = Some(load_ms);
    report.migrations = migrations.len();
    let runner = Runner::new(&migrations).set_grouped(args.op == Op::SyncOneTx);
    match args.engine {
        Engine::Sqlite => sqlite(&args, &runner, &migrations, report),
        Engine::Postgres => bench_common::block_on!(postgres(&args, &runner, &migrations, report)),
        Engine::Mysql => {
            if args.op == Op::SyncOneTx {
                report.unsupported("DDL is not transactional on MySQL: each statement commits by itself");
            }
            bench_common::block_on!(mysql(&args, &runner, &migrations, report))
        }
    }
}

fn up_to_date(migrations: &[Migration], applied: &[Migration]) -> bool {
    applied.len() == migrations.len()
        && migrations.iter().all(|m| applied.iter().any(|a| a.version() == m.version() && a.checksum() == m.checksum()))
}

fn finish(
    args: &Args,
    mut report: bench_common::Report,
    done: Result<Result<usize, bool>, refinery::Error>,
    ms: f64,
    rows: Option<u64>,
) -> ! {
    report.ms = Some(ms);
    report.rows = rows;
    match done {
        Ok(Ok(applied)) => {
            report.applied = Some(applied as u64);
            report.up_to_date = Some(applied == 0);
        }
        Ok(Err(up)) => report.up_to_date = Some(up),
        Err(e) => report.error = Some(format!("{}: {e}", args.op.as_str())),
    }
    report.finish()
}

fn sqlite(args: &Args, runner: &Runner, migrations: &[Migration], mut report: bench_common::Report) -> ! {
    let (conn, connect_ms) = timed(|| {
        let conn = rusqlite::Connection::open(&args.database)?;
        conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get::<_, i64>(0))?;
        Ok::<_, rusqlite::Error>(conn)
    });
    let mut conn = conn.unwrap_or_else(|e| report.clone().fail("connect", e));
    report.connect_ms = Some(connect_ms);
    if args.count {
        conn.execute_batch(START).unwrap_or_else(|e| report.clone().fail("marker", e));
    }
    let (done, ms) = timed(|| match args.op {
        Op::Sync | Op::SyncOneTx => runner.run(&mut conn).map(|r| Ok(r.applied_migrations().len())),
        Op::Check => runner.get_applied_migrations(&mut conn).map(|a| Err(up_to_date(migrations, &a))),
    });
    if args.count {
        conn.execute_batch(END).unwrap_or_else(|e| report.clone().fail("marker", e));
        report.statements = bench_common::sqlite_trace::count();
    }
    let rows =
        conn.query_row(&format!("SELECT count(*) FROM {TABLE}"), [], |r| r.get::<_, i64>(0)).ok().map(|n| n as u64);
    finish(args, report, done, ms, rows)
}

async fn postgres(args: &Args, runner: &Runner, migrations: &[Migration], mut report: bench_common::Report) -> ! {
    let start = std::time::Instant::now();
    let mut client = match tokio_postgres::connect(&args.database, tokio_postgres::NoTls).await {
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
        Op::Sync | Op::SyncOneTx => runner.run_async(&mut client).await.map(|r| Ok(r.applied_migrations().len())),
        Op::Check => runner.get_applied_migrations_async(&mut client).await.map(|a| Err(up_to_date(migrations, &a))),
    };
    let ms = start.elapsed().as_secs_f64() * 1e3;
    if args.count {
        client.batch_execute(END).await.unwrap_or_else(|e| report.clone().fail("marker", e));
    }
    let rows =
        client.query_one(&format!("SELECT count(*) FROM {TABLE}"), &[]).await.ok().map(|r| r.get::<_, i64>(0) as u64);
    finish(args, report, done, ms, rows)
}

async fn mysql(args: &Args, runner: &Runner, migrations: &[Migration], mut report: bench_common::Report) -> ! {
    use mysql_async::prelude::Queryable;
    let start = std::time::Instant::now();
    let opts = mysql_async::Opts::from_url(&args.database).unwrap_or_else(|e| report.clone().fail("connect", e));
    let mut pool = mysql_async::Pool::new(opts.clone());
    match pool.get_conn().await {
        Ok(mut conn) => conn.query_drop("SELECT 1").await.unwrap_or_else(|e| report.clone().fail("connect", e)),
        Err(e) => report.fail("connect", e),
    }
    report.connect_ms = Some(start.elapsed().as_secs_f64() * 1e3);
    // The markers travel on a connection of their own, outside the pool:
    // the counting proxy counts every connection of the process between them.
    let mut marker = None;
    if args.count {
        let mut conn = mysql_async::Conn::new(opts).await.unwrap_or_else(|e| report.clone().fail("marker", e));
        conn.query_drop(START).await.unwrap_or_else(|e| report.clone().fail("marker", e));
        marker = Some(conn);
    }
    let start = std::time::Instant::now();
    let done = match args.op {
        Op::Sync | Op::SyncOneTx => runner.run_async(&mut pool).await.map(|r| Ok(r.applied_migrations().len())),
        Op::Check => runner.get_applied_migrations_async(&mut pool).await.map(|a| Err(up_to_date(migrations, &a))),
    };
    let ms = start.elapsed().as_secs_f64() * 1e3;
    if let Some(mut conn) = marker {
        conn.query_drop(END).await.unwrap_or_else(|e| report.clone().fail("marker", e));
        let _ = conn.disconnect().await;
    }
    let rows = match pool.get_conn().await {
        Ok(mut conn) => {
            conn.query_first::<i64, _>(format!("SELECT count(*) FROM {TABLE}")).await.ok().flatten().map(|n| n as u64)
        }
        Err(_) => None,
    };
    let _ = pool.disconnect().await;
    finish(args, report, done, ms, rows)
}

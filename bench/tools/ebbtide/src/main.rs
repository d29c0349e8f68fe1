//! ebbtide, through its public API, as an application would call it: on
//! SQLite a rusqlite connection, on PostgreSQL a tokio-postgres client, on
//! MySQL the `mysql_async::Pool` of `ebbtide::mysql::connect`.
//!
//! The migrations are read with `Migrations::from_dir` (untimed): that is
//! the same list of `Migration` values `embed_migrations!` builds at compile
//! time, so the timed operation runs exactly the embedded code path.

use bench_common::{Args, END, Engine, Op, START, timed};
use ebbtide::{Migrations, Migrator, Scope, Verdict};

fn main() {
    let args = Args::parse("ebbtide");
    let mut report = args.report();
    if args.count && args.engine == Engine::Sqlite {
        bench_common::sqlite_trace::install();
    }
    let (loaded, load_ms) = timed(|| Migrations::from_dir(&args.dir, "migrations"));
    let migrations = match loaded {
        Ok((m, _warnings)) => m,
        Err(e) => report.fail("load", e),
    };
    report.load_ms = Some(load_ms);
    report.migrations = migrations.len();
    let migrator = Migrator::new(&migrations).all_or_nothing(args.op == Op::SyncOneTx);
    match args.engine {
        Engine::Sqlite => sqlite(&args, &migrator, report),
        Engine::Postgres => bench_common::block_on!(postgres(&args, &migrator, report)),
        Engine::Mysql => bench_common::block_on!(mysql(&args, &migrator, report)),
    }
}

fn outcome(op: Op, report: &mut bench_common::Report, done: Result<Outcome, ebbtide::Error>) {
    match done {
        Ok(Outcome::Synced(r)) => {
            let applied = r.steps.iter().filter(|s| !s.skipped && s.verb == "apply").count() as u64;
            report.applied = Some(applied);
            report.up_to_date = Some(applied == 0);
        }
        Ok(Outcome::Checked(v)) => report.up_to_date = Some(v == Verdict::Current),
        Err(e) => report.error = Some(format!("{}: {e}", op.as_str())),
    }
}

enum Outcome {
    Synced(ebbtide::Report),
    Checked(Verdict),
}

fn sqlite(args: &Args, migrator: &Migrator<'_>, mut report: bench_common::Report) -> ! {
    let (conn, connect_ms) = timed(|| {
        let conn = rusqlite::Connection::open(&args.database)?;
        // Parse the schema now (with 10,000 tables it is most of a first
        // query), so that the timed part is the library's own work.
        conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get::<_, i64>(0))?;
        Ok::<_, rusqlite::Error>(conn)
    });
    let conn = conn.unwrap_or_else(|e| report.clone().fail("connect", e));
    report.connect_ms = Some(connect_ms);
    if args.count {
        conn.execute_batch(START).unwrap_or_else(|e| report.clone().fail("marker", e));
    }
    let db = migrator.sqlite(&conn);
    let (done, ms) = timed(|| match args.op {
        Op::Sync | Op::SyncOneTx => db.sync(Scope::All).map(Outcome::Synced),
        Op::Check => db.check().map(Outcome::Checked),
    });
    if args.count {
        conn.execute_batch(END).unwrap_or_else(|e| report.clone().fail("marker", e));
        report.statements = bench_common::sqlite_trace::count();
    }
    report.ms = Some(ms);
    outcome(args.op, &mut report, done);
    report.rows =
        conn.query_row("SELECT count(*) FROM ebbtide_migrations", [], |r| r.get::<_, i64>(0)).ok().map(|n| n as u64);
    report.finish()
}

async fn postgres(args: &Args, migrator: &Migrator<'_>, mut report: bench_common::Report) -> ! {
    let start = std::time::Instant::now();
    let client = match ebbtide::postgres::connect(&args.database).await {
        Ok(c) => c,
        Err(e) => report.fail("connect", e),
    };
    if let Err(e) = client.batch_execute("SELECT 1").await {
        report.fail("connect", e);
    }
    report.connect_ms = Some(start.elapsed().as_secs_f64() * 1e3);
    if args.count {
        client.batch_execute(START).await.unwrap_or_else(|e| report.clone().fail("marker", e));
    }
    let db = migrator.postgres(&client);
    let start = std::time::Instant::now();
    let done = match args.op {
        Op::Sync | Op::SyncOneTx => db.sync(Scope::All).await.map(Outcome::Synced),
        Op::Check => db.check().await.map(Outcome::Checked),
    };
    let ms = start.elapsed().as_secs_f64() * 1e3;
    if args.count {
        client.batch_execute(END).await.unwrap_or_else(|e| report.clone().fail("marker", e));
    }
    report.ms = Some(ms);
    outcome(args.op, &mut report, done);
    report.rows =
        client.query_one("SELECT count(*) FROM ebbtide_migrations", &[]).await.ok().map(|r| r.get::<_, i64>(0) as u64);
    report.finish()
}

async fn mysql(args: &Args, migrator: &Migrator<'_>, mut report: bench_common::Report) -> ! {
    use ebbtide::mysql_async::prelude::Queryable;
    let text = |e: ebbtide::mysql_async::Error| e.to_string();
    let start = std::time::Instant::now();
    let pool = match ebbtide::mysql::connect(&args.database).await {
        Ok(p) => p,
        Err(e) => report.fail("connect", e),
    };
    // Open the pool's connection now (untimed), as the other tools do.
    match pool.get_conn().await {
        Ok(mut conn) => conn.query_drop("SELECT 1").await.unwrap_or_else(|e| report.clone().fail("connect", text(e))),
        Err(e) => report.fail("connect", text(e)),
    }
    report.connect_ms = Some(start.elapsed().as_secs_f64() * 1e3);
    // The markers travel on a connection of their own, outside the pool:
    // the counting proxy counts every connection of the process between them.
    let mut marker = None;
    if args.count {
        let opts =
            ebbtide::mysql_async::Opts::from_url(&args.database).unwrap_or_else(|e| report.clone().fail("marker", e));
        let mut conn =
            ebbtide::mysql_async::Conn::new(opts).await.unwrap_or_else(|e| report.clone().fail("marker", text(e)));
        conn.query_drop(START).await.unwrap_or_else(|e| report.clone().fail("marker", text(e)));
        marker = Some(conn);
    }
    let db = migrator.mysql(&pool);
    let start = std::time::Instant::now();
    let done = match args.op {
        Op::Sync | Op::SyncOneTx => db.sync(Scope::All).await.map(Outcome::Synced),
        Op::Check => db.check().await.map(Outcome::Checked),
    };
    let ms = start.elapsed().as_secs_f64() * 1e3;
    if let (Op::SyncOneTx, Err(e)) = (args.op, &done) {
        report.unsupported(&format!("ebbtide refuses all-or-nothing on MySQL: {e}"));
    }
    if let Some(mut conn) = marker {
        conn.query_drop(END).await.unwrap_or_else(|e| report.clone().fail("marker", text(e)));
        let _ = conn.disconnect().await;
    }
    report.ms = Some(ms);
    outcome(args.op, &mut report, done);
    report.rows = match pool.get_conn().await {
        Ok(mut conn) => {
            conn.query_first::<i64, _>("SELECT count(*) FROM ebbtide_migrations").await.ok().flatten().map(|n| n as u64)
        }
        Err(_) => None,
    };
    let _ = pool.disconnect().await;
    report.finish()
}

//! ebbtide, through its public API, as an application would call it.
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
        Engine::Mysql => report.unsupported("this ebbtide has no MySQL driver yet"),
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

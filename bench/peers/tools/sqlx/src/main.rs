//! sqlx 0.9 `Migrator`, as `sqlx::migrate!()` builds it.
//!
//! `migrate!("dir")` expands to a `Migrator` whose list is embedded;
//! `Migrator::new(dir)` (untimed here) builds the same struct from the files
//! at run time, so the timed `run` is the embedded code path.
//!
//! - `sync`: `Migrator::run(&mut conn)`;
//! - `sync-one-tx`: sqlx has no such mode (exit 3);
//! - `check`: sqlx has no startup check; its CLI's `migrate info` reads
//!   `list_applied_migrations` and compares it with the migrations, which is
//!   what this does (versions and checksums).

use bench_common::{Args, END, Engine, Op, START};
use sqlx::migrate::{Migrate, Migrator};
use sqlx::{Connection, Executor};

const TABLE: &str = "_sqlx_migrations";

fn main() {
    let args = Args::parse("sqlx");
    let report = args.report();
    if args.op == Op::SyncOneTx {
        if args.engine == Engine::Mysql {
            report.unsupported("DDL is not transactional on MySQL: each statement commits by itself");
        }
        report.unsupported("sqlx runs each migration in its own transaction; it has no all-or-nothing mode");
    }
    if args.count && args.engine == Engine::Sqlite {
        bench_common::sqlite_trace::install();
    }
    bench_common::block_on!(run(args, report))
}

fn up_to_date(migrator: &Migrator, applied: &[sqlx::migrate::AppliedMigration]) -> bool {
    let mut ups = migrator.iter().filter(|m| !m.migration_type.is_down_migration());
    let all = ups.clone().count();
    applied.len() == all && ups.all(|m| applied.iter().any(|a| a.version == m.version && a.checksum == m.checksum))
}

macro_rules! count_rows {
    ($conn:expr) => {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM _sqlx_migrations")
            .fetch_one(&mut $conn)
            .await
            .ok()
            .map(|n| n as u64)
    };
}

macro_rules! measure {
    ($args:expr, $report:expr, $migrator:expr, $conn:expr) => {{
        let before = count_rows!($conn).unwrap_or(0);
        if $args.count {
            $conn.execute(sqlx::raw_sql(START)).await.unwrap_or_else(|e| $report.clone().fail("marker", e));
        }
        let start = std::time::Instant::now();
        let done: Result<Option<bool>, String> = match $args.op {
            Op::Sync | Op::SyncOneTx => $migrator.run(&mut $conn).await.map(|()| None).map_err(|e| e.to_string()),
            Op::Check => $conn
                .list_applied_migrations(TABLE)
                .await
                .map(|applied| Some(up_to_date(&$migrator, &applied)))
                .map_err(|e| e.to_string()),
        };
        let ms = start.elapsed().as_secs_f64() * 1e3;
        if $args.count {
            $conn.execute(sqlx::raw_sql(END)).await.unwrap_or_else(|e| $report.clone().fail("marker", e));
            $report.statements = bench_common::sqlite_trace::count();
        }
        $report.ms = Some(ms);
        let after = count_rows!($conn);
        $report.rows = after;
        match done {
            Ok(Some(up)) => $report.up_to_date = Some(up),
            Ok(None) => {
                let applied = after.unwrap_or(0) - before;
                $report.applied = Some(applied);
                $report.up_to_date = Some(applied == 0);
            }
            Err(e) => $report.error = Some(format!("{}: {e}", $args.op.as_str())),
        }
        $report.finish()
    }};
}

async fn run(args: Args, mut report: bench_common::Report) -> ! {
    let (loaded, load_ms) = {
        let start = std::time::Instant::now();
        let m = Migrator::new(args.dir.as_path()).await;
        (m, start.elapsed().as_secs_f64() * 1e3)
    };
    let migrator = loaded.unwrap_or_else(|e| report.clone().fail("load", e));
    report.load_ms = Some(load_ms);
    report.migrations = migrator.iter().count();
    match args.engine {
        Engine::Sqlite => {
            let start = std::time::Instant::now();
            let options = sqlx::sqlite::SqliteConnectOptions::new().filename(&args.database).create_if_missing(true);
            let mut conn = sqlx::SqliteConnection::connect_with(&options)
                .await
                .unwrap_or_else(|e| report.clone().fail("connect", e));
            sqlx::query("SELECT count(*) FROM sqlite_master")
                .fetch_one(&mut conn)
                .await
                .unwrap_or_else(|e| report.clone().fail("connect", e));
            report.connect_ms = Some(start.elapsed().as_secs_f64() * 1e3);
            measure!(args, report, migrator, conn)
        }
        Engine::Postgres => {
            let start = std::time::Instant::now();
            let mut conn =
                sqlx::PgConnection::connect(&args.database).await.unwrap_or_else(|e| report.clone().fail("connect", e));
            conn.execute(sqlx::raw_sql("SELECT 1")).await.unwrap_or_else(|e| report.clone().fail("connect", e));
            report.connect_ms = Some(start.elapsed().as_secs_f64() * 1e3);
            measure!(args, report, migrator, conn)
        }
        Engine::Mysql => {
            let start = std::time::Instant::now();
            let mut conn = sqlx::MySqlConnection::connect(&args.database)
                .await
                .unwrap_or_else(|e| report.clone().fail("connect", e));
            conn.execute(sqlx::raw_sql("SELECT 1")).await.unwrap_or_else(|e| report.clone().fail("connect", e));
            report.connect_ms = Some(start.elapsed().as_secs_f64() * 1e3);
            measure!(args, report, migrator, conn)
        }
    }
}

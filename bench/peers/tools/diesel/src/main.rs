//! diesel_migrations 2.3, as `embed_migrations!` uses it.
//!
//! `embed_migrations!("dir")` expands to `EmbeddedMigrations::new(&[
//! EmbeddedMigration::new(up, down, EmbeddedName::new(name), metadata), ...])`.
//! This tool builds exactly that from the files (untimed; the strings are
//! leaked to get the `'static` lifetime the macro's literals have), so the
//! timed run is the embedded code path.
//!
//! - `sync`: `run_pending_migrations` (each migration in its own transaction);
//! - `sync-one-tx`: diesel has no such mode; the closest is wrapping the call
//!   in `conn.transaction(..)`, which turns each migration's transaction into
//!   a savepoint: that is what runs here (not on MySQL, where DDL commits by
//!   itself: exit 3);
//! - `check`: `has_pending_migration`.

use bench_common::{Args, END, Engine, Op, START, read_diesel, timed};
use diesel::connection::SimpleConnection;
use diesel::{Connection, MysqlConnection, PgConnection, RunQueryDsl, SqliteConnection};
use diesel_migrations::{EmbeddedMigration, EmbeddedMigrations, EmbeddedName, MigrationHarness, TomlMetadataWrapper};

type Boxed = Box<dyn std::error::Error + Send + Sync>;

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

fn main() {
    let args = Args::parse("diesel");
    let mut report = args.report();
    if args.count && args.engine == Engine::Sqlite {
        bench_common::sqlite_trace::install();
    }
    let (loaded, load_ms) = timed(|| {
        read_diesel(&args.dir).map(|list| {
            let list: Vec<EmbeddedMigration> = list
                .into_iter()
                .map(|m| {
                    EmbeddedMigration::new(
                        leak(m.sql),
                        None,
                        EmbeddedName::new(leak(m.id)),
                        TomlMetadataWrapper::new(true),
                    )
                })
                .collect();
            &*Box::leak(list.into_boxed_slice())
        })
    });
    let list: &'static [EmbeddedMigration] = loaded.unwrap_or_else(|e| report.clone().fail("load", e));
    report.load_ms = Some(load_ms);
    report.migrations = list.len();
    match args.engine {
        Engine::Sqlite => {
            let (conn, connect_ms) = timed(|| {
                let mut conn = SqliteConnection::establish(&args.database)?;
                conn.batch_execute("SELECT count(*) FROM sqlite_master")?;
                Ok::<_, Boxed>(conn)
            });
            let conn = conn.unwrap_or_else(|e| report.clone().fail("connect", e));
            report.connect_ms = Some(connect_ms);
            measure(&args, report, list, conn, "SELECT count(*) AS n FROM __diesel_schema_migrations")
        }
        Engine::Postgres => {
            let (conn, connect_ms) = timed(|| {
                let mut conn = PgConnection::establish(&args.database)?;
                conn.batch_execute("SELECT 1")?;
                Ok::<_, Boxed>(conn)
            });
            let conn = conn.unwrap_or_else(|e| report.clone().fail("connect", e));
            report.connect_ms = Some(connect_ms);
            measure(&args, report, list, conn, "SELECT count(*) AS n FROM __diesel_schema_migrations")
        }
        Engine::Mysql => {
            if args.op == Op::SyncOneTx {
                report.unsupported("DDL is not transactional on MySQL: each statement commits by itself");
            }
            let (conn, connect_ms) = timed(|| {
                let mut conn = MysqlConnection::establish(&args.database)?;
                conn.batch_execute("SELECT 1")?;
                Ok::<_, Boxed>(conn)
            });
            let conn = conn.unwrap_or_else(|e| report.clone().fail("connect", e));
            report.connect_ms = Some(connect_ms);
            measure(&args, report, list, conn, "SELECT count(*) AS n FROM __diesel_schema_migrations")
        }
    }
}

fn measure<C>(
    args: &Args,
    mut report: bench_common::Report,
    list: &'static [EmbeddedMigration],
    mut conn: C,
    count_sql: &str,
) -> !
where
    C: Connection + MigrationHarness<C::Backend>,
    EmbeddedMigrations: diesel::migration::MigrationSource<C::Backend>,
    diesel::query_builder::SqlQuery: diesel::query_dsl::LoadQuery<'static, C, Count>,
{
    let source = || EmbeddedMigrations::new(list);
    if args.count {
        conn.batch_execute(START).unwrap_or_else(|e| report.clone().fail("marker", e));
    }
    let (done, ms) = timed(|| -> Result<Result<usize, bool>, Boxed> {
        match args.op {
            Op::Sync => Ok(Ok(conn.run_pending_migrations(source())?.len())),
            Op::SyncOneTx => conn.transaction::<_, Boxed, _>(|c| Ok(c.run_pending_migrations(source())?.len())).map(Ok),
            Op::Check => Ok(Err(!conn.has_pending_migration(source())?)),
        }
    });
    if args.count {
        conn.batch_execute(END).unwrap_or_else(|e| report.clone().fail("marker", e));
        report.statements = bench_common::sqlite_trace::count();
    }
    report.ms = Some(ms);
    report.rows =
        diesel::sql_query(count_sql).load::<Count>(&mut conn).ok().and_then(|r| r.first().map(|c| c.n as u64));
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

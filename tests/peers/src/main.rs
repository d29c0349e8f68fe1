//! `peer-migrate <refinery|sqlx|diesel> <DIR> <URL>`: applies every pending
//! migration of `DIR` to the database at `URL` with the tool's own run-time
//! directory loader and its default settings, as the tool's users do, so
//! that ebbtide's tests can import and adopt what the tool left behind.
//!
//! - refinery: `load_sql_migrations(DIR)`, then `Runner::new(..).run` (SQLite,
//!   rusqlite) or `run_async` (a tokio-postgres `Client`, a `mysql_async::Pool`);
//! - sqlx: `Migrator::new(Path::new(DIR))`, then `run` on one connection;
//!   with the `sqlx.toml` beside `DIR` (the crate root's, where
//!   `migrate!` reads it), its `migrate.ignored-chars` and
//!   `migrate.table-name`, applied as `migrate!` applies them;
//! - diesel: `FileBasedMigrations::from_path(DIR)`, then
//!   `run_pending_migrations` (SQLite and PostgreSQL only: diesel's MySQL
//!   backend links libmysqlclient, which this build leaves out).
//!
//! `URL` is `sqlite:PATH` (the file is created if missing), `postgres://...`
//! or `mysql://...`.
//!
//! Exit status: 0 after printing `applied N` (the migrations this run
//! applied; 0 when the database is up to date); 1 with the tool's error on
//! stderr; 2 for a usage error; 3 for diesel on MySQL.

use std::error::Error;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

type Boxed = Box<dyn Error + Send + Sync>;

const USAGE: &str = "usage: peer-migrate <refinery|sqlx|diesel> <DIR> <URL>\n\
                     URL: sqlite:PATH | postgres://... | mysql://... (refinery and sqlx)";

/// Where the migrations go.
enum Target {
    /// A SQLite file, created if missing.
    Sqlite(PathBuf),
    Postgres(String),
    Mysql(String),
}

impl Target {
    fn parse(url: &str) -> Option<Target> {
        if let Some(path) = url.strip_prefix("sqlite:") {
            let path = path.strip_prefix("//").unwrap_or(path);
            return (!path.is_empty()).then(|| Target::Sqlite(PathBuf::from(path)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Some(Target::Postgres(url.to_string()));
        }
        if url.starts_with("mysql://") {
            return Some(Target::Mysql(url.to_string()));
        }
        None
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [tool, dir, url] = args.as_slice() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let Some(target) = Target::parse(url) else {
        eprintln!("peer-migrate: unknown database URL {url:?}\n{USAGE}");
        return ExitCode::from(2);
    };
    let dir = Path::new(dir);
    let applied = match tool.as_str() {
        "refinery" => refinery(dir, &target),
        "sqlx" => block_on(sqlx(dir, &target)),
        "diesel" => {
            if let Target::Mysql(_) = target {
                eprintln!("peer-migrate: diesel is not built with MySQL here (its mysql backend links libmysqlclient)");
                return ExitCode::from(3);
            }
            diesel(dir, &target)
        }
        other => {
            eprintln!("peer-migrate: unknown tool {other:?}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match applied {
        Ok(n) => {
            println!("applied {n}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{tool}: {}", chain(&*e));
            ExitCode::from(1)
        }
    }
}

/// The error and its sources, each said once.
fn chain(error: &(dyn Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let said = e.to_string();
        if !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        source = e.source();
    }
    text
}

fn block_on<T>(future: impl Future<Output = T>) -> T {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
    runtime.block_on(future)
}

fn refinery(dir: &Path, target: &Target) -> Result<usize, Boxed> {
    let migrations = refinery::load_sql_migrations(dir)?;
    let runner = refinery::Runner::new(&migrations);
    let report = match target {
        Target::Sqlite(path) => runner.run(&mut rusqlite::Connection::open(path)?)?,
        Target::Postgres(url) => block_on(async {
            let (mut client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
            tokio::spawn(connection);
            Ok::<_, Boxed>(runner.run_async(&mut client).await?)
        })?,
        Target::Mysql(url) => block_on(async {
            let mut pool = mysql_async::Pool::new(mysql_async::Opts::from_url(url)?);
            let report = runner.run_async(&mut pool).await;
            pool.disconnect().await?;
            Ok::<_, Boxed>(report?)
        })?,
    };
    Ok(report.applied_migrations().len())
}

/// sqlx's `Migrator::run` reports no count: the rows of its history table
/// before and after tell it (none before the table exists).
macro_rules! sqlx_run {
    ($migrator:expr, $conn:expr, $table:expr) => {{
        let count = format!("SELECT count(*) FROM {}", $table);
        let rows = async |conn: &mut _| {
            let count = sqlx::AssertSqlSafe(count.clone());
            sqlx::query_scalar::<_, i64>(count).fetch_one(conn).await.unwrap_or(0)
        };
        let before = rows(&mut $conn).await;
        $migrator.run(&mut $conn).await?;
        let after = rows(&mut $conn).await;
        Ok((after - before) as usize)
    }};
}

async fn sqlx(dir: &Path, target: &Target) -> Result<usize, Boxed> {
    use sqlx::Connection;
    let config = dir.canonicalize()?.parent().map(|root| root.join("sqlx.toml")).unwrap_or_default();
    let config = sqlx::_unstable::config::Config::try_from_path_or_default(config)?;
    let resolve = sqlx::migrate::ResolveWith(dir.to_path_buf(), config.migrate.to_resolve_config());
    let mut migrator = sqlx::migrate::Migrator::new(resolve).await?;
    let table = config.migrate.table_name().to_string();
    migrator.dangerous_set_table_name(table.clone());
    match target {
        Target::Sqlite(path) => {
            let options = sqlx::sqlite::SqliteConnectOptions::new().filename(path).create_if_missing(true);
            let mut conn = sqlx::SqliteConnection::connect_with(&options).await?;
            sqlx_run!(migrator, conn, table)
        }
        Target::Postgres(url) => {
            let mut conn = sqlx::PgConnection::connect(url).await?;
            sqlx_run!(migrator, conn, table)
        }
        Target::Mysql(url) => {
            let mut conn = sqlx::MySqlConnection::connect(url).await?;
            sqlx_run!(migrator, conn, table)
        }
    }
}

fn diesel(dir: &Path, target: &Target) -> Result<usize, Boxed> {
    use diesel::Connection;
    use diesel_migrations::{FileBasedMigrations, MigrationHarness};
    let source = FileBasedMigrations::from_path(dir)?;
    match target {
        Target::Sqlite(path) => {
            let path = path.to_str().ok_or("the SQLite path is not UTF-8")?;
            let mut conn = diesel::SqliteConnection::establish(path)?;
            Ok(conn.run_pending_migrations(source)?.len())
        }
        Target::Postgres(url) => {
            let mut conn = diesel::PgConnection::establish(url)?;
            Ok(conn.run_pending_migrations(source)?.len())
        }
        Target::Mysql(_) => unreachable!("refused in main"),
    }
}

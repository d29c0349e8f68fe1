//! Zero downtime under load: two releases of a service writing and reading
//! continuously through expand -> deploy -> contract, with a long
//! transaction in the way of every schema change and a batched backfill of
//! 1,000,000 rows; prints what the service saw.
//!
//! ```sh
//! cargo run --release --example zero_downtime -- --engine postgres
//! cargo run --release --example zero_downtime -- --engine sqlite
//! cargo run --release --example zero_downtime -- --engine mysql
//! cargo run --release --example zero_downtime -- --engine galera
//! cargo run --release --example zero_downtime -- --engine postgres --no-retries
//! ```
//!
//! PostgreSQL: the server at `--database`, `EBBTIDE_TEST_POSTGRES_URL`, or
//! postgres://postgres@127.0.0.1:5432/postgres; the scenario runs in a
//! database of its own, dropped afterwards. MySQL or MariaDB: the same on
//! the server at `--database`, `EBBTIDE_TEST_MYSQL_URL`, or
//! mysql://root@127.0.0.1:3306/mysql. A MariaDB Galera cluster: the nodes
//! at `--urls` or `EBBTIDE_TEST_GALERA_URLS` (comma-separated, one URL per
//! node), the database created and the migrations run through the first,
//! the writers spread over all of them. SQLite: a file in a temporary
//! directory, removed afterwards. The migrations run in a child process:
//! this program re-executes itself (see `load::sync_child`).

#![deny(warnings)]

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use ebbtide::mysql_async::prelude::Queryable;
use ebbtide_examples::load::{self, Engine, Options};

#[derive(Copy, Clone, ValueEnum)]
enum EngineArg {
    Postgres,
    Sqlite,
    Mysql,
    Galera,
}

/// Two releases under load through a rolling upgrade.
#[derive(Parser)]
struct Args {
    #[arg(long, value_enum, default_value = "postgres")]
    engine: EngineArg,
    /// Users in the table before the upgrade (backfilled in expand).
    #[arg(long, default_value_t = 1_000_000)]
    rows: u64,
    /// The PostgreSQL, MySQL or MariaDB server (a database of the
    /// scenario's own is created on it); default: EBBTIDE_TEST_POSTGRES_URL
    /// or EBBTIDE_TEST_MYSQL_URL, else the local server.
    #[arg(long)]
    database: Option<String>,
    /// Galera: the URL of each node, comma-separated; default:
    /// EBBTIDE_TEST_GALERA_URLS.
    #[arg(long, value_delimiter = ',')]
    urls: Vec<String>,
    /// Writers per release (default 2; on Galera one per node), instance
    /// `i` writing through node `i` modulo the nodes.
    #[arg(long)]
    writers: Option<usize>,
    /// How long the blocker holds each transaction, in ms.
    #[arg(long, default_value_t = 3000)]
    hold_ms: u64,
    /// Lock retries off (`lock_retry(Duration::ZERO)`): a sync gives up at
    /// its first lock timeout, and is run again a second later. The
    /// application's retries off too: a write or read the server aborted
    /// (MySQL 1213 or 1205, as a Galera schema change does) fails.
    #[arg(long)]
    no_retries: bool,
    /// The lock timeout off too: a migration waits for its lock as long as
    /// the blocker holds it.
    #[arg(long)]
    no_lock_timeout: bool,
    /// SQLite: the application polls for the write lock every millisecond
    /// instead of waiting by SQLite's busy timeout.
    #[arg(long)]
    busy_poll: bool,
    /// SQLite: the application checkpoints the WAL from a thread of its
    /// own instead of in whichever writer's commit crosses the threshold.
    #[arg(long)]
    checkpointer: bool,
}

fn main() -> ExitCode {
    if let Some(code) = load::sync_child() {
        return code;
    }
    let args = Args::parse();
    let engine = match args.engine {
        EngineArg::Postgres => Engine::Postgres,
        EngineArg::Sqlite => Engine::Sqlite,
        EngineArg::Mysql => Engine::Mysql,
        EngineArg::Galera => Engine::Galera,
    };
    let (variable, local) = match engine {
        Engine::Mysql => ("EBBTIDE_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/mysql"),
        _ => ("EBBTIDE_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
    };
    let nodes: Vec<String> = match engine {
        Engine::Galera if args.urls.is_empty() => {
            let urls = std::env::var("EBBTIDE_TEST_GALERA_URLS").unwrap_or_default();
            urls.split(',').map(str::trim).filter(|u| !u.is_empty()).map(str::to_string).collect()
        }
        Engine::Galera => args.urls.clone(),
        _ => Vec::new(),
    };
    let server = match engine {
        Engine::Galera => match nodes.first() {
            Some(first) => first.clone(),
            None => {
                eprintln!(
                    "error: the scenario needs the nodes of a Galera cluster: set --urls or EBBTIDE_TEST_GALERA_URLS"
                );
                return ExitCode::FAILURE;
            }
        },
        _ => args.database.clone().or_else(|| std::env::var(variable).ok()).unwrap_or_else(|| local.into()),
    };
    let scratch = format!("ebbtide_zero_downtime_{}", std::process::id());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
    let url = match engine {
        Engine::Postgres => {
            let created = runtime.block_on(async {
                let admin = ebbtide::postgres::connect(&server).await?;
                admin.batch_execute(&format!("CREATE DATABASE {scratch}")).await?;
                Ok::<_, load::Error>(())
            });
            if let Err(e) = created {
                eprintln!(
                    "error: cannot create the database {scratch}: {}\nthe scenario needs a PostgreSQL server: set --database or EBBTIDE_TEST_POSTGRES_URL",
                    load::chain(&*e)
                );
                return ExitCode::FAILURE;
            }
            ebbtide::postgres::with_database(&server, &scratch)
        }
        Engine::Mysql | Engine::Galera => {
            let created = runtime.block_on(async {
                let admin = ebbtide::mysql::connect(&server).await?;
                admin.get_conn().await?.query_drop(format!("CREATE DATABASE {scratch}")).await?;
                admin.disconnect().await?;
                Ok::<_, load::Error>(())
            });
            if let Err(e) = created {
                eprintln!(
                    "error: cannot create the database {scratch}: {}\nthe scenario needs a MySQL or MariaDB server: set --database or EBBTIDE_TEST_MYSQL_URL (Galera: --urls or EBBTIDE_TEST_GALERA_URLS)",
                    load::chain(&*e)
                );
                return ExitCode::FAILURE;
            }
            // A MySQL URL names its database as a PostgreSQL URL does.
            ebbtide::postgres::with_database(&server, &scratch)
        }
        Engine::Sqlite => {
            let dir = std::env::temp_dir().join(&scratch);
            if let Err(e) = std::fs::create_dir_all(&dir) {
                eprintln!("error: cannot create {}: {e}", dir.display());
                return ExitCode::FAILURE;
            }
            dir.join("app.db").display().to_string()
        }
    };
    let mut options = Options::new(engine, url);
    // A MySQL URL names its database as a PostgreSQL URL does.
    options.nodes = nodes.iter().map(|node| ebbtide::postgres::with_database(node, &scratch)).collect();
    options.rows = args.rows;
    options.writers = args.writers.unwrap_or(if nodes.is_empty() { 2 } else { nodes.len() });
    options.hold = Duration::from_millis(args.hold_ms);
    if args.no_retries {
        options.lock_retry = Duration::ZERO;
        options.write_retries = 0;
    }
    if args.no_lock_timeout {
        options.lock_timeout = Duration::ZERO;
    }
    options.sqlite.busy_poll = args.busy_poll;
    options.sqlite.checkpointer = args.checkpointer;
    let outcome = load::run(&options);
    match engine {
        Engine::Postgres => {
            let _ = runtime.block_on(async {
                let admin = ebbtide::postgres::connect(&server).await?;
                admin.batch_execute(&format!("DROP DATABASE IF EXISTS {scratch} WITH (FORCE)")).await?;
                Ok::<_, load::Error>(())
            });
        }
        Engine::Mysql | Engine::Galera => {
            let _ = runtime.block_on(async {
                let admin = ebbtide::mysql::connect(&server).await?;
                admin.get_conn().await?.query_drop(format!("DROP DATABASE IF EXISTS {scratch}")).await?;
                admin.disconnect().await?;
                Ok::<_, load::Error>(())
            });
        }
        Engine::Sqlite => {
            let _ = std::fs::remove_dir_all(std::env::temp_dir().join(&scratch));
        }
    }
    match outcome {
        Ok(outcome) => {
            print!("{outcome}");
            let met = outcome.met(Duration::from_secs(1));
            println!(
                "\ntargets (no failed write, no wrong read, no stall of 1 s, both syncs at their first run, release 1 refused): {}",
                if met { "met" } else { "MISSED" }
            );
            if met { ExitCode::SUCCESS } else { ExitCode::from(2) }
        }
        Err(e) => {
            eprintln!("error: {}", load::chain(&*e));
            ExitCode::FAILURE
        }
    }
}

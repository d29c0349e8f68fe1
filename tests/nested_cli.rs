//! `ebbtide::cli::Db` nested in an application's own clap command, run as
//! a service's `main` runs it: from `#[tokio::main]` (a multi-thread or a
//! current-thread runtime) or from a plain `fn main`, through the blocking
//! `Db::run` and the async `Db::run_async`, on PostgreSQL and SQLite.
//!
//! Compiled as an integration test of the `ebbtide` package (feature
//! `cli`), as an application depending on it would be.

mod support;

use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use clap::Parser;
use ebbtide::{Migrations, Migrator};
use support::{Db, Dir};

ebbtide::embed_migrations!("../migrations");

/// An application's command line, with ebbtide's nested as `app db ...`.
#[derive(Parser)]
enum App {
    /// Serve requests.
    Serve,
    /// Manage the database schema.
    Db(ebbtide::cli::Db),
}

/// `app db --database URL ARGS...`, parsed as the application parses it.
fn db_command(url: &str, args: &[&str]) -> ebbtide::cli::Db {
    let argv = ["app", "db", "--quiet", "--database", url].into_iter().chain(args.iter().copied());
    match App::try_parse_from(argv) {
        Ok(App::Db(db)) => db,
        Ok(App::Serve) => panic!("parsed as `serve`"),
        Err(e) => panic!("{e}"),
    }
}

/// Which of `Db`'s entries the application calls.
#[derive(Clone, Copy, Debug)]
enum Entry {
    Blocking,
    Async,
}

fn assert_send<T: Send>(_: &T) {}

/// Runs `app db ARGS...` on `url` through `entry`, from whatever context
/// the caller is in.
async fn app_db(entry: Entry, url: &str, args: &[&str], migrations: &Migrations) -> ExitCode {
    let db = db_command(url, args);
    match entry {
        Entry::Blocking => db.run(migrations),
        Entry::Async => {
            let run = db.run_async(migrations);
            assert_send(&run);
            run.await
        }
    }
}

/// Check, expand, check, contract, check: each command's exit code, and
/// the migrations the database records at the end.
async fn a_rollout_through(entry: Entry, db: &Db) {
    let url = db.url();
    let m = &migrations::MIGRATIONS;
    assert_eq!(app_db(entry, &url, &["check"], m).await, ExitCode::from(2), "not under version control");
    assert_eq!(app_db(entry, &url, &["sync", "--expand"], m).await, ExitCode::SUCCESS);
    assert_eq!(app_db(entry, &url, &["check"], m).await, ExitCode::from(4), "contract pending");
    assert_eq!(app_db(entry, &url, &["sync", "--contract"], m).await, ExitCode::SUCCESS);
    assert_eq!(app_db(entry, &url, &["check"], m).await, ExitCode::SUCCESS, "current");
    let recorded = db.versions(&Migrator::new(m)).await;
    assert_eq!(recorded, (1..=m.len() as u32).collect::<Vec<_>>());
}

/// The tests of both entries in every context, on the engine the registry
/// names `$engine`; each skips, saying so, when its server is unreachable
/// outside CI.
macro_rules! entries_on {
    ($engine:ident) => {
        mod $engine {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn blocking_run_inside_a_multi_thread_runtime() {
                let Some(db) = Db::of(stringify!($engine)).await else { return };
                a_rollout_through(Entry::Blocking, &db).await;
            }

            #[tokio::test(flavor = "current_thread")]
            async fn blocking_run_inside_a_current_thread_runtime() {
                let Some(db) = Db::of(stringify!($engine)).await else { return };
                a_rollout_through(Entry::Blocking, &db).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn async_run_inside_a_multi_thread_runtime() {
                let Some(db) = Db::of(stringify!($engine)).await else { return };
                a_rollout_through(Entry::Async, &db).await;
            }

            #[tokio::test(flavor = "current_thread")]
            async fn async_run_inside_a_current_thread_runtime() {
                let Some(db) = Db::of(stringify!($engine)).await else { return };
                a_rollout_through(Entry::Async, &db).await;
            }

            /// A plain `fn main`: the runtime here only prepares and reads
            /// the test's database; the commands run outside it.
            #[test]
            fn blocking_run_outside_any_runtime() {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                let Some(db) = runtime.block_on(Db::of(stringify!($engine))) else { return };
                let url = db.url();
                let m = &migrations::MIGRATIONS;
                assert!(tokio::runtime::Handle::try_current().is_err(), "no runtime is entered here");
                assert_eq!(db_command(&url, &["check"]).run(m), ExitCode::from(2));
                assert_eq!(db_command(&url, &["sync"]).run(m), ExitCode::SUCCESS);
                assert_eq!(db_command(&url, &["check"]).run(m), ExitCode::SUCCESS);
                let recorded = runtime.block_on(db.versions(&Migrator::new(m)));
                assert_eq!(recorded, (1..=m.len() as u32).collect::<Vec<_>>());
            }
        }
    };
}

entries_on!(postgres);
entries_on!(sqlite);

/// The point of the async entry: while a migration takes half a second, a
/// current-thread runtime (the one thread `#[tokio::main(flavor =
/// "current_thread")]` has) goes on running its other tasks.
#[tokio::test(flavor = "current_thread")]
async fn async_run_leaves_a_current_thread_runtime_serving() {
    let Some(db) = Db::of("postgres").await else { return };
    let sleep = db.fixture().sleep_sql(500).expect("PostgreSQL sleeps");
    let dir = Dir::new(&[("expand/0001_take_half_a_second.sql", &sleep)]);
    let migrations = dir.migrations();
    let url = db.url();
    let ticks = AtomicUsize::new(0);
    let ticker = async {
        loop {
            tokio::time::sleep(Duration::from_millis(10)).await;
            ticks.fetch_add(1, Ordering::Relaxed);
        }
    };
    let code = tokio::select! {
        code = app_db(Entry::Async, &url, &["sync"], &migrations) => code,
        () = ticker => unreachable!("the ticker never ends"),
    };
    assert_eq!(code, ExitCode::SUCCESS);
    let ticks = ticks.load(Ordering::Relaxed);
    assert!(ticks >= 10, "the runtime ran its other task {ticks} times in half a second");
    assert_eq!(db.versions(&Migrator::new(&migrations)).await, [1]);
}

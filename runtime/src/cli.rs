//! The command line: Keystone's `database` commands for any application
//! binary, on its embedded migrations.
//!
//! Nest [`Db`] into your own clap CLI to get `myapp db sync`,
//! `myapp db check`, ...:
//!
//! ```no_run
//! use clap::Parser;
//!
//! ebbtide::embed_migrations!("../migrations");
//!
//! #[derive(Parser)]
//! enum App {
//!     /// Serve requests.
//!     Serve,
//!     /// Manage the database schema.
//!     Db(ebbtide::cli::Db),
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     match App::parse() {
//!         App::Serve => std::process::ExitCode::SUCCESS,
//!         App::Db(db) => db.run(&migrations::MIGRATIONS),
//!     }
//! }
//! ```
//!
//! or, for a binary that does nothing else, `fn main() -> ExitCode {
//! ebbtide::cli::main(&migrations::MIGRATIONS) }`.
//!
//! In an async `main` (`#[tokio::main]`, multi-thread or current-thread),
//! await [`Db::run_async`]: the command runs on a thread of its own, and
//! the runtime goes on serving its other tasks meanwhile.
//!
//! ```no_run
//! # use clap::Parser;
//! # ebbtide::embed_migrations!("../migrations");
//! # #[derive(Parser)]
//! # enum App { Serve, Db(ebbtide::cli::Db) }
//! #[tokio::main]
//! async fn main() -> std::process::ExitCode {
//!     match App::parse() {
//!         App::Serve => std::process::ExitCode::SUCCESS,
//!         App::Db(db) => db.run_async(&migrations::MIGRATIONS).await,
//!     }
//! }
//! ```
//!
//! The blocking [`Db::run`] works in any context too: outside a runtime,
//! and inside one (where it may not start another, it runs the command on a
//! thread of its own and waits for it, blocking the calling thread, which
//! holds up a current-thread runtime's other tasks until it returns).
//! The `cli` feature brings `ebbtide::cli`; the application names `clap`
//! (4, with its `derive` feature) for its own command.
//!
//! Exit codes: 0 success; 1 error; `check` follows Keystone's `db_sync
//! --check`: 0 current, 2 expand pending or not under version control,
//! 3 incompatible (ebbtide's own: a contract migration this release does
//! not know, or a divergent checksum), 4 contract pending.

use std::io::{IsTerminal, Write};
use std::panic::AssertUnwindSafe;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::registry::{self, Access, Database};
use crate::report::Event;
use crate::{Error, Migrations, Migrator, Outcome, Report, Request, Scope, Verdict, Version, VersionInfo, status};

/// Schema commands on an application's embedded migrations.
#[derive(Debug, Clone, Args)]
#[command(about = "Manage the database schema: sync, check, upgrade, downgrade, ...")]
pub struct Db {
    /// Where and how to run.
    #[command(flatten)]
    pub options: Options,
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

impl Db {
    /// Runs the command on `migrations` and returns the exit code,
    /// blocking the calling thread until it is done. Works outside an async
    /// runtime and inside one, multi-thread or current-thread (see
    /// [`execute`]); in an `async fn`, [`Db::run_async`] does not block.
    pub fn run(&self, migrations: &Migrations) -> ExitCode {
        execute(&self.options, &self.command, migrations)
    }

    /// Runs the command on `migrations` and returns the exit code, for an
    /// async `main` (`#[tokio::main]`, multi-thread or current-thread): the
    /// command runs on a thread of its own, so the caller's runtime is
    /// never blocked and keeps serving its other tasks. The future is
    /// `Send`, and needs no particular runtime.
    ///
    /// Dropping the future does not stop the command: a migration under
    /// way runs to its end (and records itself) on that thread.
    pub async fn run_async(&self, migrations: &Migrations) -> ExitCode {
        let (db, migrations) = (self.clone(), migrations.clone());
        let (done, outcome) = tokio::sync::oneshot::channel();
        let spawned = std::thread::Builder::new().name("ebbtide-cli".into()).spawn(move || {
            let ran =
                std::panic::catch_unwind(AssertUnwindSafe(|| execute_here(&db.options, &db.command, &migrations)));
            let _ = done.send(ran);
        });
        if let Err(e) = spawned {
            eprintln!("error: cannot start a thread for the command: {e}");
            return ExitCode::from(1);
        }
        match outcome.await {
            Ok(Ok(code)) => code,
            Ok(Err(panic)) => std::panic::resume_unwind(panic),
            Err(_) => {
                eprintln!("error: the command's thread ended without an exit code");
                ExitCode::from(1)
            }
        }
    }
}

/// The one-liner for a binary that only manages its schema: parses the
/// process arguments as [`Db`]'s and runs them.
pub fn main(migrations: &Migrations) -> ExitCode {
    #[derive(Parser)]
    #[command(version, about = "Manage the database schema of this application")]
    struct Cli {
        #[command(flatten)]
        db: Db,
    }
    Cli::parse().db.run(migrations)
}

/// Options shared by every database command.
#[derive(Debug, Clone, Args)]
pub struct Options {
    /// The database: sqlite:PATH, sqlite::memory:, or postgres://user@host/db.
    #[arg(long, short = 'd', env = "DATABASE_URL", global = true, value_name = "URL")]
    pub database: Option<String>,
    /// Print only errors.
    #[arg(long, short, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Log what ebbtide does (-vv for more).
    #[arg(long, short, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// The version table a command reads or writes.
#[derive(Debug, Clone, Args)]
pub struct TableOption {
    /// The version table (optionally schema.table).
    #[arg(long, default_value = crate::dialect::DEFAULT_TABLE, value_name = "NAME")]
    pub table: String,
}

/// How a command that changes the database waits for another run.
#[derive(Debug, Clone, Args)]
pub struct LockOptions {
    /// How long to wait for the migration lock while another run holds it
    /// (e.g. 30s, 10m); the wait says who holds it.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "10m")]
    pub lock_wait: Duration,
}

/// How a command that runs migrations runs them.
#[derive(Debug, Clone, Args)]
pub struct RunOptions {
    /// Run even though applied migrations were edited since (divergent checksums).
    #[arg(long)]
    pub allow_divergent: bool,
    /// Run everything in one transaction: all of it applies, or nothing.
    #[arg(long)]
    pub all_or_nothing: bool,
    /// How long each attempt of a migration waits for a lock (e.g. 500ms;
    /// `off`: as long as it takes), for migrations without their own
    /// `lock-timeout`, where the engine can bound it (PostgreSQL). The
    /// application's statements queue behind a waiting migration at most
    /// this long. Default: 250ms.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_or_off)]
    pub lock_timeout: Option<Duration>,
    /// How long a migration that gave up on a lock is retried, with growing
    /// pauses (e.g. 30s; `off`: fail at the first lock timeout), for
    /// migrations without their own `lock-retry`. Default: 10m.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_or_off)]
    pub lock_retry: Option<Duration>,
    /// Print what happens as JSON lines on stdout: each step done, each
    /// lock retry with who is in the way, each wait for the migration lock.
    #[arg(long)]
    pub json: bool,
}

/// The options of a command that runs migrations.
#[derive(Debug, Clone, Args)]
pub struct MigrateOptions {
    #[allow(missing_docs)]
    #[command(flatten)]
    pub run: RunOptions,
    #[allow(missing_docs)]
    #[command(flatten)]
    pub lock: LockOptions,
    #[allow(missing_docs)]
    #[command(flatten)]
    pub table: TableOption,
}

fn parse_duration_or_off(text: &str) -> Result<Duration, String> {
    match text {
        "off" | "0" => Ok(Duration::ZERO),
        _ => parse_duration(text).map_err(|e| format!("{e}, or off")),
    }
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    ebbtide_core::directive::parse_duration_ms(text)
        .map(|ms| Duration::from_millis(u64::from(ms)))
        .ok_or_else(|| format!("{text:?} is not a duration such as 500ms, 5s or 1m"))
}

/// The database commands.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Apply pending migrations: all of them, or one branch.
    Sync {
        /// Only initial and expand migrations (before deploying the new release).
        #[arg(long, conflicts_with = "contract")]
        expand: bool,
        /// Only contract migrations (once no instance of the old release is left).
        #[arg(long)]
        contract: bool,
        /// Print the SQL that would run, version-table writes included, and change nothing.
        #[arg(long)]
        sql: bool,
        /// Apply migrations to a database without a version table that
        /// already holds tables (refused otherwise: see `version-control`
        /// and `goto`).
        #[arg(long)]
        allow_existing_schema: bool,
        #[allow(missing_docs)]
        #[command(flatten)]
        migrate: MigrateOptions,
    },
    /// Apply every pending migration up to and including VERSION.
    Upgrade {
        /// The target version (e.g. 3 or 0003).
        version: u32,
        /// Print the SQL that would run, and change nothing.
        #[arg(long)]
        sql: bool,
        /// Apply migrations to a database without a version table that
        /// already holds tables.
        #[arg(long)]
        allow_existing_schema: bool,
        #[allow(missing_docs)]
        #[command(flatten)]
        migrate: MigrateOptions,
    },
    /// Revert every migration above VERSION (0: all), newest first.
    Downgrade {
        /// The target version.
        version: u32,
        /// Do not ask for confirmation (needed when not on a terminal).
        #[arg(long, short)]
        yes: bool,
        /// Print the SQL that would run, and change nothing.
        #[arg(long)]
        sql: bool,
        #[allow(missing_docs)]
        #[command(flatten)]
        migrate: MigrateOptions,
    },
    /// Record the migrations up to VERSION as applied without running them,
    /// and forget those above it.
    Goto {
        /// The target version.
        version: u32,
        #[allow(missing_docs)]
        #[command(flatten)]
        lock: LockOptions,
        #[allow(missing_docs)]
        #[command(flatten)]
        table: TableOption,
    },
    /// Record how a migration that stopped half-way ended, once its
    /// changes were finished (applied) or undone (forgotten) by hand; runs
    /// nothing.
    Resolve {
        /// The migration that started and did not finish (`status` shows it).
        version: u32,
        /// `applied`: its changes are in the database now; `forgotten`: they are undone.
        outcome: ResolveOutcome,
        #[allow(missing_docs)]
        #[command(flatten)]
        lock: LockOptions,
        #[allow(missing_docs)]
        #[command(flatten)]
        table: TableOption,
    },
    /// Record the applied migrations as the files now describe them
    /// (statements, name, branch), after a deliberate edit; runs nothing.
    Repair {
        #[allow(missing_docs)]
        #[command(flatten)]
        lock: LockOptions,
        #[allow(missing_docs)]
        #[command(flatten)]
        table: TableOption,
    },
    /// Put an existing database under version control, at version 0.
    VersionControl {
        #[allow(missing_docs)]
        #[command(flatten)]
        lock: LockOptions,
        #[allow(missing_docs)]
        #[command(flatten)]
        table: TableOption,
    },
    /// Print the database's version and each branch's head.
    Version {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[allow(missing_docs)]
        #[command(flatten)]
        table: TableOption,
    },
    /// May this release serve on this database? Exit 0 current, 2 expand
    /// pending, 3 incompatible or unfinished, 4 contract pending.
    Check {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[allow(missing_docs)]
        #[command(flatten)]
        table: TableOption,
    },
    /// Every migration with its state, when it ran and how long it took.
    #[command(visible_alias = "history")]
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[allow(missing_docs)]
        #[command(flatten)]
        table: TableOption,
    },
}

/// How `resolve` says a migration that stopped half-way ended.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum ResolveOutcome {
    /// Its changes are all in the database now: record it.
    Applied,
    /// Its changes are undone: forget its record.
    Forgotten,
}

impl Command {
    /// The version table the command names.
    fn table(&self) -> &str {
        match self {
            Command::Sync { migrate, .. } | Command::Upgrade { migrate, .. } | Command::Downgrade { migrate, .. } => {
                &migrate.table.table
            }
            Command::Goto { table, .. }
            | Command::Resolve { table, .. }
            | Command::Repair { table, .. }
            | Command::VersionControl { table, .. }
            | Command::Version { table, .. }
            | Command::Check { table, .. }
            | Command::Status { table, .. } => &table.table,
        }
    }

    /// How it runs migrations, if it does.
    fn run_options(&self) -> Option<&RunOptions> {
        match self {
            Command::Sync { migrate, .. } | Command::Upgrade { migrate, .. } | Command::Downgrade { migrate, .. } => {
                Some(&migrate.run)
            }
            _ => None,
        }
    }

    /// How it waits for another run, if it changes the database.
    fn lock_options(&self) -> Option<&LockOptions> {
        match self {
            Command::Sync { migrate, .. } | Command::Upgrade { migrate, .. } | Command::Downgrade { migrate, .. } => {
                Some(&migrate.lock)
            }
            Command::Goto { lock, .. }
            | Command::Resolve { lock, .. }
            | Command::Repair { lock, .. }
            | Command::VersionControl { lock, .. } => Some(lock),
            _ => None,
        }
    }

    fn allow_existing_schema(&self) -> bool {
        matches!(
            self,
            Command::Sync { allow_existing_schema: true, .. } | Command::Upgrade { allow_existing_schema: true, .. }
        )
    }
}

/// Runs one command on `migrations` and returns the exit code; every
/// failure is one `error:` line on stderr and exit code 1.
///
/// Blocking, from any context: called inside an async runtime (which may
/// not block on another one, as the PostgreSQL engine does), it runs the
/// command on a thread of its own and waits for it.
pub fn execute(options: &Options, command: &Command, migrations: &Migrations) -> ExitCode {
    if tokio::runtime::Handle::try_current().is_err() {
        return execute_here(options, command, migrations);
    }
    std::thread::scope(|scope| match scope.spawn(|| execute_here(options, command, migrations)).join() {
        Ok(code) => code,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

/// [`execute`] on the calling thread, which no async runtime drives.
fn execute_here(options: &Options, command: &Command, migrations: &Migrations) -> ExitCode {
    init_tracing(options);
    match try_execute(options, command, migrations) {
        Ok(code) => ExitCode::from(code),
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(1)
        }
    }
}

/// Prints a line on stdout. A reader that went away (`ebbtide status |
/// head`) is not an error: the output is dropped, the command carries on.
pub fn out(text: impl std::fmt::Display) {
    let _ = writeln!(std::io::stdout().lock(), "{text}");
}

/// Sets up tracing on stderr for `-v`; once per process.
pub fn init_tracing(options: &Options) {
    let level = match (options.quiet, options.verbose) {
        (true, _) => tracing::Level::ERROR,
        (_, 0) => tracing::Level::WARN,
        (_, 1) => tracing::Level::INFO,
        _ => tracing::Level::DEBUG,
    };
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .try_init();
}

fn try_execute(options: &Options, command: &Command, migrations: &Migrations) -> Result<u8, String> {
    let url = options
        .database
        .as_deref()
        .ok_or("no database given: pass --database URL or set DATABASE_URL (e.g. sqlite:app.db)")?;
    let mut migrator = Migrator::new(migrations)
        .table(command.table())
        .map_err(|e| e.to_string())?
        .allow_existing_schema(command.allow_existing_schema());
    if let Some(run) = command.run_options() {
        migrator = migrator.allow_divergent(run.allow_divergent).all_or_nothing(run.all_or_nothing);
        if let Some(timeout) = run.lock_timeout {
            migrator = migrator.lock_timeout(timeout);
        }
        if let Some(budget) = run.lock_retry {
            migrator = migrator.lock_retry(budget);
        }
    }
    if let Some(lock) = command.lock_options() {
        migrator = migrator.lock_wait(lock.lock_wait);
    }
    let json = command.run_options().is_some_and(|run| run.json);
    let session = Session { options, migrator: &migrator, json };
    let access = if writes(command) { Access::Write } else { Access::Read };
    let engine = registry::engine(url).map_err(|e| e.to_string())?;
    tracing::info!("opening {} database {}", engine.name, registry::redact(url));
    let db = (engine.open)(url, access).map_err(|e| e.to_string())?;
    session.run(command, db.as_ref())
}

/// Whether a command writes to the database (not `--sql`, not reads).
fn writes(command: &Command) -> bool {
    match command {
        Command::Sync { sql, .. } | Command::Upgrade { sql, .. } | Command::Downgrade { sql, .. } => !sql,
        Command::Goto { .. } | Command::Resolve { .. } | Command::Repair { .. } | Command::VersionControl { .. } => {
            true
        }
        Command::Version { .. } | Command::Check { .. } | Command::Status { .. } => false,
    }
}

struct Session<'a> {
    options: &'a Options,
    migrator: &'a Migrator<'a>,
    /// Events as JSON lines (`--json` of the commands that run migrations).
    json: bool,
}

impl Session<'_> {
    fn say(&self, text: impl std::fmt::Display) {
        if !self.options.quiet {
            out(text);
        }
    }

    fn run(&self, command: &Command, engine: &dyn Database) -> Result<u8, String> {
        let m = self.migrator;
        let err = |e: Error| e.to_string();
        match command {
            Command::Sync { expand, contract, sql, .. } => {
                let scope = match (expand, contract) {
                    (true, _) => Scope::Expand,
                    (_, true) => Scope::Contract,
                    _ => Scope::All,
                };
                self.apply(engine, Request::Sync(scope), *sql)
            }
            Command::Upgrade { version, sql, .. } => self.apply(engine, Request::Upgrade(Version::new(*version)), *sql),
            Command::Downgrade { version, yes, sql, .. } => {
                let target = Version::new(*version);
                if !*sql {
                    self.confirm_downgrade(engine, target, *yes)?;
                }
                self.apply(engine, Request::Downgrade(target), *sql)
            }
            Command::Goto { version, .. } => self.apply(engine, Request::Goto(Version::new(*version)), false),
            Command::VersionControl { .. } => self.apply(engine, Request::VersionControl, false),
            Command::Repair { .. } => self.apply(engine, Request::Repair, false),
            Command::Resolve { version, outcome, .. } => {
                let outcome = match outcome {
                    ResolveOutcome::Applied => Outcome::Applied,
                    ResolveOutcome::Forgotten => Outcome::Forgotten,
                };
                self.apply(engine, Request::Resolve(Version::new(*version), outcome), false)
            }
            Command::Version { json, .. } => {
                let info = engine.version(m).map_err(err)?;
                if *json {
                    out(version_json(&info));
                } else {
                    out(info);
                }
                Ok(0)
            }
            Command::Check { json, .. } => {
                let verdict = engine.check(m).map_err(err)?;
                if *json {
                    out(verdict_json(&verdict));
                } else if verdict.may_serve() {
                    self.say(&verdict);
                } else {
                    eprintln!("{verdict}");
                }
                Ok(verdict.exit_code() as u8)
            }
            Command::Status { json, .. } => {
                let rows = engine.status(m).map_err(err)?;
                if *json {
                    out(rows_json(&rows));
                } else {
                    out(status::table(&rows));
                    // Where it runs, on a cluster (`version` says it too).
                    if let Some(cluster) = engine.version(m).map_err(err)?.cluster {
                        out(cluster);
                    }
                }
                Ok(0)
            }
        }
    }

    fn apply(&self, engine: &dyn Database, request: Request, sql: bool) -> Result<u8, String> {
        if sql {
            let script = engine.script(self.migrator, request).map_err(|e| e.to_string())?;
            let _ = std::io::stdout().lock().write_all(script.as_bytes());
            return Ok(0);
        }
        let progress = Progress::new(self.options.quiet, self.json);
        let migrator = self.migrator.clone().observe({
            let progress = progress.clone();
            move |event| progress.on(event)
        });
        let report: Report = engine.run(&migrator, request).map_err(|e| {
            progress.finish();
            e.to_string()
        })?;
        progress.finish();
        if self.json {
            let info = engine.version(self.migrator).map_err(|e| e.to_string())?;
            out(
                json!({"event": "done", "request": request.to_string(), "changed": !report.is_empty(), "version": info.to_string()}),
            );
        } else if report.is_empty() {
            self.say("nothing to do");
        } else {
            let info = engine.version(self.migrator).map_err(|e| e.to_string())?;
            self.say(format!("{request}: done; {info}"));
        }
        Ok(0)
    }

    /// Lists what a downgrade reverts and what it loses, then asks; off a
    /// terminal, `--yes` is the answer.
    fn confirm_downgrade(&self, engine: &dyn Database, target: Version, yes: bool) -> Result<(), String> {
        let reversals = engine.reversals(self.migrator, target).map_err(|e| e.to_string())?;
        if reversals.is_empty() {
            return Ok(());
        }
        eprintln!("{} reverts {} migration(s), newest first:", Request::Downgrade(target), reversals.len());
        for reversal in &reversals {
            eprintln!("  {reversal}");
        }
        if yes {
            return Ok(());
        }
        if !std::io::stdin().is_terminal() {
            return Err("downgrade deletes schema and data: pass --yes to confirm when not on a terminal".into());
        }
        eprint!("Proceed? [y/N] ");
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer).map_err(|e| e.to_string())?;
        if matches!(answer.trim(), "y" | "Y" | "yes") {
            Ok(())
        } else {
            Err("downgrade cancelled; nothing was reverted".into())
        }
    }
}

/// A progress bar on a terminal for runs of more than a few steps; plain
/// lines otherwise.
#[derive(Clone)]
struct Progress {
    quiet: bool,
    json: bool,
    bar: Arc<std::sync::Mutex<Option<ProgressBar>>>,
    /// When a backfill's progress was last told (every two seconds at most).
    told: Arc<std::sync::Mutex<Option<std::time::Instant>>>,
}

impl Progress {
    fn new(quiet: bool, json: bool) -> Self {
        Progress { quiet, json, bar: Arc::default(), told: Arc::default() }
    }

    fn on(&self, event: &Event<'_>) {
        if self.json {
            if let Some(line) = event_json(event) {
                out(line);
            }
            return;
        }
        if self.quiet {
            return;
        }
        let mut bar = self.bar.lock().unwrap_or_else(|e| e.into_inner());
        match event {
            Event::Planned { steps } if *steps > 3 && std::io::stderr().is_terminal() => {
                let pb = ProgressBar::new(*steps as u64);
                pb.set_style(
                    ProgressStyle::with_template("{bar:30} {pos}/{len} {wide_msg}")
                        .unwrap_or(ProgressStyle::default_bar()),
                );
                *bar = Some(pb);
            }
            Event::Started(step) => {
                if let Some(pb) = bar.as_ref() {
                    pb.set_message(step.to_string());
                }
            }
            Event::LockRetry { step, statement, attempt, waited, retry_in, blockers } => {
                let mut line = format!(
                    "{step}: attempt {attempt} gave up waiting for a lock ({:.1} s so far), retrying in {} ms: {statement}",
                    waited.as_secs_f64(),
                    retry_in.as_millis()
                );
                for blocker in blockers.iter() {
                    line.push_str(&format!("\n  in the way: {blocker}"));
                }
                match bar.as_ref() {
                    Some(pb) => pb.println(line),
                    None => eprintln!("{line}"),
                }
            }
            Event::Waiting { lock, holder, waited } => {
                let line = format!(
                    "waiting for the migration lock on {lock}, held by {holder} ({} s so far)",
                    waited.as_secs()
                );
                match bar.as_ref() {
                    Some(pb) => pb.println(line),
                    None => eprintln!("{line}"),
                }
            }
            Event::Batch { step, batches, reached, end } => {
                let mut told = self.told.lock().unwrap_or_else(|e| e.into_inner());
                if told.is_some_and(|t| t.elapsed() < Duration::from_secs(2)) {
                    return;
                }
                *told = Some(std::time::Instant::now());
                let line = format!("{step}: {batches} batch(es) done, up to key {reached} of {end}");
                match bar.as_ref() {
                    Some(pb) => pb.set_message(line),
                    None => eprintln!("{line}"),
                }
            }
            Event::CreatedTable { table } => match bar.as_ref() {
                Some(pb) => pb.println(format!("created the version table {table}")),
                None => out(format!("created the version table {table}")),
            },
            Event::Finished(done) => match bar.as_ref() {
                Some(pb) => {
                    pb.println(done.to_string());
                    pb.inc(1);
                }
                None => out(done),
            },
            _ => {}
        }
    }

    fn finish(&self) {
        if let Some(pb) = self.bar.lock().unwrap_or_else(|e| e.into_inner()).take() {
            pb.finish_and_clear();
        }
    }
}

/// One event of a run as a JSON object (`--json`), or `None` for the ones
/// only a progress bar shows.
fn event_json(event: &Event<'_>) -> Option<serde_json::Value> {
    Some(match event {
        Event::CreatedTable { table } => json!({"event": "created_table", "table": table}),
        Event::Finished(done) => json!({
            "event": "finished",
            "verb": done.verb,
            "version": done.version.get(),
            "branch": done.branch.as_str(),
            "name": done.name,
            "duration_ms": done.duration.as_millis() as u64,
            "skipped": done.skipped,
        }),
        Event::LockRetry { step, statement, attempt, waited, retry_in, blockers } => json!({
            "event": "lock_retry",
            "step": step.to_string(),
            "version": step.version().get(),
            "statement": statement,
            "attempt": attempt,
            "waited_ms": waited.as_millis() as u64,
            "retry_in_ms": retry_in.as_millis() as u64,
            "blockers": blockers.iter().map(|b| json!({
                "pid": b.pid,
                "application": b.application,
                "state": b.state,
                "transaction_age_ms": b.transaction_age.map(|a| a.as_millis() as u64),
                "query": b.query,
            })).collect::<Vec<_>>(),
        }),
        Event::Waiting { lock, holder, waited } => {
            json!({"event": "waiting", "lock": lock, "holder": holder, "waited_ms": waited.as_millis() as u64})
        }
        _ => return None,
    })
}

fn version_json(info: &VersionInfo) -> serde_json::Value {
    let v = |v: Option<Version>| v.map(Version::get);
    json!({
        "managed": info.managed,
        "version": info.current.get(),
        "highest": info.highest.get(),
        "initial": v(info.initial),
        "expand": v(info.expand),
        "contract": v(info.contract),
        "latest": info.latest.get(),
        "release": info.release.as_ref().map(|(name, _)| name),
        "rollout_under_way": info.release.as_ref().is_some_and(|(_, pending)| *pending),
        "cluster": info.cluster,
    })
}

fn verdict_json(verdict: &Verdict) -> serde_json::Value {
    let mut value = json!({
        "verdict": verdict.name(),
        "may_serve": verdict.may_serve(),
        "exit_code": verdict.exit_code(),
        "message": verdict.to_string(),
    });
    let list = match verdict {
        Verdict::ContractPending { pending } => Some(("pending", pending.clone())),
        Verdict::NewerExpand { unknown } => Some(("unknown_expand", unknown.clone())),
        Verdict::Outdated { missing } => Some(("missing", missing.clone())),
        Verdict::Unfinished { started } => Some(("started", started.clone())),
        Verdict::Incompatible { unknown_contract, divergent } => {
            value["divergent"] = json!(divergent.iter().map(|d| d.to_string()).collect::<Vec<_>>());
            Some(("unknown_contract", unknown_contract.clone()))
        }
        _ => None,
    };
    if let Some((key, items)) = list {
        value[key] = json!(items.iter().map(ToString::to_string).collect::<Vec<_>>());
    }
    value
}

fn rows_json(rows: &[status::Row]) -> serde_json::Value {
    rows.iter()
        .map(|r| {
            json!({
                "version": r.version.get(),
                "branch": r.branch.as_str(),
                "release": r.release,
                "name": r.name,
                "state": r.state.as_str(),
                "applied_at": r.applied_at,
                "duration_ms": r.duration_ms,
                "stopped": r.stopped.as_ref().map(|s| json!({
                    "statements_done": s.done,
                    "statements": s.of,
                    "failure": s.failure,
                    "text": s.to_string(),
                })),
            })
        })
        .collect()
}

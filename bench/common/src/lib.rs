//! What every tool binary of the benchmark shares.
//!
//! A tool is one small program per migration library:
//!
//! ```text
//! tool-NAME <sqlite|postgres|mysql> <database> <migrations dir> [--op sync|sync-one-tx|check] [--count]
//! ```
//!
//! `database` is a SQLite file, a PostgreSQL URL or a MySQL URL (the
//! measurements run it against MariaDB). The tool loads the
//! migrations (timed apart, as `load_ms`), connects (`connect_ms`), then
//! times exactly one operation (`ms`) and prints one JSON line:
//!
//! - `sync`: apply every pending migration, each in its own transaction
//!   (the library's default); on an up-to-date database, "nothing to do";
//! - `sync-one-tx`: the same in one transaction for the whole run, where the
//!   library has such a mode;
//! - `check`: the startup check: read what is applied and say whether the
//!   database is up to date.
//!
//! With `--count`, the tool brackets the operation with two marker queries
//! (`SELECT 'bench:start'`, `SELECT 'bench:end'`): on SQLite it counts the
//! statements run between them itself (see [`sqlite_trace`]); on PostgreSQL
//! and MySQL the driver's protocol proxies count what goes over the wire.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[cfg(feature = "sqlite")]
pub mod sqlite_trace;

/// The marker sent before the timed operation in `--count` mode.
pub const START: &str = "SELECT 'bench:start'";
/// The marker sent after it.
pub const END: &str = "SELECT 'bench:end'";

/// The database engine.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Engine {
    /// A SQLite file.
    Sqlite,
    /// A PostgreSQL database.
    Postgres,
    /// A MySQL or MariaDB database (the MySQL protocol).
    Mysql,
}

impl Engine {
    /// `sqlite` or `postgres`.
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Sqlite => "sqlite",
            Engine::Postgres => "postgres",
            Engine::Mysql => "mysql",
        }
    }
}

/// The timed operation.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Apply what is pending, one transaction per migration.
    Sync,
    /// Apply what is pending in one transaction.
    SyncOneTx,
    /// The startup check.
    Check,
}

impl Op {
    /// The name on the command line and in the JSON line.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Sync => "sync",
            Op::SyncOneTx => "sync-one-tx",
            Op::Check => "check",
        }
    }
}

/// A tool's command line.
#[derive(Clone, Debug)]
pub struct Args {
    /// The tool's name, for the JSON line.
    pub tool: &'static str,
    /// The engine.
    pub engine: Engine,
    /// A SQLite file, a PostgreSQL URL or a MySQL URL.
    pub database: String,
    /// The migrations, in the tool's own layout.
    pub dir: PathBuf,
    /// The operation.
    pub op: Op,
    /// Bracket the operation with markers and count its statements.
    pub count: bool,
}

impl Args {
    /// Parses `std::env::args`, or prints the usage and exits with 2.
    pub fn parse(tool: &'static str) -> Args {
        let usage = || -> ! {
            eprintln!(
                "usage: tool-{tool} <sqlite|postgres|mysql> <database> <migrations dir> [--op sync|sync-one-tx|check] [--count]"
            );
            std::process::exit(2)
        };
        let mut positional = Vec::new();
        let mut op = Op::Sync;
        let mut count = false;
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--op" => {
                    op = match args.next().as_deref() {
                        Some("sync") => Op::Sync,
                        Some("sync-one-tx") => Op::SyncOneTx,
                        Some("check") => Op::Check,
                        _ => usage(),
                    }
                }
                "--count" => count = true,
                "-h" | "--help" => usage(),
                _ => positional.push(arg),
            }
        }
        let [engine, database, dir] = <[String; 3]>::try_from(positional).unwrap_or_else(|_| usage());
        let engine = match engine.as_str() {
            "sqlite" => Engine::Sqlite,
            "postgres" => Engine::Postgres,
            "mysql" => Engine::Mysql,
            _ => usage(),
        };
        Args { tool, engine, database, dir: PathBuf::from(dir), op, count }
    }

    /// A report for this run, to fill in.
    pub fn report(&self) -> Report {
        Report {
            tool: self.tool,
            engine: self.engine,
            op: self.op,
            migrations: 0,
            applied: None,
            up_to_date: None,
            rows: None,
            ms: None,
            load_ms: None,
            connect_ms: None,
            statements: None,
            error: None,
        }
    }
}

/// The JSON line a tool prints.
#[derive(Clone, Debug)]
pub struct Report {
    /// The tool.
    pub tool: &'static str,
    /// The engine.
    pub engine: Engine,
    /// The operation.
    pub op: Op,
    /// How many migrations the tool loaded.
    pub migrations: usize,
    /// How many the operation applied (sync).
    pub applied: Option<u64>,
    /// What the check said (check), or whether nothing was pending (sync).
    pub up_to_date: Option<bool>,
    /// Rows of the version table after the operation (read untimed).
    pub rows: Option<u64>,
    /// The timed operation, in milliseconds.
    pub ms: Option<f64>,
    /// Loading the migrations from the directory (not in `ms`).
    pub load_ms: Option<f64>,
    /// Opening the connection and warming it (not in `ms`).
    pub connect_ms: Option<f64>,
    /// SQLite statements between the markers (`--count`; on PostgreSQL and
    /// MySQL the driver's proxy counts them).
    pub statements: Option<u64>,
    /// What went wrong; the tool then exits with 1.
    pub error: Option<String>,
}

impl Report {
    /// The report as one line of JSON.
    pub fn to_json(&self) -> String {
        let mut s = String::from("{");
        let _ = write!(s, "\"tool\":{},", quote(self.tool));
        let _ = write!(s, "\"engine\":{},", quote(self.engine.as_str()));
        let _ = write!(s, "\"op\":{},", quote(self.op.as_str()));
        let _ = write!(s, "\"migrations\":{}", self.migrations);
        let opt_u = |s: &mut String, k: &str, v: Option<u64>| {
            if let Some(v) = v {
                let _ = write!(s, ",\"{k}\":{v}");
            }
        };
        let opt_f = |s: &mut String, k: &str, v: Option<f64>| {
            if let Some(v) = v {
                let _ = write!(s, ",\"{k}\":{v:.4}");
            }
        };
        opt_u(&mut s, "applied", self.applied);
        if let Some(b) = self.up_to_date {
            let _ = write!(s, ",\"up_to_date\":{b}");
        }
        opt_u(&mut s, "rows", self.rows);
        opt_f(&mut s, "ms", self.ms);
        opt_f(&mut s, "load_ms", self.load_ms);
        opt_f(&mut s, "connect_ms", self.connect_ms);
        opt_u(&mut s, "statements", self.statements);
        if let Some(e) = &self.error {
            let _ = write!(s, ",\"error\":{}", quote(e));
        }
        s.push('}');
        s
    }

    /// Prints the line; exits with 1 if the run failed.
    pub fn finish(self) -> ! {
        println!("{}", self.to_json());
        std::process::exit(if self.error.is_some() { 1 } else { 0 })
    }

    /// The library has no such operation: prints the line and exits with 3,
    /// which the driver reads as "skip this tool here".
    pub fn unsupported(mut self, what: &str) -> ! {
        self.error = Some(format!("unsupported: {what}"));
        println!("{}", self.to_json());
        std::process::exit(3)
    }

    /// Records an error and finishes.
    pub fn fail(mut self, what: &str, e: impl std::fmt::Display) -> ! {
        self.error = Some(format!("{what}: {e}"));
        self.finish()
    }
}

/// A JSON string literal.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Runs `f` and returns its result with the time it took, in milliseconds.
pub fn timed<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let start = Instant::now();
    let out = f();
    (out, start.elapsed().as_secs_f64() * 1e3)
}

/// One migration read from a directory by a tool that has no loader of its
/// own (the raw floors, diesel's embedded path).
#[derive(Clone, Debug)]
pub struct RawMigration {
    /// The version number.
    pub version: i64,
    /// The file (or directory) name without `.sql`: `00001_create_t1`.
    pub id: String,
    /// The up script.
    pub sql: String,
}

/// Reads the `flat` layout: `dir/00001_create_t1.sql`, in version order.
pub fn read_flat(dir: &Path) -> std::io::Result<Vec<RawMigration>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let Some(file) = path.file_name().and_then(|f| f.to_str()) else { continue };
        let Some(id) = file.strip_suffix(".sql") else { continue };
        out.push(RawMigration {
            version: version_of(id, &path)?,
            id: id.to_string(),
            sql: std::fs::read_to_string(&path)?,
        });
    }
    out.sort_by_key(|m| m.version);
    Ok(out)
}

/// Reads diesel's layout: `dir/00001_create_t1/up.sql`, in version order.
pub fn read_diesel(dir: &Path) -> std::io::Result<Vec<RawMigration>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let up = path.join("up.sql");
        if !up.is_file() {
            continue;
        }
        let Some(id) = path.file_name().and_then(|f| f.to_str()) else { continue };
        out.push(RawMigration {
            version: version_of(id, &path)?,
            id: id.to_string(),
            sql: std::fs::read_to_string(&up)?,
        });
    }
    out.sort_by_key(|m| m.version);
    Ok(out)
}

fn version_of(id: &str, path: &Path) -> std::io::Result<i64> {
    id.split('_').next().and_then(|v| v.parse().ok()).ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{}: no version number", path.display()))
    })
}

/// Builds a tokio runtime for one connection on this thread.
#[macro_export]
macro_rules! block_on {
    ($fut:expr) => {
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime").block_on($fut)
    };
}

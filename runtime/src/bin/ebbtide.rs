//! `ebbtide`: the standalone command line, working on a migrations
//! directory at run time with the same rules `embed_migrations!` applies at
//! build time.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ebbtide::cli::{Command, Options};
use ebbtide::{Branch, Migrations};
use ebbtide_core::{Diagnostics, Dialect};

/// Expand/contract SQL migrations for zero-downtime rolling upgrades.
///
/// A rolling upgrade: `ebbtide sync --expand`, deploy the new release
/// everywhere, `ebbtide sync --contract`.
#[derive(Parser)]
#[command(name = "ebbtide", version, about, long_about)]
struct Cli {
    /// The migrations directory (holding initial/, expand/ and contract/).
    #[arg(long, global = true, default_value = "migrations", value_name = "DIR")]
    dir: PathBuf,
    /// The engine the migrations are written for, which decides how their
    /// SQL is read (MySQL's quotes and comments differ): sqlite, postgres,
    /// postgresql, mysql or mariadb. Default: mysql for a mysql:// or
    /// mariadb:// --database, the PostgreSQL and SQLite rules otherwise.
    #[arg(long, global = true, env = "EBBTIDE_ENGINE", value_name = "NAME", value_parser = engine)]
    engine: Option<Dialect>,
    #[command(flatten)]
    options: Options,
    #[command(subcommand)]
    command: Standalone,
}

#[derive(Subcommand)]
enum Standalone {
    #[command(flatten)]
    Db(Command),
    /// Create the next migration file in a branch and print its path.
    Revision {
        /// An additive migration, safe while the old release runs.
        #[arg(long, required_unless_present_any = ["contract", "rebuild"], conflicts_with_all = ["contract", "rebuild"])]
        expand: bool,
        /// A destructive migration, run once the old release is gone.
        #[arg(long)]
        contract: bool,
        /// What the migration does, e.g. "add users email".
        #[arg(long, short)]
        message: String,
        /// Also create the down script.
        #[arg(long)]
        reversible: bool,
        /// Starts a release: the migration declares `-- ebbtide: release
        /// NAME`. Once a project declares releases, the declarations alone
        /// delimit them (otherwise each contract migration ends one); an
        /// expand migration may rewrite only what its own release added.
        #[arg(long, value_name = "NAME")]
        release: Option<String>,
        /// A contract migration that rebuilds TABLE the way SQLite
        /// documents it (new table, copy, drop, rename), written with the
        /// table's current definition, indexes, triggers and views as the
        /// migrations leave it.
        #[arg(long, value_name = "TABLE")]
        rebuild: Option<String>,
    },
    /// Check the migrations directory with every build-time rule, plus
    /// lock-risk advice: MySQL's for MySQL migrations (--engine), PostgreSQL's
    /// otherwise; exit 1 on any error.
    Lint,
}

fn engine(name: &str) -> Result<Dialect, String> {
    Dialect::parse(name).map_err(|e| e.to_string())
}

impl Cli {
    /// The dialect the migrations are read in: `--engine`, or what the
    /// database URL's scheme names.
    fn dialect(&self) -> Dialect {
        let scheme = self.options.database.as_deref().and_then(|url| url.split_once(':')).map(|(scheme, _)| scheme);
        match (self.engine, scheme) {
            (Some(dialect), _) => dialect,
            (None, Some(scheme)) if scheme.eq_ignore_ascii_case("mysql") || scheme.eq_ignore_ascii_case("mariadb") => {
                Dialect::Mysql
            }
            (None, _) => Dialect::Portable,
        }
    }
}

/// Reads and validates the migrations directory with the build-time rules,
/// in `dialect`; on success, also the warnings.
fn load(dir: &Path, display: &str, dialect: Dialect) -> Result<(Migrations, Diagnostics), Diagnostics> {
    let loaded = ebbtide_core::load_with(dir, display, dialect)?;
    Ok((Migrations::from_vec(loaded.migrations), loaded.warnings))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    ebbtide::cli::init_tracing(&cli.options);
    let display = cli.dir.display().to_string();
    let dialect = cli.dialect();
    match &cli.command {
        Standalone::Revision { expand: _, contract, message, reversible, release, rebuild } => {
            let branch = if *contract || rebuild.is_some() { Branch::Contract } else { Branch::Expand };
            let body = match rebuild {
                Some(table) => match rebuild_skeleton(&cli.dir, &display, dialect, table) {
                    Ok(body) => Some(body),
                    Err(e) => {
                        eprintln!("error: {e}");
                        return ExitCode::from(1);
                    }
                },
                None => None,
            };
            match revision(&cli.dir, branch, message, *reversible, release.as_deref(), body.as_deref()) {
                Ok(paths) => {
                    for p in paths {
                        ebbtide::cli::out(p.display());
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Standalone::Lint => lint(&cli.dir, &display, dialect, cli.options.quiet),
        Standalone::Db(command) => match load(&cli.dir, &display, dialect) {
            Ok((migrations, _warnings)) => ebbtide::cli::execute(&cli.options, command, &migrations),
            Err(diagnostics) => {
                for d in diagnostics.errors() {
                    eprintln!("error: {d}");
                }
                ExitCode::from(1)
            }
        },
    }
}

fn lint(dir: &Path, display: &str, dialect: Dialect, quiet: bool) -> ExitCode {
    match load(dir, display, dialect) {
        Ok((migrations, warnings)) => {
            // The lock-risk advice of the engine the migrations are written for.
            let risks = ebbtide_core::lint::lock_risks_with(migrations.as_slice(), dialect);
            for w in warnings.warnings().chain(&risks) {
                eprintln!("warning: {w}");
            }
            if !quiet {
                ebbtide::cli::out(format_args!(
                    "{display}: {} migrations, no errors, {} warning(s)",
                    migrations.len(),
                    risks.len() + warnings.warnings().count()
                ));
            }
            ExitCode::SUCCESS
        }
        Err(diagnostics) => {
            for d in diagnostics.0.iter() {
                let kind = if d.is_error() { "error" } else { "warning" };
                eprintln!("{kind}: {d}");
            }
            eprintln!("{display}: {} error(s)", diagnostics.errors().count());
            ExitCode::from(1)
        }
    }
}

/// Creates `NNNN_slug.sql` (and `.down.sql`) in the branch directory, with
/// the next version after every file of every branch; `body`, when given,
/// is the up script after its first line.
fn revision(
    dir: &Path,
    branch: Branch,
    message: &str,
    reversible: bool,
    release: Option<&str>,
    body: Option<&str>,
) -> Result<Vec<PathBuf>, String> {
    if let Some(name) = release
        && !name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
    {
        return Err(format!("the release name {name:?} is not letters, digits, `.`, `-` and `_`"));
    }
    let mut slug = String::new();
    for c in message.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('_') {
            slug.push('_');
        }
    }
    let slug = slug.trim_end_matches('_');
    if slug.is_empty() {
        return Err(format!("the message {message:?} gives no name: use letters or digits"));
    }
    let mut latest = 0;
    for b in Branch::ALL {
        let Ok(entries) = std::fs::read_dir(dir.join(b.as_str())) else { continue };
        for entry in entries.flatten() {
            if let Ok(parsed) = ebbtide_core::name::parse(&entry.file_name().to_string_lossy()) {
                latest = latest.max(parsed.version.get());
            }
        }
    }
    let branch_dir = dir.join(branch.as_str());
    std::fs::create_dir_all(&branch_dir).map_err(|e| format!("cannot create {}: {e}", branch_dir.display()))?;
    let stem = format!("{:04}_{slug}", latest + 1);
    let rules = match branch {
        Branch::Contract => {
            "-- Contract migration: runs once no instance of the previous release is left.\n\
             -- Only destructive changes: DROP, SET NOT NULL, type changes, UPDATE/DELETE of old data.\n\
             -- Nothing the new release needs may be created here: that belongs in expand/.\n"
        }
        _ => {
            "-- Expand migration: runs while the previous release still serves.\n\
             -- Only additive changes: CREATE, ADD COLUMN (nullable or with a DEFAULT), INSERT,\n\
             -- and backfills of columns or tables that expand migrations added.\n\
             -- Drops, renames and type changes belong in contract/.\n"
        }
    };
    let up = branch_dir.join(format!("{stem}.sql"));
    let mut created = vec![up.clone()];
    let body = match body {
        Some(body) => body.to_string(),
        None => format!("{rules}{}\n", ebbtide_core::TEMPLATE_MARK),
    };
    let release = release.map(|name| format!("-- ebbtide: release {name}\n")).unwrap_or_default();
    write_new(&up, &format!("-- {message}\n{release}{body}\n"))?;
    if reversible {
        let down = branch_dir.join(format!("{stem}.down.sql"));
        write_new(&down, &format!("-- Reverts {stem}: {message}\n\n"))?;
        created.push(down);
    }
    Ok(created)
}

/// The body of a migration rebuilding `table` as SQLite documents it,
/// filled with what the migrations in `dir` make of the table (applied to
/// an in-memory SQLite database), or with placeholders where they do not
/// apply to SQLite.
fn rebuild_skeleton(dir: &Path, display: &str, dialect: Dialect, table: &str) -> Result<String, String> {
    let head = "-- ebbtide: foreign-keys-off\n\
                --\n\
                -- Rebuilds the table the way SQLite documents it. ebbtide turns foreign keys\n\
                -- off before this migration's transaction, checks every foreign key before\n\
                -- it commits (a violation rolls it back and names the row), and turns them\n\
                -- back on afterwards. Change the new definition, and the copy to match.\n\n";
    let placeholder = |why: &str| {
        format!(
            "{head}-- {why}\n\
             CREATE TABLE {table}_new (\n    -- the new definition of {table}\n);\n\
             INSERT INTO {table}_new (/* columns */) SELECT /* columns */ FROM {table};\n\
             DROP TABLE {table};\n\
             ALTER TABLE {table}_new RENAME TO {table};\n\
             -- Create again the indexes, triggers and views of {table}.\n"
        )
    };
    let migrations = match load(dir, display, dialect) {
        Ok((migrations, _)) => migrations,
        Err(_) => return Ok(placeholder(&format!("({display} does not load: run `ebbtide lint`)"))),
    };
    let conn = rusqlite::Connection::open_in_memory().map_err(|e| e.to_string())?;
    let migrator = ebbtide::Migrator::new(&migrations);
    if let Err(e) = migrator.sqlite(&conn).sync(ebbtide::Scope::All) {
        let first = e.to_string().lines().next().unwrap_or_default().to_string();
        return Ok(placeholder(&format!("(the migrations do not apply to SQLite, so write the definition: {first})")));
    }
    let strings = |sql: &str| -> Result<Vec<String>, String> {
        let mut stmt = conn.prepare(sql).map_err(|e| e.to_string())?;
        let rows = stmt.query_map([table], |row| row.get::<_, String>(0)).map_err(|e| e.to_string())?;
        rows.collect::<Result<_, _>>().map_err(|e| e.to_string())
    };
    let Some(definition) = strings("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?1")?.pop() else {
        return Err(format!("table {table} does not exist once the migrations in {display} are applied"));
    };
    let columns = strings("SELECT name FROM pragma_table_info(?1) ORDER BY cid")?.join(", ");
    let dependents = strings(
        "SELECT sql || ';' FROM sqlite_master WHERE tbl_name = ?1 AND type IN ('index', 'trigger') AND sql IS NOT NULL ORDER BY type, name",
    )?;
    // Views that name the table: the rename checks them against a table
    // that is gone, so they are dropped first and created again.
    let views: Vec<(String, String)> = {
        let mut stmt = conn
            .prepare("SELECT name, sql FROM sqlite_master WHERE type = 'view' ORDER BY name")
            .map_err(|e| e.to_string())?;
        let rows = stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?))).map_err(|e| e.to_string())?;
        rows.collect::<Result<Vec<(String, String)>, _>>()
            .map_err(|e| e.to_string())?
            .into_iter()
            .filter(|(_, sql)| names(sql, table))
            .collect()
    };
    let body = &definition[definition.find('(').unwrap_or(definition.len())..];
    let mut out = format!(
        "{head}CREATE TABLE {table}_new {body};\nINSERT INTO {table}_new ({columns}) SELECT {columns} FROM {table};\n"
    );
    for (view, _) in &views {
        out.push_str(&format!("DROP VIEW {view};\n"));
    }
    out.push_str(&format!("DROP TABLE {table};\nALTER TABLE {table}_new RENAME TO {table};\n"));
    for sql in dependents.iter().map(String::as_str).chain(views.iter().map(|(_, sql)| sql.as_str())) {
        out.push_str(sql.trim_end_matches(';'));
        out.push_str(";\n");
    }
    Ok(out)
}

/// Whether `sql` holds `word` as a whole word, in any case.
fn names(sql: &str, word: &str) -> bool {
    let sql = sql.to_ascii_lowercase();
    let word = word.to_ascii_lowercase();
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    sql.match_indices(&word)
        .any(|(at, _)| !sql[..at].ends_with(is_word) && !sql[at + word.len()..].starts_with(is_word))
}

fn write_new(path: &Path, text: &str) -> Result<(), String> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    file.write_all(text.as_bytes()).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

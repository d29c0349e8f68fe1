//! `ebbtide`: the standalone command line, working on a migrations
//! directory at run time with the same rules `embed_migrations!` applies at
//! build time.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ebbtide::autogenerate::{self, Hints};
use ebbtide::cli::{Command, Options};
use ebbtide::revision::revision;
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
        #[arg(long, required_unless_present_any = ["contract", "rebuild", "autogenerate"], conflicts_with_all = ["contract", "rebuild", "autogenerate"])]
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
        #[arg(long, value_name = "TABLE", conflicts_with = "autogenerate")]
        rebuild: Option<String>,
        /// Write the expand and contract migrations that take the schema
        /// the migrations build to the one the schema file declares, each
        /// statement in the branch the rules put it in. Both are applied to
        /// scratch databases and their catalogs compared: SQLite in memory,
        /// PostgreSQL on --dev-database.
        #[arg(long, conflicts_with_all = ["contract", "reversible"])]
        autogenerate: bool,
        #[command(flatten)]
        wanted: Wanted,
        /// `TABLE.OLD=NEW`: column OLD is renamed NEW (a new type too, if
        /// the schema file says so). Expand adds NEW, backfills it and keeps
        /// both in sync with triggers; contract drops OLD.
        #[arg(long, value_name = "TABLE.OLD=NEW", requires = "autogenerate")]
        rename: Vec<String>,
        /// `TABLE.COLUMN=EXPRESSION`: while both releases run, COLUMN (added
        /// or dropped by the schema file) is computed from the other
        /// release's columns by EXPRESSION, e.g. a column split:
        /// `--derive "users.first_name=split_part(name, ' ', 1)"`.
        #[arg(long, value_name = "TABLE.COLUMN=EXPRESSION", requires = "autogenerate")]
        derive: Vec<String>,
        /// `TABLE.COLUMN`: the column is dropped, not renamed into one the
        /// schema file adds; `TABLE`: likewise for a whole table.
        #[arg(long, value_name = "TABLE[.COLUMN]", requires = "autogenerate")]
        drop: Vec<String>,
    },
    /// Print what separates the schema the migrations build from the
    /// schema file; with --database, what separates that live database
    /// from what its recorded migrations build (changes made by hand).
    /// Exit 0: none; 2: differences; 1: error.
    Diff {
        #[command(flatten)]
        wanted: Wanted,
    },
    /// Write the migrations of refinery, sqlx or diesel_migrations into
    /// initial/ of --dir (which must hold no migrations yet), in the same
    /// order, with their down scripts and no-transaction markers, and a
    /// mapping file (imported.json) of which original became which
    /// version. Nothing is written unless all of it loads.
    Import {
        /// The tool the migrations are written for.
        #[arg(long, value_name = "refinery|sqlx|diesel", value_parser = tool)]
        from: ebbtide::adopt::Tool,
        /// That tool's migrations directory.
        path: PathBuf,
    },
    /// Put a database that refinery, sqlx or diesel manages under
    /// ebbtide's control, once its migrations are imported: check that the
    /// tool's history table holds exactly the imported migrations,
    /// unchanged, then record them in ebbtide's version table in one
    /// transaction, running nothing. The tool's table is left as it is, so
    /// the old release keeps working beside the new one.
    Adopt {
        /// The tool that manages the database (as imported.json says).
        #[arg(long, value_name = "refinery|sqlx|diesel", value_parser = tool)]
        from: ebbtide::adopt::Tool,
        /// The tool's history table, when it is not the tool's default
        /// (refinery_schema_history, _sqlx_migrations, __diesel_schema_migrations)
        /// nor the one sqlx.toml names.
        #[arg(long, value_name = "NAME")]
        history_table: Option<String>,
        /// Print the SQL it would run, and change nothing.
        #[arg(long)]
        sql: bool,
        /// Also compare the database's schema with what the imported
        /// migrations build on a scratch database (SQLite: in memory;
        /// PostgreSQL: on --dev-database), and refuse on any difference:
        /// the way to see an edited diesel migration, which diesel records
        /// no checksum of, or a change made by hand.
        #[arg(long)]
        compare_schema: bool,
        /// The PostgreSQL server for --compare-schema's scratch database
        /// (read only with --compare-schema).
        #[arg(long, env = "EBBTIDE_DEV_DATABASE", value_name = "URL")]
        dev_database: Option<String>,
        #[command(flatten)]
        lock: ebbtide::cli::LockOptions,
        #[command(flatten)]
        table: ebbtide::cli::TableOption,
    },
    /// Check the migrations directory with every build-time rule, plus
    /// lock-risk advice: MySQL's for MySQL migrations (--engine), PostgreSQL's
    /// otherwise; exit 1 on any error.
    Lint {
        /// The migrations run on a MariaDB Galera cluster: also warn about
        /// DDL that stalls writes on every node while it runs (TOI).
        #[arg(long)]
        galera: bool,
    },
}

/// The schema file, and where to apply it.
#[derive(clap::Args)]
struct Wanted {
    /// The schema file: plain `CREATE ...` statements for one engine,
    /// the schema the release wants.
    #[arg(long, default_value = "schema.sql", value_name = "PATH")]
    schema: PathBuf,
    /// A PostgreSQL server on which to create (and drop) the scratch
    /// databases, e.g. postgres://postgres@localhost/postgres. Without
    /// it, the scratch databases are SQLite, in memory.
    #[arg(long, env = "EBBTIDE_DEV_DATABASE", value_name = "URL")]
    dev_database: Option<String>,
}

impl Wanted {
    fn engine(&self) -> Result<autogenerate::Engine, String> {
        dev_engine(self.dev_database.as_deref())
    }

    fn read(&self) -> Result<String, String> {
        std::fs::read_to_string(&self.schema).map_err(|e| {
            format!(
                "cannot read the schema file {}: {e} (write the schema the release wants there, or name it with --schema)",
                self.schema.display()
            )
        })
    }
}

/// Where scratch databases are made: PostgreSQL's on the development
/// server `dev` names, SQLite's in memory without one.
fn dev_engine(dev: Option<&str>) -> Result<autogenerate::Engine, String> {
    let Some(url) = dev else { return Ok(autogenerate::Engine::Sqlite) };
    match ebbtide::registry::engine(url).map_err(|e| e.to_string())?.name {
        "postgres" => Ok(autogenerate::Engine::Postgres(url.to_string())),
        "sqlite" => Ok(autogenerate::Engine::Sqlite),
        _ => Err(format!(
            "--dev-database {}: autogenerate and diff work on SQLite (in memory) or PostgreSQL (postgres://...)",
            ebbtide::registry::redact(url)
        )),
    }
}

/// The scratch databases that rebuild what the live database at `url`
/// holds, to compare their schemas: SQLite's in memory, PostgreSQL's on a
/// development server (`dev`, from [`dev_engine`]).
fn scratch_for(url: &str, dev: autogenerate::Engine) -> Result<autogenerate::Engine, String> {
    match (ebbtide::registry::engine(url).map_err(|e| e.to_string())?.name, dev) {
        ("sqlite", _) => Ok(autogenerate::Engine::Sqlite),
        ("postgres", dev @ autogenerate::Engine::Postgres(_)) => Ok(dev),
        ("postgres", _) => Err("to compare a PostgreSQL database with its migrations, name a development server \
                                for the scratch database with --dev-database"
            .to_string()),
        (other, _) => {
            Err(format!("comparing a database with its migrations works on SQLite and PostgreSQL, not {other}"))
        }
    }
}

fn tool(name: &str) -> Result<ebbtide::adopt::Tool, String> {
    ebbtide::adopt::Tool::parse(name)
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
        Standalone::Revision { autogenerate: true, message, release, wanted, rename, derive, drop, .. } => {
            match autogenerate(&cli.dir, &display, dialect, message, release.as_deref(), wanted, rename, derive, drop) {
                Ok(code) => code,
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Standalone::Diff { wanted } => match diff(&cli, &display, dialect, wanted) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(1)
            }
        },
        Standalone::Revision { contract, message, reversible, release, rebuild, .. } => {
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
        Standalone::Import { from, path } => match ebbtide::adopt::import(*from, path, &cli.dir, dialect) {
            Ok(written) => {
                let mapping = &written.mapping;
                for m in &mapping.migrations {
                    ebbtide::cli::out(format_args!("{} <- {}", cli.dir.join(&m.file).display(), m.original.file));
                }
                if !cli.options.quiet {
                    eprintln!(
                        "imported {} {from} migrations into {display}/initial/; the mapping is in {display}/{}. \
                         Next, on each database {from} manages: ebbtide adopt --from {from} --database URL",
                        mapping.migrations.len(),
                        ebbtide::adopt::MAPPING_FILE
                    );
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(1)
            }
        },
        Standalone::Adopt { from, history_table, sql, compare_schema, dev_database, lock, table } => {
            let compare = compare_schema.then_some(dev_database.as_deref());
            match adopt(&cli, &display, dialect, *from, history_table.as_deref(), *sql, compare, lock, table) {
                Ok(code) => code,
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Standalone::Lint { galera } => {
            let dialect = if *galera { Dialect::Mysql } else { dialect };
            lint(&cli.dir, &display, dialect, *galera, cli.options.quiet)
        }
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

/// `adopt`: records the imported migrations, or says what differs.
#[allow(clippy::too_many_arguments)]
fn adopt(
    cli: &Cli,
    display: &str,
    dialect: Dialect,
    from: ebbtide::adopt::Tool,
    history_table: Option<&str>,
    sql: bool,
    compare_schema: Option<Option<&str>>,
    lock: &ebbtide::cli::LockOptions,
    table: &ebbtide::cli::TableOption,
) -> Result<ExitCode, String> {
    let url = cli
        .options
        .database
        .as_deref()
        .ok_or("no database given: pass --database URL or set DATABASE_URL (e.g. sqlite:app.db)")?;
    let mapping = ebbtide::adopt::Mapping::read(&cli.dir).map_err(|e| e.to_string())?;
    if mapping.from != from {
        return Err(format!(
            "{display}/{} records migrations imported from {}, not {from}",
            ebbtide::adopt::MAPPING_FILE,
            mapping.from
        ));
    }
    let migrations = existing(&cli.dir, display, dialect)?;
    let migrator =
        ebbtide::Migrator::new(&migrations).table(&table.table).map_err(|e| e.to_string())?.lock_wait(lock.lock_wait);
    let engine = ebbtide::registry::engine(url).map_err(|e| e.to_string())?;

    // Opened as it is: a wrong SQLite path is an error, not a new file.
    // The records are written as the library writes them, under its lock.
    let db = (engine.open)(url, ebbtide::registry::Access::Read).map_err(|e| e.to_string())?;
    let checked = ebbtide::adopt::check(db.as_ref(), &migrator, &migrations, &cli.dir, &mapping, history_table)
        .map_err(|e| e.to_string())?;
    let adopted = match checked {
        ebbtide::adopt::Checked::Ready { head, history_table } => {
            if let Some(dev) = compare_schema {
                let scratch = scratch_for(url, dev_engine(dev)?)?;
                compare_adopted_schema(url, &scratch, &migrations, head, &history_table)?;
            }
            ebbtide::adopt::record(engine, db.as_ref(), &migrator, head, sql).map_err(|e| e.to_string())?
        }
        ebbtide::adopt::Checked::Already(head) => ebbtide::adopt::Adopted::Already(head),
        _ => return Err("an outcome of adopt's checks that this binary does not know".into()),
    };
    match adopted {
        ebbtide::adopt::Adopted::Script(script) => {
            ebbtide::cli::out(format_args!(
                "-- ebbtide adopt --from {from}: {from}'s history matches the imported migrations; this records \
                 them, running none of them"
            ));
            ebbtide::cli::out(script.trim_end());
        }
        ebbtide::adopt::Adopted::Recorded(version) => {
            ebbtide::cli::out(format_args!(
                "adopted: {from}'s {} migrations are recorded in {}, at version {version}; {from}'s table is untouched",
                mapping.migrations.len(),
                table.table
            ));
            if !cli.options.quiet {
                eprintln!(
                    "next: deploy the release that embeds {display}; new migrations go into expand/ and contract/ only"
                );
            }
        }
        ebbtide::adopt::Adopted::Already(version) => ebbtide::cli::out(format_args!(
            "nothing to do: {} already records the imported migrations, at version {version}",
            table.table
        )),
        _ => {}
    }
    Ok(ExitCode::SUCCESS)
}

/// `adopt --compare-schema`: refuses a database whose schema differs from
/// what the imported migrations build.
fn compare_adopted_schema(
    url: &str,
    scratch: &autogenerate::Engine,
    migrations: &Migrations,
    head: ebbtide::Version,
    history_table: &str,
) -> Result<(), String> {
    let imported = Migrations::from_vec(migrations.iter().filter(|m| m.version <= head).cloned().collect());
    let differences =
        autogenerate::schema_drift(url, &imported, scratch, &[history_table]).map_err(|e| e.to_string())?;
    if differences.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = differences.iter().map(|d| format!("  {d}")).collect();
    Err(format!(
        "the database's schema and what the imported migrations build differ ({} difference(s): `+` only in the \
         database, `-` only in the migrations); nothing was written:\n{}\nAn imported migration differs from the one \
         that ran (diesel records no checksum to tell), or the schema was changed by hand: make the files say what \
         ran, delete initial/ and {}, and import again",
        differences.len(),
        list.join("\n"),
        ebbtide::adopt::MAPPING_FILE
    ))
}

/// `revision --autogenerate`: writes the migrations, or says what to decide.
#[allow(clippy::too_many_arguments)]
fn autogenerate(
    dir: &Path,
    display: &str,
    dialect: Dialect,
    message: &str,
    release: Option<&str>,
    wanted: &Wanted,
    renames: &[String],
    derives: &[String],
    drops: &[String],
) -> Result<ExitCode, String> {
    let mut hints = Hints::default();
    for spec in renames {
        hints.rename(spec)?;
    }
    for spec in derives {
        hints.derive(spec)?;
    }
    for spec in drops {
        hints.drop(spec)?;
    }
    let engine = wanted.engine()?;
    let schema = wanted.read()?;
    let migrations = existing(dir, display, dialect)?;
    let generated = autogenerate::generate(&migrations, &schema, &engine, &hints).map_err(|e| e.to_string())?;
    if generated.migrations.is_empty() {
        ebbtide::cli::out(format_args!(
            "{}: nothing to do, the migrations build what it declares",
            wanted.schema.display()
        ));
        return Ok(ExitCode::SUCCESS);
    }
    let written = autogenerate::write(dir, message, release, &generated.migrations)?;
    for p in &written.paths {
        ebbtide::cli::out(p.display());
    }
    let fill_ins = &written.fill_ins;
    for place in fill_ins {
        eprintln!(
            "note: {place}: write the backfill's value in place of the placeholder; the build refuses it until then"
        );
    }
    if !generated.unreached.is_empty() {
        eprintln!("warning: these differences remain once the migrations written are applied; write them by hand:");
        for d in &generated.unreached {
            eprintln!("  {d}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The migrations of `dir`, which must load: autogenerate starts from them.
fn existing(dir: &Path, display: &str, dialect: Dialect) -> Result<Migrations, String> {
    if !dir.exists() {
        return Ok(Migrations::from_vec(Vec::new()));
    }
    load(dir, display, dialect).map(|(m, _)| m).map_err(|diagnostics| {
        let errors: Vec<String> = diagnostics.errors().map(|d| d.to_string()).collect();
        format!("{display} does not load; fix it first (`ebbtide lint`):\n{}", errors.join("\n"))
    })
}

/// `diff`: exit 0 when nothing separates the two, 2 when something does.
fn diff(cli: &Cli, display: &str, dialect: Dialect, wanted: &Wanted) -> Result<ExitCode, String> {
    let engine = wanted.engine()?;
    let migrations = existing(&cli.dir, display, dialect)?;
    let (differences, what) = match &cli.options.database {
        Some(url) => {
            let engine = scratch_for(url, engine)?;
            let differences = autogenerate::drift(url, &migrations, &engine).map_err(|e| e.to_string())?;
            (differences, format!("the database and what its recorded migrations in {display} build"))
        }
        None => {
            let schema = wanted.read()?;
            let differences = autogenerate::schema_diff(&migrations, &schema, &engine).map_err(|e| e.to_string())?;
            (differences, format!("what the migrations in {display} build and {}", wanted.schema.display()))
        }
    };
    if differences.is_empty() {
        if !cli.options.quiet {
            ebbtide::cli::out(format_args!("no difference between {what}"));
        }
        return Ok(ExitCode::SUCCESS);
    }
    for d in &differences {
        ebbtide::cli::out(d);
    }
    if !cli.options.quiet {
        eprintln!("{} difference(s) between {what}", differences.len());
    }
    Ok(ExitCode::from(2))
}

fn lint(dir: &Path, display: &str, dialect: Dialect, galera: bool, quiet: bool) -> ExitCode {
    match load(dir, display, dialect) {
        Ok((migrations, warnings)) => {
            // The lock-risk advice of the engine the migrations are written for.
            let mut risks = ebbtide_core::lint::lock_risks_with(migrations.as_slice(), dialect);
            if galera {
                risks.extend(ebbtide_core::lint::galera_risks(migrations.as_slice()));
            }
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

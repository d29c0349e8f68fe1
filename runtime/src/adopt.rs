//! Coming from refinery, sqlx or diesel_migrations.
//!
//! [`import`] writes another tool's migrations into `initial/`, in the
//! same order, with their down scripts and no-transaction markers, plus a
//! mapping file (`imported.json`) that records which original became which
//! ebbtide version and the checksum the tool recorded for it.
//!
//! [`adopt`] then puts a database that tool manages under ebbtide's control:
//! it reads the tool's history table, checks that it holds exactly the
//! imported migrations, unchanged (by the tool's own checksum where it
//! records one), and records them in ebbtide's version table in one
//! transaction, without running anything and without touching the tool's
//! table, so that instances still running the old release (with the old
//! tool embedded) keep working, and going back to it stays possible.

pub mod peer;

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use ebbtide_core::{Branch, Dialect, Version};
use serde_json::{Value, json};

use crate::dialect::TableName;
use crate::registry::{Database, Engine};
use crate::{Migrations, Migrator, Request};

pub use peer::{Directory, Original, Source, Tool};

/// The mapping file `import` writes at the top of the migrations directory.
pub const MAPPING_FILE: &str = ebbtide_core::IMPORT_MAPPING;

/// Why `import` or `adopt` did nothing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Problem {
    /// A file could not be read or written, or is not what it should be.
    #[error("{0}")]
    Files(String),
    /// The imported migrations do not load under ebbtide's rules.
    #[error("the imported migrations do not load; nothing was written:\n{0}")]
    Rules(String),
    /// The database's history and the imported migrations differ.
    #[error("{}", differences(*tool, table, list))]
    Differences {
        /// The tool.
        tool: Tool,
        /// Its history table.
        table: String,
        /// Every difference.
        list: Vec<Difference>,
    },
    /// The database is not one adopt may write: ebbtide manages it
    /// already, or the tool's history table cannot be read.
    #[error("{0}")]
    Refused(String),
    /// ebbtide itself refused or failed.
    #[error(transparent)]
    Ebbtide(#[from] crate::Error),
}

/// One way the tool's history and the imported migrations differ.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Difference {
    /// An imported migration the tool never applied here.
    NotApplied(String),
    /// A migration the tool applied here that was not imported.
    NotImported {
        /// Its version in the tool's table.
        version: String,
        /// Its name, where the tool records one.
        name: Option<String>,
    },
    /// An applied migration whose file changed since it was applied.
    Edited {
        /// The original file.
        file: String,
        /// The checksum in the tool's table.
        recorded: String,
        /// The checksum of the file.
        file_checksum: String,
    },
    /// An applied migration the tool records as failed (sqlx's `success = false`).
    Failed(String),
    /// An imported file changed since `import` wrote it.
    ChangedSinceImport(String),
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Difference::NotApplied(file) => write!(
                f,
                "{file}: not applied to this database (apply it with the old release first, or, if it never \
                 ships, remove it from the tool's directory)"
            ),
            Difference::NotImported { version, name } => write!(
                f,
                "version {version}{}: applied to this database, but not among the imported migrations (restore its \
                 file in the tool's directory)",
                name.as_deref().map(|n| format!(" ({n})")).unwrap_or_default()
            ),
            Difference::Edited { file, recorded, file_checksum } => write!(
                f,
                "{file}: edited since it was applied (checksum recorded {recorded}, file {file_checksum}); restore \
                 it as it was applied (changed line endings, e.g. git's autocrlf, count as an edit)"
            ),
            Difference::Failed(file) => write!(
                f,
                "{file}: recorded as failed (sqlx's success = false, which sqlx itself refuses to go past); undo \
                 its partial changes by hand, delete its row, and let the old release run it again"
            ),
            Difference::ChangedSinceImport(file) => {
                write!(f, "{file}: changed since `ebbtide import` wrote it; adopt records the files as imported")
            }
        }
    }
}

fn differences(tool: Tool, table: &str, list: &[Difference]) -> String {
    let mut out = format!(
        "{tool}'s history ({table}) and the imported migrations differ ({} by {}); nothing was written:",
        if list.len() == 1 { "1 difference".to_string() } else { format!("{} differences", list.len()) },
        tool.compared_by()
    );
    for d in list {
        out.push_str("\n  ");
        out.push_str(&d.to_string());
    }
    out.push_str(&format!(
        "\nOnce the tool's directory and the database agree, delete initial/ and {MAPPING_FILE} from the \
         migrations directory and run `ebbtide import` again."
    ));
    out
}

/// One imported migration: what it is in ebbtide, and what it was.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Imported {
    /// Its ebbtide version.
    pub version: Version,
    /// Its up script, relative to the migrations directory.
    pub file: String,
    /// [`checksum::of_text`](ebbtide_core::checksum::of_text) of the up
    /// script as written, to see an edit before adopt.
    pub written: String,
    /// What the tool knows of it.
    pub original: Original,
}

/// The mapping file: which original became which ebbtide version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mapping {
    /// The tool.
    pub from: Tool,
    /// The tool's directory, as given to `import`.
    pub source: String,
    /// The tool's history table, when its configuration names one (sqlx's
    /// `migrate.table-name`).
    pub history_table: Option<String>,
    /// Every imported migration, in version order.
    pub migrations: Vec<Imported>,
}

impl Mapping {
    /// The mapping file's text (JSON).
    pub fn to_json(&self) -> String {
        let migrations: Vec<Value> = self
            .migrations
            .iter()
            .map(|m| {
                json!({
                    "version": m.version.get(),
                    "file": m.file,
                    "written": m.written,
                    "original": {
                        "version": m.original.version,
                        "name": m.original.name,
                        "file": m.original.file,
                        "checksum": m.original.checksum,
                        "checksum_int8": m.original.checksum_int8,
                    },
                })
            })
            .collect();
        let doc = json!({
            "about": format!(
                "Written by `ebbtide import --from {}`: which {} migration each initial/ migration is, and the \
                 checksum {} recorded for it. `ebbtide adopt` reads it; keep it until every database is adopted.",
                self.from, self.from, self.from
            ),
            "from": self.from.name(),
            "source": self.source,
            "history_table": self.history_table,
            "migrations": migrations,
        });
        let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
        text.push('\n');
        text
    }

    /// Reads the mapping file of the migrations directory `dir`.
    pub fn read(dir: &Path) -> Result<Mapping, Problem> {
        let path = dir.join(MAPPING_FILE);
        let text = fs::read_to_string(&path).map_err(|e| {
            Problem::Files(format!(
                "cannot read {}: {e} (it is what `ebbtide import --from TOOL PATH` writes; import first)",
                path.display()
            ))
        })?;
        let bad =
            |what: &str| Problem::Files(format!("{}: {what}; write it again with `ebbtide import`", path.display()));
        let doc: Value = serde_json::from_str(&text).map_err(|e| bad(&format!("not JSON ({e})")))?;
        let from = Tool::parse(doc["from"].as_str().ok_or_else(|| bad("no `from`"))?).map_err(|e| bad(&e))?;
        let string =
            |v: &Value, key: &str| v[key].as_str().map(str::to_string).ok_or_else(|| bad(&format!("no `{key}`")));
        let mut migrations = Vec::new();
        for m in doc["migrations"].as_array().ok_or_else(|| bad("no `migrations`"))? {
            let version =
                m["version"].as_u64().and_then(|v| u32::try_from(v).ok()).ok_or_else(|| bad("a bad `version`"))?;
            let original = &m["original"];
            migrations.push(Imported {
                version: Version::new(version),
                file: string(m, "file")?,
                written: string(m, "written")?,
                original: Original {
                    version: string(original, "version")?,
                    name: string(original, "name")?,
                    file: string(original, "file")?,
                    checksum: original["checksum"].as_str().map(str::to_string),
                    checksum_int8: original["checksum_int8"].as_str().map(str::to_string),
                },
            });
        }
        Ok(Mapping {
            from,
            source: string(&doc, "source")?,
            history_table: doc["history_table"].as_str().map(str::to_string),
            migrations,
        })
    }
}

/// What [`import`] wrote.
#[derive(Debug)]
pub struct Written {
    /// The mapping, also written to the mapping file.
    pub mapping: Mapping,
    /// Each file written, up and down scripts.
    pub paths: Vec<PathBuf>,
}

/// Writes the migrations of `tool`'s directory `source` into `dir/initial/`
/// and the mapping file into `dir`, read in `dialect`. `dir` must hold no
/// migrations yet. Everything is checked (read, named, loaded under
/// ebbtide's rules) before anything is written; on an error nothing is.
pub fn import(tool: Tool, source: &Path, dir: &Path, dialect: Dialect) -> Result<Written, Problem> {
    let read = peer::read(tool, source).map_err(Problem::Files)?;
    refuse_overlap(tool, source, dir)?;
    refuse_occupied(dir)?;
    // Written into a hidden directory beside the branches first (the
    // loader skips hidden entries), loaded from there, then moved in place.
    // The first directory of `dir`'s path that does not exist yet: what a
    // failed import removes again.
    let created =
        dir.ancestors().take_while(|a| !a.as_os_str().is_empty() && !a.exists()).last().map(Path::to_path_buf);
    let staging = dir.join(format!(".ebbtide-import-{}", std::process::id()));
    // A staging directory left by a killed import of the same process id.
    let _ = fs::remove_dir_all(&staging);
    let result = stage(tool, source, &read, &staging, dialect).and_then(|mapping| {
        fs::create_dir_all(dir).map_err(|e| Problem::Files(format!("cannot create {}: {e}", dir.display())))?;
        let moved =
            |e: std::io::Error| Problem::Files(format!("cannot move the imported files into {}: {e}", dir.display()));
        fs::rename(staging.join("initial"), dir.join("initial")).map_err(moved)?;
        if let Err(e) = fs::rename(staging.join(MAPPING_FILE), dir.join(MAPPING_FILE)) {
            let _ = fs::remove_dir_all(dir.join("initial"));
            return Err(moved(e));
        }
        Ok(mapping)
    });
    let _ = fs::remove_dir_all(&staging);
    if let (Err(_), Some(created)) = (&result, &created) {
        let _ = fs::remove_dir_all(created);
    }
    let mapping = result?;
    let mut paths = Vec::new();
    for (m, s) in mapping.migrations.iter().zip(&read.sources) {
        paths.push(dir.join(&m.file));
        if s.down.is_some() {
            paths.push(dir.join(down_file(&m.file)));
        }
    }
    Ok(Written { mapping, paths })
}

/// Refuses to write into the tool's directory, or around it: the tool
/// would read ebbtide's files, and ebbtide the tool's.
fn refuse_overlap(tool: Tool, source: &Path, dir: &Path) -> Result<(), Problem> {
    let absolute = |p: &Path| {
        let mut path = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        // The part that exists, resolved (links); the rest as written.
        let mut rest = Vec::new();
        while !path.exists() {
            match (path.file_name().map(|n| n.to_os_string()), path.parent()) {
                (Some(name), Some(parent)) => {
                    rest.push(name);
                    path = parent.to_path_buf();
                }
                _ => break,
            }
        }
        let mut path = path.canonicalize().unwrap_or(path);
        path.extend(rest.iter().rev());
        path
    };
    let (source_abs, dir_abs) = (absolute(source), absolute(dir));
    match source_abs.starts_with(&dir_abs) || dir_abs.starts_with(&source_abs) {
        true => Err(Problem::Files(format!(
            "{} is {tool}'s migrations directory, or holds it, or lies inside it: import into a directory of its \
             own (--dir), so that neither tool reads the other's files",
            dir.display()
        ))),
        false => Ok(()),
    }
}

/// Refuses a migrations directory that holds migrations or a mapping already.
fn refuse_occupied(dir: &Path) -> Result<(), Problem> {
    let mut found = Vec::new();
    if dir.join(MAPPING_FILE).exists() {
        found.push(MAPPING_FILE.to_string());
    }
    for branch in [Branch::Initial, Branch::Expand, Branch::Contract] {
        if let Ok(entries) = fs::read_dir(dir.join(branch.as_str())) {
            let sql = entries.flatten().filter(|e| e.file_name().to_string_lossy().ends_with(".sql")).count();
            if sql > 0 {
                found.push(format!("{}/ ({sql} file(s))", branch.as_str()));
            }
        }
    }
    match found.is_empty() {
        true => Ok(()),
        false => Err(Problem::Files(format!(
            "{} already holds {}: import starts a migrations directory of its own; name an empty one with --dir",
            dir.display(),
            found.join(", ")
        ))),
    }
}

/// The down script beside the up script `file`.
fn down_file(file: &str) -> String {
    format!("{}.down.sql", file.trim_end_matches(".sql"))
}

fn stage(tool: Tool, source: &Path, read: &Directory, staging: &Path, dialect: Dialect) -> Result<Mapping, Problem> {
    let sources = &read.sources;
    let initial = staging.join("initial");
    fs::create_dir_all(&initial).map_err(|e| Problem::Files(format!("cannot create {}: {e}", initial.display())))?;
    let width = sources.len().to_string().len().max(4);
    let mut migrations = Vec::new();
    for (i, s) in sources.iter().enumerate() {
        let version = u32::try_from(i + 1).map_err(|_| Problem::Files("too many migrations".into()))?;
        let stem = format!("{version:0width$}_{}", snake_case(&s.original.name));
        let up = script(tool, &s.original, &s.up, s.no_transaction, "", dialect);
        let file = format!("initial/{stem}.sql");
        write(&staging.join(&file), &up)?;
        if let Some(down) = &s.down {
            let down = script(tool, &s.original, down, s.down_no_transaction, " (its down script)", dialect);
            write(&staging.join(down_file(&file)), &down)?;
        }
        migrations.push(Imported {
            version: Version::new(version),
            file,
            written: ebbtide_core::checksum::of_text(&up),
            original: s.original.clone(),
        });
    }
    let history_table = read.history_table.clone();
    let mapping = Mapping { from: tool, source: source.display().to_string(), history_table, migrations };
    write(&staging.join(MAPPING_FILE), &mapping.to_json())?;
    let shown = staging.display().to_string();
    if let Err(diagnostics) = ebbtide_core::load_with(staging, &shown, dialect) {
        // Each error names the original too: ebbtide's file has a header.
        let errors: Vec<String> = diagnostics
            .errors()
            .map(|d| {
                let text = d.to_string().replace(&format!("{shown}/"), "");
                let origin = mapping
                    .migrations
                    .iter()
                    .find(|m| text.starts_with(m.file.as_str()) || text.starts_with(&down_file(&m.file)));
                match origin {
                    Some(m) => {
                        format!("{text}\n  (imported from {tool} migration {}, below a header)", m.original.file)
                    }
                    None => text,
                }
            })
            .collect();
        return Err(Problem::Rules(errors.join("\n")));
    }
    Ok(mapping)
}

fn write(path: &Path, text: &str) -> Result<(), Problem> {
    fs::write(path, text).map_err(|e| Problem::Files(format!("cannot write {}: {e}", path.display())))
}

/// An imported script: the directive ebbtide needs, where it came from,
/// then the tool's text unchanged; the tool's checksum is of the original
/// file, so this text may differ from it where ebbtide's rules need it to:
/// - a script that runs its own `BEGIN`/`COMMIT` runs outside ebbtide's
///   transaction (`no-transaction`), as it manages its own;
/// - a script with no statement whose comments say it is unfinished
///   (`TODO`, which ebbtide refuses in a no-op) keeps a note instead.
fn script(tool: Tool, original: &Original, sql: &str, no_transaction: bool, which: &str, dialect: Dialect) -> String {
    let directive = match (no_transaction, controls_transactions(sql, dialect)) {
        (true, _) => "-- ebbtide: no-transaction\n",
        (false, true) => "-- ebbtide: no-transaction\n-- (it runs its own BEGIN and COMMIT)\n",
        (false, false) => "",
    };
    let head = format!("{directive}-- Imported from {tool} migration {}{which}.\n", original.file);
    let statements = ebbtide_core::split::split_with(sql, dialect)
        .map(|pieces| pieces.iter().any(|p| p.statement.is_some()))
        .unwrap_or(true);
    let unfinished = ["TODO", "FIXME", "XXX"].iter().any(|mark| sql.contains(mark));
    match (statements, unfinished) {
        (false, true) => format!("{head}-- It holds only comments (see the original), so it does nothing.\n"),
        _ => format!("{head}\n{sql}"),
    }
}

/// Whether a statement of `sql` begins, ends or marks a transaction.
fn controls_transactions(sql: &str, dialect: Dialect) -> bool {
    let Ok(pieces) = ebbtide_core::split::split_with(sql, dialect) else { return false };
    pieces.iter().filter_map(|p| p.statement.clone()).any(|range| {
        let statement = &sql[range];
        ebbtide_core::lexer::tokenize_with(statement, dialect).is_ok_and(|tokens| {
            ebbtide_core::classify::classify_with(statement, &tokens, dialect)
                .contains(&ebbtide_core::classify::Change::TransactionControl)
        })
    })
}

/// `AddUsers Email` as `addusers_email`: ebbtide's snake_case file names.
fn snake_case(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    let out = out.trim_end_matches('_');
    if out.is_empty() { "migration".to_string() } else { out.to_string() }
}

/// What [`adopt`] did, or would do.
#[derive(Debug)]
#[non_exhaustive]
pub enum Adopted {
    /// The migrations up to this version are recorded now.
    Recorded(Version),
    /// `--sql`: what it would run; nothing was written.
    Script(String),
    /// The version table already records every imported migration.
    Already(Version),
}

/// Puts the database `db` (of `engine`), managed by the mapping's tool,
/// under ebbtide's control: see the [module](self). `migrations` are the
/// migrations directory `dir`'s, `migrator` names the version table, and
/// `history_table` overrides the table the mapping names (sqlx's
/// `migrate.table-name`) or else the tool's default. With `dry_run`,
/// only says what it would write. [`check`] then [`record`].
pub fn adopt(
    engine: &Engine,
    db: &dyn Database,
    migrator: &Migrator<'_>,
    migrations: &Migrations,
    dir: &Path,
    history_table: Option<&str>,
    dry_run: bool,
) -> Result<Adopted, Problem> {
    let mapping = Mapping::read(dir)?;
    match check(db, migrator, migrations, dir, &mapping, history_table)? {
        Checked::Ready { head, .. } => record(engine, db, migrator, head, dry_run),
        Checked::Already(head) => Ok(Adopted::Already(head)),
    }
}

/// What [`check`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Checked {
    /// The tool's history (in the table named) is the imported
    /// migrations, up to this version: [`record`] may record them.
    Ready {
        /// The last imported version.
        head: Version,
        /// The tool's history table that was read.
        history_table: String,
    },
    /// The version table already records every imported migration.
    Already(Version),
}

/// The checks of [`adopt`], writing nothing: the imported files of `dir`
/// as `mapping` (its mapping file) says they were imported, no version
/// table of ebbtide's with other records, and the tool's history exactly
/// the imported migrations.
pub fn check(
    db: &dyn Database,
    migrator: &Migrator<'_>,
    migrations: &Migrations,
    dir: &Path,
    mapping: &Mapping,
    history_table: Option<&str>,
) -> Result<Checked, Problem> {
    let tool = mapping.from;
    let table = history_table.or(mapping.history_table.as_deref()).unwrap_or(tool.history_table());
    TableName::parse(table).map_err(|e| Problem::Files(format!("--history-table {table}: {e}")))?;
    let mut list = check_files(mapping, migrations, dir);
    let head = mapping.migrations.last().map(|m| m.version).unwrap_or(Version::ZERO);

    if let Some(records) = db.records(migrator)?.filter(|r| !r.is_empty()) {
        let recorded = mapping.migrations.iter().all(|m| {
            records.iter().any(|r| r.version == m.version && migrations.get(m.version).is_some_and(|e| r.matches(e)))
        });
        if recorded && list.is_empty() {
            return Ok(Checked::Already(head));
        }
        let at = records.iter().map(|r| r.version).max().unwrap_or(Version::ZERO);
        return Err(Problem::Refused(format!(
            "this database is under ebbtide's control already (version {at}), and not as the imported migrations \
             would record it: adopt writes only a database that ebbtide does not manage yet"
        )));
    }

    let applied = read_history(db, tool, table)?;
    list.extend(compare(mapping, &applied));
    match list.is_empty() {
        true => Ok(Checked::Ready { head, history_table: table.to_string() }),
        false => Err(Problem::Differences { tool, table: table.to_string(), list }),
    }
}

/// Records the migrations up to `head` in the version table, running
/// none of them, in one transaction; with `dry_run`, only says how.
pub fn record(
    engine: &Engine,
    db: &dyn Database,
    migrator: &Migrator<'_>,
    head: Version,
    dry_run: bool,
) -> Result<Adopted, Problem> {
    let migrator = migrator.clone().all_or_nothing(true);
    if dry_run {
        return Ok(Adopted::Script(db.script(&migrator, Request::Goto(head))?));
    }
    if engine.capabilities.transactional_ddl || db.records(&migrator)?.is_some() {
        db.run(&migrator, Request::Goto(head))?;
        return Ok(Adopted::Recorded(head));
    }
    // Creating a table commits on its own here: the table first, then
    // every record in one transaction; a failure drops the table again.
    db.run(&migrator, Request::VersionControl)?;
    if let Err(e) = db.run(&migrator, Request::Goto(head)) {
        // Unless another run recorded something in it meanwhile.
        if db.records(&migrator).is_ok_and(|r| r.is_some_and(|r| r.is_empty())) {
            let _ = db.execute(&format!("DROP TABLE {}", migrator.table_name()));
        }
        return Err(e.into());
    }
    Ok(Adopted::Recorded(head))
}

/// The imported files as they must be: each one loaded as the initial
/// migration of its version and name, and unchanged since import.
fn check_files(mapping: &Mapping, migrations: &Migrations, dir: &Path) -> Vec<Difference> {
    let mut list = Vec::new();
    for m in &mapping.migrations {
        // The file name, however wide its version is written.
        let named = m.file.strip_prefix("initial/").and_then(|file| ebbtide_core::name::parse(file).ok());
        let loaded = named.is_some_and(|named| {
            migrations
                .get(m.version)
                .is_some_and(|e| e.branch == Branch::Initial && named.version == m.version && named.name == e.name)
        });
        let unchanged =
            fs::read_to_string(dir.join(&m.file)).is_ok_and(|text| ebbtide_core::checksum::of_text(&text) == m.written);
        if !loaded || !unchanged {
            list.push(Difference::ChangedSinceImport(m.file.clone()));
        }
    }
    list
}

/// A row of the tool's history table.
#[derive(Clone, Debug, Default)]
struct Applied {
    version: String,
    name: Option<String>,
    checksum: Option<String>,
    failed: bool,
}

fn read_history(db: &dyn Database, tool: Tool, table: &str) -> Result<Vec<Applied>, Problem> {
    let sql = match tool {
        Tool::Refinery => format!("SELECT version, name, checksum FROM {table} ORDER BY version"),
        Tool::Sqlx => format!("SELECT version, description, success, checksum FROM {table} ORDER BY version"),
        Tool::Diesel => format!("SELECT version FROM {table} ORDER BY version"),
    };
    let rows = db.rows(&sql).map_err(|e| {
        Problem::Refused(format!(
            "cannot read {tool}'s history table {table}: {e} (is this database managed by {tool}? \
             --history-table names another table)"
        ))
    })?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let cell = |i: usize| row.get(i).cloned().flatten();
            let version = cell(0).unwrap_or_default();
            match tool {
                Tool::Refinery => Applied { version, name: cell(1), checksum: cell(2), failed: false },
                Tool::Sqlx => Applied {
                    version,
                    name: cell(1),
                    checksum: cell(3),
                    failed: !matches!(cell(2).as_deref(), Some("1" | "true" | "t")),
                },
                Tool::Diesel => Applied { version, ..Applied::default() },
            }
        })
        .collect())
}

/// Every difference between the tool's rows and the imported migrations.
fn compare(mapping: &Mapping, applied: &[Applied]) -> Vec<Difference> {
    let mut list = Vec::new();
    for m in &mapping.migrations {
        let original = &m.original;
        let Some(row) = applied.iter().find(|a| same_version(mapping.from, &a.version, &original.version)) else {
            list.push(Difference::NotApplied(original.file.clone()));
            continue;
        };
        if row.failed {
            list.push(Difference::Failed(original.file.clone()));
            continue;
        }
        if let Some(checksum) = &original.checksum {
            let recorded = row.checksum.clone().unwrap_or_default().to_ascii_lowercase();
            let matches = recorded == *checksum || original.checksum_int8.as_deref() == Some(recorded.as_str());
            if !matches {
                list.push(Difference::Edited {
                    file: original.file.clone(),
                    recorded,
                    file_checksum: checksum.clone(),
                });
            }
        }
    }
    for row in applied {
        if !mapping.migrations.iter().any(|m| same_version(mapping.from, &row.version, &m.original.version)) {
            list.push(Difference::NotImported { version: row.version.clone(), name: row.name.clone() });
        }
    }
    list
}

/// Versions as the tool compares them: refinery's and sqlx's integers by
/// value, diesel's text exactly.
fn same_version(tool: Tool, a: &str, b: &str) -> bool {
    match (tool, a.trim().parse::<i64>(), b.trim().parse::<i64>()) {
        (Tool::Refinery | Tool::Sqlx, Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping() -> Mapping {
        let m = |v: u32, original: &str, checksum: Option<&str>| Imported {
            version: Version::new(v),
            file: format!("initial/000{v}_m{v}.sql"),
            written: String::new(),
            original: Original {
                version: original.into(),
                name: format!("m{v}"),
                file: format!("{original}_m{v}.sql"),
                checksum: checksum.map(str::to_string),
                checksum_int8: None,
            },
        };
        Mapping {
            from: Tool::Sqlx,
            source: "old".into(),
            history_table: Some("app_migrations".into()),
            migrations: vec![m(1, "1", Some("aa")), m(2, "2", Some("bb")), m(3, "3", Some("cc"))],
        }
    }

    fn row(version: &str, checksum: &str, failed: bool) -> Applied {
        Applied { version: version.into(), name: None, checksum: Some(checksum.into()), failed }
    }

    #[test]
    fn the_same_history_has_no_difference() {
        let applied = [row("1", "AA", false), row("2", "bb", false), row("3", "cc", false)];
        assert_eq!(compare(&mapping(), &applied), []);
    }

    #[test]
    fn every_kind_of_difference_is_listed() {
        let applied = [row("1", "aa", false), row("2", "zz", false), row("4", "dd", false)];
        let list = compare(&mapping(), &applied);
        assert_eq!(list.len(), 3, "{list:?}");
        assert!(matches!(&list[0], Difference::Edited { file, .. } if file == "2_m2.sql"));
        assert_eq!(list[1], Difference::NotApplied("3_m3.sql".into()));
        assert_eq!(list[2], Difference::NotImported { version: "4".into(), name: None });
        let failed = compare(&mapping(), &[row("1", "aa", false), row("2", "bb", true), row("3", "cc", false)]);
        assert_eq!(failed, [Difference::Failed("2_m2.sql".into())]);
    }

    #[test]
    fn the_mapping_file_reads_back_what_was_written() {
        let dir = tempfile::tempdir().unwrap();
        let mapping = mapping();
        fs::write(dir.path().join(MAPPING_FILE), mapping.to_json()).unwrap();
        assert_eq!(Mapping::read(dir.path()).unwrap(), mapping);
        fs::write(dir.path().join(MAPPING_FILE), "{").unwrap();
        assert!(Mapping::read(dir.path()).unwrap_err().to_string().contains("not JSON"));
    }

    #[test]
    fn diesel_versions_compare_as_text_and_the_others_as_numbers() {
        assert!(same_version(Tool::Sqlx, "0001", "1"));
        assert!(!same_version(Tool::Diesel, "0001", "1"));
        assert!(same_version(Tool::Diesel, "20240101000001", "20240101000001"));
    }

    #[test]
    fn imported_scripts_keep_the_text_and_get_what_the_rules_need() {
        let original = mapping().migrations[0].original.clone();
        let portable = Dialect::Portable;
        let plain = script(Tool::Sqlx, &original, "CREATE TABLE t (id INT);\n", false, "", portable);
        assert!(plain.starts_with("-- Imported from sqlx migration 1_m1.sql.\n\nCREATE TABLE t"), "{plain}");
        let own = script(Tool::Sqlx, &original, "BEGIN;\nCREATE TABLE t (id INT);\nCOMMIT;\n", false, "", portable);
        assert!(own.starts_with("-- ebbtide: no-transaction"), "{own}");
        let todo = script(Tool::Sqlx, &original, "-- TODO: later\n", false, "", portable);
        assert!(!todo.contains("TODO") && todo.contains("does nothing"), "{todo}");
        let note = script(Tool::Sqlx, &original, "-- kept for MySQL\n", false, "", portable);
        assert!(note.ends_with("-- kept for MySQL\n"), "{note}");
    }

    #[test]
    fn import_refuses_the_tool_s_own_directory() {
        let d = tempfile::tempdir().unwrap();
        let tool_dir = d.path().join("migrations");
        fs::create_dir_all(&tool_dir).unwrap();
        fs::write(tool_dir.join("1_a.sql"), "CREATE TABLE a (id INT);\n").unwrap();
        for target in [tool_dir.clone(), d.path().to_path_buf(), tool_dir.join("ebbtide")] {
            let e = import(Tool::Sqlx, &tool_dir, &target, Dialect::Portable).unwrap_err().to_string();
            assert!(e.contains("a directory of its own"), "{}: {e}", target.display());
        }
        assert_eq!(fs::read_dir(&tool_dir).unwrap().count(), 1, "import wrote into the tool's directory");
        let written = import(Tool::Sqlx, &tool_dir, &d.path().join("ebbtide"), Dialect::Portable).unwrap();
        assert_eq!(written.mapping.migrations.len(), 1);
    }

    #[test]
    fn imported_files_are_found_however_wide_their_versions_are_written() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("initial")).unwrap();
        let text = "-- Imported.\nCREATE TABLE a (id INT);\n";
        fs::write(dir.path().join("initial/00001_a.sql"), text).unwrap();
        let loaded = ebbtide_core::load(dir.path(), "m").unwrap();
        let migrations = Migrations::from_vec(loaded.migrations);
        let mut mapping = mapping();
        mapping.migrations.truncate(1);
        mapping.migrations[0].file = "initial/00001_a.sql".into();
        mapping.migrations[0].written = ebbtide_core::checksum::of_text(text);
        assert_eq!(check_files(&mapping, &migrations, dir.path()), []);
        fs::write(dir.path().join("initial/00001_a.sql"), format!("{text}SELECT 1;\n")).unwrap();
        assert_eq!(
            check_files(&mapping, &migrations, dir.path()),
            [Difference::ChangedSinceImport("initial/00001_a.sql".into())]
        );
    }

    #[test]
    fn names_become_snake_case() {
        assert_eq!(snake_case("create users"), "create_users");
        assert_eq!(snake_case("AddUsers-Email!"), "addusers_email");
        assert_eq!(snake_case("été"), "t");
        assert_eq!(snake_case("--"), "migration");
    }
}

//! The migrations directories of refinery, sqlx and diesel_migrations, read
//! the way each tool reads its own: the same files, in the same order,
//! with the checksum the tool records for each.

use std::fmt;
use std::fs;
use std::hash::{Hash, Hasher};
use std::path::Path;

use sha2::{Digest, Sha384};

/// The tool a database and its migrations come from.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Tool {
    /// refinery: `V{n}__{name}.sql`, table `refinery_schema_history`.
    Refinery,
    /// sqlx's `migrate!`: `{version}_{description}.sql` or
    /// `.up.sql`/`.down.sql` pairs, table `_sqlx_migrations`.
    Sqlx,
    /// diesel_migrations: `{version}_{name}/up.sql`, `down.sql` and
    /// `metadata.toml`, table `__diesel_schema_migrations`.
    Diesel,
}

impl Tool {
    /// Every tool ebbtide imports from.
    pub const ALL: [Tool; 3] = [Tool::Refinery, Tool::Sqlx, Tool::Diesel];

    /// Its name on the command line and in the mapping file.
    pub const fn name(self) -> &'static str {
        match self {
            Tool::Refinery => "refinery",
            Tool::Sqlx => "sqlx",
            Tool::Diesel => "diesel",
        }
    }

    /// The table in which it records applied migrations, unless told another.
    pub fn history_table(self) -> &'static str {
        let (table, _) = crate::dialect::OTHER_TOOLS.iter().find(|(_, tool)| *tool == self.name()).expect("every tool");
        table
    }

    /// Parses a tool's name.
    pub fn parse(name: &str) -> Result<Tool, String> {
        Tool::ALL.into_iter().find(|t| t.name().eq_ignore_ascii_case(name)).ok_or_else(|| {
            format!("unknown tool {name:?}: ebbtide imports from refinery, sqlx or diesel (diesel_migrations)")
        })
    }

    /// What it records of a migration, for messages.
    pub(crate) const fn compared_by(self) -> &'static str {
        match self {
            Tool::Refinery => "version, name and refinery's checksum",
            Tool::Sqlx => "version and sqlx's checksum (SHA-384 of the file)",
            Tool::Diesel => "version (diesel records nothing else)",
        }
    }
}

impl std::str::FromStr for Tool {
    type Err = String;

    fn from_str(name: &str) -> Result<Tool, String> {
        Tool::parse(name)
    }
}

impl fmt::Display for Tool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A migration as its tool knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Original {
    /// The version the tool records, as it writes it in its table
    /// (refinery's and sqlx's integers in decimal, diesel's digits).
    pub version: String,
    /// Its name (refinery's name, sqlx's description, diesel's directory
    /// name after the version).
    pub name: String,
    /// The file (diesel: the directory), relative to the tool's directory.
    pub file: String,
    /// The checksum the tool records, as its table holds it (refinery: a
    /// decimal u64; sqlx: SHA-384 in lowercase hex); none for diesel.
    pub checksum: Option<String>,
    /// refinery built with `int8-versions` hashes the version as 64 bits:
    /// the checksum it records then.
    pub checksum_int8: Option<String>,
}

/// A migration read from a tool's directory.
#[derive(Clone, Debug)]
pub struct Source {
    /// What the tool records of it.
    pub original: Original,
    /// The up script, exactly as the tool runs it.
    pub up: String,
    /// The down script, where the tool has one (sqlx's `.down.sql`,
    /// diesel's `down.sql`).
    pub down: Option<String>,
    /// The tool runs it outside a transaction (sqlx's `-- no-transaction`,
    /// diesel's `run_in_transaction = false`).
    pub no_transaction: bool,
    /// The same, for the down script.
    pub down_no_transaction: bool,
}

/// A tool's migrations directory, as the tool reads it.
#[derive(Clone, Debug)]
pub struct Directory {
    /// The migrations, in the order the tool applies them.
    pub sources: Vec<Source>,
    /// The history table the tool's configuration names, if it names one
    /// (sqlx's `migrate.table-name`).
    pub history_table: Option<String>,
}

/// Reads `dir` as `tool` does.
pub fn read(tool: Tool, dir: &Path) -> Result<Directory, String> {
    let meta = fs::metadata(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    if !meta.is_dir() {
        return Err(format!("{} is not a directory: name {tool}'s migrations directory", dir.display()));
    }
    let mut history_table = None;
    let mut sources = match tool {
        Tool::Refinery => refinery(dir)?,
        Tool::Sqlx => {
            let config = SqlxConfig::beside(dir)?;
            history_table = config.table_name.clone();
            sqlx(dir, &config)?
        }
        Tool::Diesel => diesel(dir)?,
    };
    match tool {
        Tool::Diesel => sources.sort_by(|a, b| a.original.version.cmp(&b.original.version)),
        _ => sources.sort_by_key(|s| s.original.version.parse::<i64>().unwrap_or(i64::MAX)),
    }
    let mut duplicates: Vec<String> = sources
        .windows(2)
        .filter(|w| w[0].original.version == w[1].original.version)
        .map(|w| format!("{} and {}", w[0].original.file, w[1].original.file))
        .collect();
    duplicates.dedup();
    if !duplicates.is_empty() {
        return Err(format!(
            "{}: two migrations share a version, which {tool} refuses too: {}",
            dir.display(),
            duplicates.join("; ")
        ));
    }
    if sources.is_empty() {
        return Err(format!("{} holds no {tool} migration", dir.display()));
    }
    Ok(Directory { sources, history_table })
}

fn text(path: &Path) -> Result<String, String> {
    let bytes = fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    String::from_utf8(bytes).map_err(|e| {
        format!("{} is not UTF-8 (byte {}); the tools read UTF-8 only", path.display(), e.utf8_error().valid_up_to())
    })
}

fn relative(dir: &Path, path: &Path) -> String {
    path.strip_prefix(dir).unwrap_or(path).display().to_string()
}

/// refinery's own file search (recursive, sorted) and name parsing, and its
/// checksum of name, version and SQL.
fn refinery(dir: &Path) -> Result<Vec<Source>, String> {
    let dir = dir.canonicalize().map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let files = refinery_core::find_migration_files(&dir, refinery_core::MigrationType::All)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut sources = Vec::new();
    let mut rust = Vec::new();
    for path in files {
        let file = relative(&dir, &path);
        if path.extension().is_some_and(|e| e == "rs") {
            rust.push(file);
            continue;
        }
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
        let sql = text(&path)?;
        // refinery-core as built here has 32-bit versions; a larger one
        // is refinery's `int8-versions`, whose checksum hashes 64 bits.
        let (version, name, checksum) = match refinery_core::Migration::unapplied(&stem, &sql) {
            Ok(m) => (i64::from(m.version()), m.name().to_string(), Some(m.checksum().to_string())),
            Err(e) => match wide_version(&stem) {
                Some((version, name)) if i32::try_from(version).is_err() => (version, name, None),
                _ => return Err(format!("{file}: {e}")),
            },
        };
        let mut int8 = siphasher::sip::SipHasher13::new();
        name.hash(&mut int8);
        version.hash(&mut int8);
        sql.hash(&mut int8);
        let int8 = int8.finish().to_string();
        sources.push(Source {
            original: Original {
                version: version.to_string(),
                name,
                file,
                checksum: Some(checksum.unwrap_or_else(|| int8.clone())),
                checksum_int8: Some(int8),
            },
            up: sql,
            down: None,
            no_transaction: false,
            down_no_transaction: false,
        });
    }
    if !rust.is_empty() {
        return Err(format!(
            "refinery migrations written in Rust cannot be imported: {}. Write the SQL that each one's \
             `migration()` returns into a `.sql` file of the same name in its place (the same text keeps \
             refinery's checksum, so refinery sees no change), then import again",
            rust.join(", ")
        ));
    }
    Ok(sources)
}

/// The 64-bit version and the name of a refinery file stem that
/// refinery's pattern (`V{digits}__{name}`) matches.
fn wide_version(stem: &str) -> Option<(i64, String)> {
    let rest = stem.strip_prefix(['V', 'U'])?;
    let (digits, name) = rest.split_once("__")?;
    Some((digits.parse().ok()?, name.to_string()))
}

/// What of a `sqlx.toml` changes how sqlx reads and records migrations:
/// `[migrate]`'s `ignored-chars` (left out of each checksum) and
/// `table-name`. sqlx reads the file at the crate root, beside the
/// migrations directory.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SqlxConfig {
    /// The file it was read from, if any.
    pub file: Option<std::path::PathBuf>,
    /// Characters sqlx leaves out when it hashes a migration.
    pub ignored_chars: std::collections::BTreeSet<char>,
    /// The history table, if not `_sqlx_migrations`.
    pub table_name: Option<String>,
}

impl SqlxConfig {
    /// The `sqlx.toml` of the crate whose migrations directory is `dir`:
    /// in the first directory above `dir` that holds one, up to the one
    /// that holds `Cargo.toml` (the crate root, where `migrate!` reads it).
    pub fn beside(dir: &Path) -> Result<SqlxConfig, String> {
        let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
        for above in dir.ancestors().skip(1) {
            let file = above.join("sqlx.toml");
            if file.is_file() {
                return SqlxConfig::read(&file);
            }
            if above.join("Cargo.toml").is_file() {
                break;
            }
        }
        Ok(SqlxConfig::default())
    }

    fn read(file: &Path) -> Result<SqlxConfig, String> {
        let bad = |what: String| format!("{}: {what}", file.display());
        let table: toml::Table = text(file)?.parse().map_err(|e| bad(format!("not TOML: {e}")))?;
        let mut config = SqlxConfig { file: Some(file.to_path_buf()), ..SqlxConfig::default() };
        let Some(migrate) = table.get("migrate") else { return Ok(config) };
        if let Some(chars) = migrate.get("ignored-chars") {
            let chars = chars.as_array().ok_or_else(|| bad("`migrate.ignored-chars` is not an array".into()))?;
            for c in chars {
                let mut one = c.as_str().unwrap_or_default().chars();
                match (one.next(), one.next()) {
                    (Some(c), None) => {
                        config.ignored_chars.insert(c);
                    }
                    _ => return Err(bad(format!("`migrate.ignored-chars` holds {c:?}, not one character"))),
                }
            }
        }
        if let Some(name) = migrate.get("table-name") {
            config.table_name =
                Some(name.as_str().ok_or_else(|| bad("`migrate.table-name` is not a string".into()))?.to_string());
        }
        Ok(config)
    }

    /// sqlx's checksum of `sql`: SHA-384 of the text without the ignored characters.
    pub fn checksum(&self, sql: &str) -> String {
        let mut digest = Sha384::new();
        for fragment in sql.split(|c| self.ignored_chars.contains(&c)) {
            digest.update(fragment.as_bytes());
        }
        ebbtide_core::checksum::hex(&digest.finalize())
    }
}

/// sqlx's `resolve_blocking`: the directory's own files (not its
/// subdirectories), `{version}_{description}.sql` with an integer version,
/// `.up.sql` and `.down.sql` for a reversible migration; the checksum is
/// SHA-384 of the file's text.
fn sqlx(dir: &Path, config: &SqlxConfig) -> Result<Vec<Source>, String> {
    let entries = fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut ups = Vec::new();
    let mut downs = std::collections::BTreeMap::new();
    for entry in entries {
        let path = entry.map_err(|e| format!("cannot read {}: {e}", dir.display()))?.path();
        if !fs::metadata(&path).is_ok_and(|m| m.is_file()) {
            continue;
        }
        let file = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let Some((version, rest)) = file.split_once('_') else { continue };
        if !rest.ends_with(".sql") {
            continue;
        }
        let version: i64 = version.parse().map_err(|_| {
            format!("{file}: sqlx refuses this name too: expected an integer version prefix (e.g. `01_foo.sql`)")
        })?;
        let sql = text(&path)?;
        let no_transaction = sql.starts_with("-- no-transaction");
        if rest.ends_with(".down.sql") {
            downs.insert(version, (sql, no_transaction));
            continue;
        }
        let suffix = if rest.ends_with(".up.sql") { ".up.sql" } else { ".sql" };
        let description = rest.trim_end_matches(suffix).replace('_', " ");
        let checksum = config.checksum(&sql);
        ups.push(Source {
            original: Original {
                version: version.to_string(),
                name: description,
                file,
                checksum: Some(checksum),
                checksum_int8: None,
            },
            up: sql,
            down: None,
            no_transaction,
            down_no_transaction: false,
        });
    }
    for source in &mut ups {
        let version: i64 = source.original.version.parse().unwrap_or_default();
        if let Some((sql, no_transaction)) = downs.remove(&version) {
            source.down = Some(sql);
            source.down_no_transaction = no_transaction;
        }
    }
    // A down script without its up script is never run by sqlx either.
    Ok(ups)
}

/// diesel_migrations' `FileBasedMigrations`: each directory not starting
/// with `.` is a migration; its version is the directory name up to the
/// first `_`, without `-`; `metadata.toml` may set `run_in_transaction`.
fn diesel(dir: &Path) -> Result<Vec<Source>, String> {
    let entries = fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut sources = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !fs::metadata(entry.path()).is_ok_and(|m| m.is_dir()) {
            continue;
        }
        let path = entry.path();
        let version = name.split('_').next().unwrap_or_default().replace('-', "");
        let up_path = path.join("up.sql");
        if !up_path.is_file() {
            return Err(format!("{name}/: no up.sql, which diesel needs to run it"));
        }
        // An empty up.sql is a no-op to `embed_migrations!` (diesel's file
        // runner refuses it): imported as one, and adopt compares.
        let up = text(&up_path)?;
        let down_path = path.join("down.sql");
        let down = if down_path.is_file() { Some(text(&down_path)?) } else { None };
        let metadata = path.join("metadata.toml");
        let in_transaction = fs::read_to_string(&metadata).map_or(true, |toml| run_in_transaction(&toml));
        sources.push(Source {
            original: Original {
                version,
                name: name.split_once('_').map(|(_, n)| n.to_string()).unwrap_or_default(),
                file: name,
                checksum: None,
                checksum_int8: None,
            },
            up,
            down,
            no_transaction: !in_transaction,
            down_no_transaction: !in_transaction,
        });
    }
    Ok(sources)
}

/// `run_in_transaction` of a diesel `metadata.toml`, as diesel reads it
/// (`toml::from_str` into a struct whose field defaults to `false`, or
/// diesel's default metadata, `true`, when that fails): `false` when the
/// file does not set it, `true` when the file does not parse or the value
/// is not a boolean; other keys are ignored.
fn run_in_transaction(text: &str) -> bool {
    match text.parse::<toml::Table>() {
        Ok(table) => match table.get("run_in_transaction") {
            None => false,
            Some(toml::Value::Boolean(value)) => *value,
            Some(_) => true,
        },
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let path = dir.path().join(path);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, text).unwrap();
        }
        dir
    }

    #[test]
    fn refinery_orders_by_version_and_records_its_checksum() {
        let d =
            dir(&[("V10__ten.sql", "SELECT 10;"), ("V2__two.sql", "SELECT 2;"), ("sub/V3__three.sql", "SELECT 3;")]);
        let read = read(Tool::Refinery, d.path()).unwrap().sources;
        let versions: Vec<&str> = read.iter().map(|s| s.original.version.as_str()).collect();
        assert_eq!(versions, ["2", "3", "10"]);
        let expected = refinery_core::Migration::unapplied("V2__two", "SELECT 2;").unwrap().checksum().to_string();
        assert_eq!(read[0].original.checksum.as_deref(), Some(expected.as_str()));
        assert_ne!(read[0].original.checksum, read[0].original.checksum_int8);
    }

    #[test]
    fn refinery_rust_migrations_are_named_and_refused() {
        let d = dir(&[("V1__one.sql", "SELECT 1;"), ("V2__two.rs", "fn migration() -> String { todo!() }")]);
        let e = read(Tool::Refinery, d.path()).unwrap_err();
        assert!(e.contains("V2__two.rs") && e.contains("written in Rust"), "{e}");
    }

    #[test]
    fn sqlx_pairs_up_and_down_scripts_and_reads_no_transaction() {
        let d = dir(&[
            ("20240101000001_create_users.up.sql", "CREATE TABLE users (id INT);"),
            ("20240101000001_create_users.down.sql", "DROP TABLE users;"),
            ("2_index.sql", "-- no-transaction\nCREATE INDEX CONCURRENTLY i ON users (id);"),
            ("README.md", "not a migration"),
        ]);
        let read = read(Tool::Sqlx, d.path()).unwrap().sources;
        assert_eq!(read.len(), 2);
        assert_eq!((read[0].original.version.as_str(), read[0].no_transaction), ("2", true));
        assert_eq!(read[1].original.name, "create users");
        assert_eq!(read[1].down.as_deref(), Some("DROP TABLE users;"));
        // sha384("CREATE TABLE users (id INT);")
        let sum = ebbtide_core::checksum::hex(&Sha384::digest(b"CREATE TABLE users (id INT);"));
        assert_eq!(read[1].original.checksum.as_deref(), Some(sum.as_str()));
        assert_eq!(sum.len(), 96);
    }

    #[test]
    fn sqlx_names_a_version_that_is_not_a_number() {
        let d = dir(&[("first_create.sql", "SELECT 1;")]);
        assert!(read(Tool::Sqlx, d.path()).unwrap_err().contains("integer version"));
    }

    #[test]
    fn diesel_versions_drop_dashes_and_metadata_turns_transactions_off() {
        let d = dir(&[
            ("2024-01-02-000000_second/up.sql", "SELECT 2;"),
            ("2024-01-02-000000_second/metadata.toml", "run_in_transaction = false\n"),
            ("2024-01-01-000000_first/up.sql", "SELECT 1;"),
            ("2024-01-01-000000_first/down.sql", "SELECT -1;"),
            (".hidden/up.sql", "SELECT 0;"),
        ]);
        let read = read(Tool::Diesel, d.path()).unwrap().sources;
        let seen: Vec<(&str, &str, bool)> =
            read.iter().map(|s| (s.original.version.as_str(), s.original.name.as_str(), s.no_transaction)).collect();
        assert_eq!(seen, [("20240101000000", "first", false), ("20240102000000", "second", true)]);
        assert_eq!(read[0].down.as_deref(), Some("SELECT -1;"));
    }

    #[test]
    fn diesel_metadata_reads_as_diesel_reads_it() {
        assert!(!run_in_transaction("# nothing set\n"));
        assert!(run_in_transaction("run_in_transaction = true"));
        assert!(!run_in_transaction("other = 1\nrun_in_transaction = false # why"));
        // What does not parse falls back to diesel's default: in a transaction.
        assert!(run_in_transaction("run_in_transaction = true\nrun_in_transaction = false"));
        assert!(run_in_transaction("run_in_transaction = \"no\""));
        assert!(!run_in_transaction("[other]\nrun_in_transaction = true"));
        assert!(run_in_transaction("not toml at all ="));
    }

    #[test]
    fn sqlx_toml_beside_the_directory_sets_ignored_characters_and_the_table() {
        let d = dir(&[
            ("sqlx.toml", "[migrate]\nignored-chars = [\" \", \"\\r\", \"\\n\"]\ntable-name = \"app_migrations\"\n"),
            ("migrations/1_users.sql", "CREATE TABLE users\r\n(id INT);\n"),
        ]);
        let config = SqlxConfig::beside(&d.path().join("migrations")).unwrap();
        assert_eq!(config.table_name.as_deref(), Some("app_migrations"));
        let read = read(Tool::Sqlx, &d.path().join("migrations")).unwrap().sources;
        let stripped = ebbtide_core::checksum::hex(&Sha384::digest(b"CREATETABLEusers(idINT);"));
        assert_eq!(read[0].original.checksum.as_deref(), Some(stripped.as_str()));
    }

    #[test]
    fn refinery_versions_beyond_32_bits_are_int8_versions() {
        let d = dir(&[("V20240101000000__big.sql", "SELECT 1;")]);
        let read = read(Tool::Refinery, d.path()).unwrap().sources;
        assert_eq!(read[0].original.version, "20240101000000");
        let mut h = siphasher::sip::SipHasher13::new();
        "big".hash(&mut h);
        20240101000000i64.hash(&mut h);
        "SELECT 1;".hash(&mut h);
        assert_eq!(read[0].original.checksum, Some(h.finish().to_string()));
    }

    #[test]
    fn non_utf8_files_and_duplicates_are_refused() {
        let d = dir(&[("V1__a.sql", "SELECT 1;"), ("V01__b.sql", "SELECT 1;")]);
        assert!(read(Tool::Refinery, d.path()).unwrap_err().contains("share a version"));
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("1_bad.sql"), b"SELECT '\xff';").unwrap();
        assert!(read(Tool::Sqlx, d.path()).unwrap_err().contains("not UTF-8"));
    }
}

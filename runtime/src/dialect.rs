//! The SQL ebbtide itself writes: the version table's name, its rows, and
//! transaction control, in a portable form each engine adjusts where it
//! differs. Values are written as literals, so the very same text is what
//! runs and what `--sql` prints for review.

use std::fmt;

use crate::record::How;
use crate::{Branch, Version};

/// A validated, quoted version-table name, optionally schema-qualified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableName {
    schema: Option<String>,
    name: String,
    /// The schema was found in the database at the start of a run, not
    /// named by the user: it exists, and creating the table never tries to
    /// create it (which would need a privilege the user may lack).
    found: bool,
}

/// The version table's name when none is configured.
pub const DEFAULT_TABLE: &str = "ebbtide_migrations";

/// The history tables of the migration tools ebbtide adopts databases
/// from, each with its tool's name: never part of an application's
/// schema, and the sign that the tool manages a database.
pub(crate) const OTHER_TOOLS: [(&str, &str); 3] =
    [("refinery_schema_history", "refinery"), ("_sqlx_migrations", "sqlx"), ("__diesel_schema_migrations", "diesel")];

/// The tables of [`OTHER_TOOLS`] as an SQL list of string literals, for `IN`.
pub(crate) fn other_tools_tables() -> String {
    let names: Vec<String> = OTHER_TOOLS.iter().map(|(table, _)| format!("'{table}'")).collect();
    format!("({})", names.join(", "))
}

/// A version-table name that is not a plain identifier.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid version table name {0:?}: use letters, digits and underscores (not starting with a digit, at most 63 characters), optionally as schema.table"
)]
pub struct BadTableName(pub String);

impl TableName {
    /// Validates `name` (`table` or `schema.table`). Quotes, semicolons,
    /// spaces and anything else that could change the SQL are refused
    /// before any SQL is built.
    pub fn parse(name: &str) -> Result<TableName, BadTableName> {
        let valid = |part: &str| {
            !part.is_empty()
                && part.len() <= 63
                && part.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        };
        let mut parts = name.split('.');
        let (first, second, rest) = (parts.next(), parts.next(), parts.next());
        match (first, second, rest) {
            (Some(t), None, None) if valid(t) => Ok(TableName { schema: None, name: t.to_string(), found: false }),
            (Some(s), Some(t), None) if valid(s) && valid(t) => {
                Ok(TableName { schema: Some(s.to_string()), name: t.to_string(), found: false })
            }
            _ => Err(BadTableName(name.to_string())),
        }
    }

    /// The table's own name, without its schema.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The schema, when one was given.
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    /// The schema to create along with the table: the one the user named.
    pub fn schema_to_create(&self) -> Option<&str> {
        self.schema.as_deref().filter(|_| !self.found)
    }

    /// The same table in `schema`, which the database says holds it (or
    /// would): what a run addresses once it started, so that no
    /// `search_path` or temporary table a migration sets up can redirect
    /// ebbtide's own statements.
    pub fn in_schema(&self, schema: &str) -> TableName {
        TableName { schema: Some(schema.to_string()), name: self.name.clone(), found: true }
    }

    /// The quoted name, ready for SQL: `"ebbtide_migrations"`, `"app"."versions"`.
    pub fn quoted(&self) -> String {
        let quote = |part: &str| format!("\"{}\"", part.replace('"', "\"\""));
        match &self.schema {
            Some(schema) => format!("{}.{}", quote(schema), quote(&self.name)),
            None => quote(&self.name),
        }
    }

    /// The table beside it that holds the progress of batched backfills:
    /// `<name>_progress`, in the same schema.
    pub fn progress(&self) -> TableName {
        TableName { name: format!("{}_progress", self.name), ..self.clone() }
    }

    /// A stable 64-bit key for PostgreSQL's advisory lock, derived from the
    /// name (FNV-1a), so that runs on different tables do not block each other.
    pub fn lock_key(&self) -> i64 {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for b in format!("ebbtide:{self}").bytes() {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        hash as i64
    }
}

impl Default for TableName {
    fn default() -> Self {
        TableName { schema: None, name: DEFAULT_TABLE.to_string(), found: false }
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.schema {
            Some(schema) => write!(f, "{schema}.{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// The values of a version-table row to insert.
#[derive(Clone, Debug)]
pub struct NewRecord<'a> {
    /// The version.
    pub version: Version,
    /// The branch.
    pub branch: Branch,
    /// The name.
    pub name: &'a str,
    /// The up script's checksum.
    pub checksum: &'a str,
    /// The fingerprint of branch, name and checksum.
    pub fingerprint: &'a str,
    /// Applied or stamped.
    pub how: How,
    /// Duration of the up script, in milliseconds. `None` on PostgreSQL:
    /// the server measures it, from the arrival of the batch that ran the
    /// script and carries this insert to the insert itself.
    pub duration_ms: Option<i64>,
    /// The down script, stored so any later release can revert it.
    pub down_sql: Option<&'a str>,
}

/// The SQL ebbtide writes for itself: the version table, transactions and
/// literals, in a portable form. An engine implements it with the methods
/// where its SQL differs and takes the rest; the executor never asks which
/// engine it talks to.
pub(crate) trait Sql: Sync {
    /// An identifier, quoted.
    fn quote(&self, part: &str) -> String {
        format!("\"{}\"", part.replace('"', "\"\""))
    }

    /// The version table's name, quoted, with its schema if it has one.
    fn table(&self, table: &TableName) -> String {
        match table.schema() {
            Some(schema) => format!("{}.{}", self.quote(schema), self.quote(table.name())),
            None => self.quote(table.name()),
        }
    }

    /// A string literal.
    fn literal(&self, text: &str) -> String {
        format!("'{}'", text.replace('\'', "''"))
    }

    /// Creates the version table if it does not exist (and the schema the
    /// user named for it).
    fn create_table(&self, table: &TableName) -> String {
        let schema = table
            .schema_to_create()
            .map(|s| format!("CREATE SCHEMA IF NOT EXISTS {};\n", self.quote(s)))
            .unwrap_or_default();
        format!(
            "{schema}CREATE TABLE IF NOT EXISTS {} (\n{}\n){}",
            self.table(table),
            self.version_columns(),
            self.table_options()
        )
    }

    /// What follows the column list of ebbtide's own tables (MySQL's
    /// storage engine and character set); nothing by default.
    fn table_options(&self) -> &'static str {
        ""
    }

    /// The version table's columns, one per line, as `create_table`
    /// writes them: engines override the types.
    fn version_columns(&self) -> &'static str {
        "\x20 version BIGINT PRIMARY KEY,\n\
         \x20 branch VARCHAR(16) NOT NULL CHECK (branch IN ('initial', 'expand', 'contract')),\n\
         \x20 name VARCHAR(255) NOT NULL,\n\
         \x20 checksum VARCHAR(64) NOT NULL,\n\
         \x20 fingerprint VARCHAR(16) NOT NULL,\n\
         \x20 how VARCHAR(16) NOT NULL CHECK (how IN ('applied', 'stamped')),\n\
         \x20 applied_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,\n\
         \x20 duration_ms BIGINT NOT NULL,\n\
         \x20 down_sql TEXT"
    }

    /// `applied_at` as ISO 8601 text in UTC, as `status` shows it.
    fn applied_at_text(&self) -> &'static str {
        "applied_at"
    }

    /// Reads every record, in version order: version, branch, name,
    /// checksum, fingerprint, and with `full` also how, has_down (0/1 or
    /// f/t), applied_at and duration_ms. Plans other than downgrade read
    /// the short form only.
    fn select_records(&self, table: &TableName, full: bool) -> String {
        let columns = match full {
            false => "version, branch, name, checksum, fingerprint".to_string(),
            true => format!(
                "version, branch, name, checksum, fingerprint, how, down_sql IS NOT NULL, {}, duration_ms",
                self.applied_at_text()
            ),
        };
        format!("SELECT {columns} FROM {} ORDER BY version", self.table(table))
    }

    /// What the startup check reads: each record's version and fingerprint,
    /// in no particular order (sorting would cost more than the read).
    fn select_keys(&self, table: &TableName) -> String {
        format!("SELECT version, fingerprint FROM {}", self.table(table))
    }

    /// The branch and name of the records above `latest`: what a newer
    /// release applied, read only when the keys show some.
    fn select_newer(&self, table: &TableName, latest: Version) -> String {
        format!(
            "SELECT version, branch, name FROM {} WHERE version > {} ORDER BY version",
            self.table(table),
            latest.get()
        )
    }

    /// The version, branch, name, checksum and fingerprint of some records.
    fn select_records_in(&self, table: &TableName, versions: &[Version]) -> String {
        let list: Vec<String> = versions.iter().map(|v| v.get().to_string()).collect();
        format!(
            "SELECT version, branch, name, checksum, fingerprint FROM {} WHERE version IN ({}) ORDER BY version",
            self.table(table),
            list.join(", ")
        )
    }

    /// How long the script of a step that this very statement records took,
    /// measured by the server (when the script and the insert go in one
    /// batch); `None` where the server cannot tell, and the client's
    /// measure is written instead.
    fn server_duration(&self) -> Option<&'static str> {
        None
    }

    /// Inserts a record.
    fn insert_record(&self, table: &TableName, r: &NewRecord<'_>) -> String {
        let duration = match (r.duration_ms, self.server_duration()) {
            (Some(ms), _) => ms.to_string(),
            (None, Some(measured)) => measured.to_string(),
            (None, None) => "0".to_string(),
        };
        format!(
            "INSERT INTO {} (version, branch, name, checksum, fingerprint, how, duration_ms, down_sql) \
             VALUES ({}, '{}', {}, {}, {}, '{}', {duration}, {})",
            self.table(table),
            r.version.get(),
            r.branch,
            self.literal(r.name),
            self.literal(r.checksum),
            self.literal(r.fingerprint),
            r.how,
            r.down_sql.map_or_else(|| "NULL".to_string(), |s| self.literal(s)),
        )
    }

    /// Completes a record written as started (fingerprint `started`) when
    /// its `no-transaction` script began: its fingerprint, and how long the
    /// script took.
    fn finish_record(&self, table: &TableName, version: Version, fingerprint: &str, duration_ms: i64) -> String {
        format!(
            "UPDATE {} SET fingerprint = {}, duration_ms = {duration_ms} WHERE version = {}",
            self.table(table),
            self.literal(fingerprint),
            version.get()
        )
    }

    /// Records `version` as `r` describes it (branch, name, checksum and
    /// fingerprint), if its fingerprint is still `was`: `repair`, and a
    /// record's checksum of its whole text replaced by the statement checksum.
    fn rerecord(&self, table: &TableName, r: &NewRecord<'_>, was: &str) -> String {
        format!(
            "UPDATE {} SET branch = '{}', name = {}, checksum = {}, fingerprint = {} WHERE version = {} AND fingerprint = {}",
            self.table(table),
            r.branch,
            self.literal(r.name),
            self.literal(r.checksum),
            self.literal(r.fingerprint),
            r.version.get(),
            self.literal(was),
        )
    }

    /// Marks a record as started (fingerprint `started`): its
    /// `no-transaction` down script is about to run.
    fn start_record(&self, table: &TableName, version: Version) -> String {
        format!(
            "UPDATE {} SET fingerprint = '{}' WHERE version = {}",
            self.table(table),
            crate::record::STARTED,
            version.get()
        )
    }

    /// Deletes a record.
    fn delete_record(&self, table: &TableName, version: Version) -> String {
        format!("DELETE FROM {} WHERE version = {}", self.table(table), version.get())
    }

    /// Returns one row when `version` is recorded.
    fn select_recorded(&self, table: &TableName, version: Version) -> String {
        format!("SELECT 1 FROM {} WHERE version = {}", self.table(table), version.get())
    }

    /// Reads the stored down script of a record.
    fn select_down(&self, table: &TableName, version: Version) -> String {
        format!("SELECT down_sql FROM {} WHERE version = {}", self.table(table), version.get())
    }

    /// Creates the table of backfill progress (see [`TableName::progress`])
    /// if it does not exist: one row per backfill under way, its last key
    /// done and its batches, written in each batch's transaction and
    /// deleted in the one that records the migration.
    fn create_progress_table(&self, progress: &TableName) -> String {
        format!(
            "CREATE TABLE IF NOT EXISTS {} (\n\
             \x20 version BIGINT PRIMARY KEY,\n\
             \x20 name VARCHAR(255) NOT NULL,\n\
             \x20 key_done BIGINT NOT NULL,\n\
             \x20 batches BIGINT NOT NULL,\n\
             \x20 updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP\n){}",
            self.table(progress),
            self.table_options()
        )
    }

    /// Every backfill under way: version, key_done, batches.
    fn select_progress(&self, progress: &TableName) -> String {
        format!("SELECT version, key_done, batches FROM {} ORDER BY version", self.table(progress))
    }

    /// The key_done and batches of one backfill.
    fn select_progress_of(&self, progress: &TableName, version: Version) -> String {
        format!("SELECT key_done, batches FROM {} WHERE version = {}", self.table(progress), version.get())
    }

    /// Records the first batch of a backfill.
    fn insert_progress(&self, progress: &TableName, version: Version, name: &str, key_done: i64) -> String {
        format!(
            "INSERT INTO {} (version, name, key_done, batches) VALUES ({}, {}, {key_done}, 1)",
            self.table(progress),
            version.get(),
            self.literal(name)
        )
    }

    /// Records a later batch of a backfill.
    fn update_progress(&self, progress: &TableName, version: Version, key_done: i64) -> String {
        format!(
            "UPDATE {} SET key_done = {key_done}, batches = batches + 1, updated_at = CURRENT_TIMESTAMP WHERE version = {}",
            self.table(progress),
            version.get()
        )
    }

    /// Forgets the progress of the backfills at or above `version`.
    fn delete_progress_from(&self, progress: &TableName, version: Version) -> String {
        format!("DELETE FROM {} WHERE version >= {}", self.table(progress), version.get())
    }

    /// Forgets the progress of one backfill, once it is recorded.
    fn delete_progress(&self, progress: &TableName, version: Version) -> String {
        format!("DELETE FROM {} WHERE version = {}", self.table(progress), version.get())
    }

    /// The first and last key of the next batch of `batch` rows above
    /// `after` (from the first row when `after` is `None`): `NULL`s when
    /// none is left.
    /// Rows whose key is `NULL` are in no batch.
    fn next_batch_end(&self, table: &str, key: &str, after: Option<i64>, batch: u32) -> String {
        let above = match after {
            Some(a) => format!(" WHERE {key} > {a}"),
            None => format!(" WHERE {key} IS NOT NULL"),
        };
        format!(
            "SELECT min({key}), max({key}) FROM (SELECT {key} FROM {table}{above} ORDER BY {key} LIMIT {batch}) AS ebbtide_batch"
        )
    }

    /// Records that the migration `version`, marked as started, finished
    /// statement `reached` of `of` (1-based): where the engine has no
    /// transactional DDL, so that a migration that stops half-way says
    /// where. `None` where the version table keeps no progress.
    fn statement_progress(&self, _table: &TableName, _version: Version, _reached: usize, _of: usize) -> Option<String> {
        None
    }

    /// Records the error that stopped the migration `version`, a script of
    /// `of` statements.
    fn statement_failure(&self, _table: &TableName, _version: Version, _failure: &str, _of: usize) -> Option<String> {
        None
    }

    /// The progress of every migration marked as started: version, the
    /// last statement done, how many it has, and the error that stopped it.
    fn select_partial(&self, _table: &TableName) -> Option<String> {
        None
    }

    /// Opens a transaction.
    fn begin(&self) -> &'static str {
        "BEGIN"
    }

    /// Commits.
    fn commit(&self) -> &'static str {
        "COMMIT"
    }

    /// Rolls back.
    fn rollback(&self) -> &'static str {
        "ROLLBACK"
    }

    /// Sets the lock timeout for the rest of the transaction, or for the
    /// session when `local` is false; `None` where the engine has none.
    fn lock_timeout(&self, _ms: u32, _local: bool) -> Option<String> {
        None
    }

    /// Restores the session's lock timeout after a no-transaction script.
    fn reset_lock_timeout(&self) -> Option<&'static str> {
        None
    }

    /// The sessions that hold a lock on `table` (or, without a table, that
    /// have a transaction open for longer than `older_than_ms`), as rows of
    /// pid, application, state, transaction age in milliseconds, and the
    /// start of the query; `None` where the engine cannot tell.
    fn blockers(&self, _table: Option<&str>, _older_than_ms: u32) -> Option<String> {
        None
    }

    /// One row when the index `name` exists and is invalid (left by a
    /// `CREATE INDEX CONCURRENTLY` that failed); `None` where the engine
    /// has no such state.
    fn invalid_index(&self, _name: &str) -> Option<String> {
        None
    }

    /// Drops an index outside a transaction without blocking writes.
    fn drop_index_concurrently(&self, _name: &str) -> Option<String> {
        None
    }
}

/// The portable SQL, as [`Sql`]'s defaults write it.
#[cfg(test)]
pub(crate) struct Portable;

#[cfg(test)]
impl Sql for Portable {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_are_plain_identifiers() {
        assert_eq!(TableName::parse("ebbtide_migrations").unwrap().quoted(), "\"ebbtide_migrations\"");
        assert_eq!(TableName::parse("app.versions").unwrap().quoted(), "\"app\".\"versions\"");
        for bad in ["", "a b", "x\"; DROP TABLE users; --", "t;", "1abc", "a.b.c", "a.", "ü", &"x".repeat(64)] {
            assert!(TableName::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_found_schema_is_quoted_and_never_created() {
        let table = TableName::default().in_schema("odd\"schema");
        assert_eq!(table.quoted(), "\"odd\"\"schema\".\"ebbtide_migrations\"");
        assert_eq!(table.schema_to_create(), None);
        assert!(!Portable.create_table(&table).contains("CREATE SCHEMA"));
        let named = TableName::parse("app.versions").unwrap();
        assert_eq!(named.schema_to_create(), Some("app"));
        assert!(Portable.create_table(&named).starts_with("CREATE SCHEMA IF NOT EXISTS \"app\""));
        assert_eq!(Portable.table(&table), table.quoted());
    }

    #[test]
    fn lock_keys_differ_per_table() {
        let a = TableName::parse("a").unwrap().lock_key();
        let b = TableName::parse("s.a").unwrap().lock_key();
        assert_ne!(a, b);
        assert_eq!(a, TableName::parse("a").unwrap().lock_key());
    }

    #[test]
    fn portable_literals_double_their_quotes() {
        assert_eq!(Portable.literal("it's"), "'it''s'");
        assert_eq!(Portable.quote("a\"b"), "\"a\"\"b\"");
    }
}

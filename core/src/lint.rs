//! Lock-risk advice: statements that are valid for their branch but take
//! locks that block the service's queries while they run, on PostgreSQL
//! and on MySQL (each engine's own advice: `CONCURRENTLY` and `NOT VALID`
//! are PostgreSQL's, `ALGORITHM` and `LOCK` MySQL's). Warnings only;
//! `ebbtide lint` prints them, builds ignore them.
//!
//! Also what MySQL's implicit commits mean for a migration
//! ([`mysql_partial_failure`]), which builds do warn about.

use std::collections::HashSet;

use crate::classify::{Change, altered_table, classify, classify_with};
use crate::diagnostic::Diagnostic;
use crate::lexer::{Dialect, TokenKind, tokenize, tokenize_with};
use crate::migration::Migration;

/// The PostgreSQL lock-risk warnings of every migration, in order: the
/// advice for portable SQL ([`lock_risks_with`] for another dialect).
pub fn lock_risks(migrations: &[Migration]) -> Vec<Diagnostic> {
    lock_risks_with(migrations, Dialect::Portable)
}

/// The lock-risk warnings of every migration, in order, for the engine
/// whose `dialect` the migrations are written in: PostgreSQL's advice for
/// portable SQL (SQLite locks the whole database for any write, so it has
/// none of its own), MySQL's for MySQL.
pub fn lock_risks_with(migrations: &[Migration], dialect: Dialect) -> Vec<Diagnostic> {
    match dialect {
        Dialect::Mysql => migrations.iter().flat_map(mysql_lock_risks).collect(),
        _ => postgres_lock_risks(migrations),
    }
}

fn postgres_lock_risks(migrations: &[Migration]) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    // `table.column` that have a `CHECK (column IS NOT NULL)`, which lets
    // PostgreSQL set NOT NULL without a scan once validated.
    let mut checked: HashSet<String> = HashSet::new();
    for m in migrations {
        let mut created: HashSet<String> = HashSet::new();
        for (line, sql) in m.up.statements() {
            let Ok(tokens) = tokenize(sql) else { continue };
            let words: Vec<String> = tokens
                .iter()
                .filter(|t| t.kind == TokenKind::Word)
                .map(|t| sql[t.range.clone()].to_ascii_uppercase())
                .collect();
            let has = |seq: &[&str]| words.windows(seq.len()).any(|w| w.iter().zip(seq).all(|(a, b)| a == b));
            let warn = |message: String, help: &str| {
                Diagnostic::warning(m.up.path.to_string(), message).at_line(line).help(help.to_string())
            };
            for change in classify(sql, &tokens) {
                if let Change::AddConstraint { table } = &change
                    && let Some(at) = words.iter().position(|w| w == "CHECK")
                    && words.get(at + 2..at + 5).is_some_and(|w| w == ["IS", "NOT", "NULL"])
                {
                    checked.insert(format!("{table}.{}", words[at + 1].to_ascii_lowercase()));
                }
                match &change {
                    Change::Create { object, name: Some(name), .. } if object.ends_with("TABLE") => {
                        created.insert(name.clone());
                    }
                    Change::Create { object, .. } if object == "INDEX" && !has(&["CONCURRENTLY"]) => {
                        let table = index_table(&words);
                        let qualified = index_table_after_schema(&words);
                        let new = table.iter().chain(&qualified).any(|t| created.contains(t));
                        if !new {
                            out.push(warn(
                                "CREATE INDEX without CONCURRENTLY blocks writes to the table while the index builds"
                                    .into(),
                                "on PostgreSQL, use CREATE INDEX CONCURRENTLY in a migration marked `-- ebbtide: no-transaction`",
                            ));
                        }
                    }
                    Change::AddConstraint { table }
                        if (has(&["FOREIGN", "KEY"]) || has(&["REFERENCES"]))
                            && !has(&["NOT", "VALID"])
                            && !created.contains(table) =>
                    {
                        {
                            out.push(warn(
                                format!("adding a foreign key to {table} without NOT VALID scans the table under a lock that blocks writes"),
                                "add it NOT VALID here, then run `ALTER TABLE ... VALIDATE CONSTRAINT` in a later migration",
                            ));
                        }
                    }
                    Change::AddConstraint { table }
                        if (has(&["UNIQUE"]) || has(&["PRIMARY", "KEY"]))
                            && !has(&["USING", "INDEX"])
                            && !created.contains(table) =>
                    {
                        out.push(warn(
                            format!("adding a unique or primary key constraint to {table} builds its index under a lock that blocks writes"),
                            "build the index first with CREATE UNIQUE INDEX CONCURRENTLY (no-transaction), then ADD CONSTRAINT ... USING INDEX",
                        ))
                    }
                    Change::Neutral if has(&["SET", "LOGGED"]) || has(&["SET", "UNLOGGED"]) => out.push(warn(
                        "SET LOGGED / SET UNLOGGED rewrites the whole table under an exclusive lock".into(),
                        "run it in a maintenance window, or not at all on a busy table",
                    )),
                    Change::AlterExisting { what } if what.starts_with("changes the type") => out.push(warn(
                        format!("this statement {what}, which rewrites the table under an exclusive lock"),
                        "add a new column in expand, backfill it, and switch over instead of changing the type in place",
                    )),
                    Change::AlterExisting { what }
                        if what.starts_with("sets NOT NULL")
                            && !what.rsplit(' ').next().is_some_and(|column| checked.contains(column)) =>
                    {
                        out.push(warn(
                        format!("this statement {what}, which scans the whole table under an exclusive lock"),
                        "first add `CHECK (column IS NOT NULL) NOT VALID` and validate it; PostgreSQL 12+ then sets NOT NULL without a scan",
                        ))
                    }
                    _ => {}
                }
            }
        }
    }
    out
}

/// What a MariaDB Galera cluster adds to MySQL's advice: DDL runs in
/// total order isolation (TOI), applied by every node at the same point
/// of the replication stream, so that writes everywhere wait until it
/// ends. Only `ALGORITHM=INSTANT` changes, which touch no row, are cheap;
/// an index build or a table rebuild stalls the whole cluster for as long
/// as it takes, `LOCK=NONE` or not, and aborts the transactions it
/// conflicts with (error 1213, which the application must retry).
pub fn galera_risks(migrations: &[Migration]) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for m in migrations {
        let mut created: HashSet<String> = HashSet::new();
        for (line, sql) in m.up.statements() {
            let Ok(tokens) = tokenize_with(sql, Dialect::Mysql) else { continue };
            let words: Vec<String> = tokens
                .iter()
                .filter(|t| t.kind == TokenKind::Word)
                .map(|t| sql[t.range.clone()].to_ascii_uppercase())
                .collect();
            let changes = classify_with(sql, &tokens, Dialect::Mysql);
            let mut index_on = None;
            for change in &changes {
                match change {
                    Change::Create { object, name: Some(name), .. } if object.ends_with("TABLE") => {
                        created.insert(name.clone());
                    }
                    Change::Create { object, on: Some(on), .. } if object == "INDEX" => index_on = Some(on.clone()),
                    _ => {}
                }
            }
            let Some(table) = altered_table(sql, &tokens, Dialect::Mysql).or(index_on.clone()) else { continue };
            if created.contains(&table) || clause(&words, "ALGORITHM").as_deref() == Some("INSTANT") {
                continue;
            }
            let what = if index_on.is_some() || words.iter().any(|w| w == "INDEX" || w == "KEY" || w == "UNIQUE") {
                format!("an index build on table {table}")
            } else {
                format!("this change of table {table}, unless MariaDB can make it INSTANT,")
            };
            out.push(
                Diagnostic::warning(
                    m.up.path.to_string(),
                    format!(
                        "on a Galera cluster, {what} runs in total order (TOI): writes on every node wait until it \
                         ends, and the transactions it conflicts with are aborted (error 1213)"
                    ),
                )
                .at_line(line)
                .help(
                    "add ALGORITHM=INSTANT where MariaDB supports it for this change (it then refuses rather than \
                     copy); otherwise run it when the service is quiet, or apply it node by node with \
                     wsrep_OSU_method=RSU by hand (ebbtide does not: see README, Running on a Galera cluster). \
                     Applications on Galera retry on error 1213 in any case"
                        .to_string(),
                ),
            );
        }
    }
    out
}

/// The value a MySQL clause `KEY [=] VALUE` is given (`ALGORITHM`, `LOCK`),
/// upper case, from a statement's words.
fn clause(words: &[String], key: &str) -> Option<String> {
    let at = words.iter().position(|w| w == key)?;
    words.get(at + 1).cloned()
}

/// MySQL's lock-risk warnings for one migration. An `ALTER TABLE` or an
/// index build on a table this migration did not create may copy the table
/// or lock it, unless it says how MySQL must run it: with
/// `ALGORITHM=INSTANT` or `ALGORITHM=INPLACE, LOCK=NONE`, MySQL refuses a
/// change it cannot make that way instead of silently falling back to a
/// blocking copy.
fn mysql_lock_risks(m: &Migration) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let mut created: HashSet<String> = HashSet::new();
    let mut foreign_key_checks_off = false;
    for (line, sql) in m.up.statements() {
        let Ok(tokens) = tokenize_with(sql, Dialect::Mysql) else { continue };
        let words: Vec<String> = tokens
            .iter()
            .filter(|t| t.kind == TokenKind::Word || t.kind == TokenKind::Number)
            .map(|t| sql[t.range.clone()].to_ascii_uppercase())
            .collect();
        let warn = |message: String, help: &str| {
            Diagnostic::warning(m.up.path.to_string(), message).at_line(line).help(help.to_string())
        };
        let changes = classify_with(sql, &tokens, Dialect::Mysql);
        // SET [SESSION] foreign_key_checks = 0|OFF (and back on).
        if words.first().is_some_and(|w| w == "SET")
            && let Some(at) = words.iter().position(|w| w == "FOREIGN_KEY_CHECKS" || w == "@@FOREIGN_KEY_CHECKS")
        {
            foreign_key_checks_off = words.get(at + 1).is_some_and(|v| v == "0" || v == "OFF" || v == "FALSE");
        }
        let alter = altered_table(sql, &tokens, Dialect::Mysql);
        let mut index = None;
        for change in &changes {
            match change {
                Change::Create { object, name: Some(name), .. } if object.ends_with("TABLE") => {
                    created.insert(name.clone());
                }
                Change::Create { object, name, on: Some(on), .. } if object == "INDEX" => {
                    index = Some((name.clone(), on.clone()));
                }
                _ => {}
            }
        }
        let Some(table) = alter.clone().or_else(|| index.as_ref().map(|(_, on)| on.clone())) else { continue };
        if created.contains(&table) {
            continue;
        }
        let algorithm = clause(&words, "ALGORITHM");
        let lock = clause(&words, "LOCK");
        let (instant, inplace) = (algorithm.as_deref() == Some("INSTANT"), algorithm.as_deref() == Some("INPLACE"));
        let lock_none = lock.as_deref() == Some("NONE");
        let blocking = match (algorithm.as_deref(), lock.as_deref()) {
            (Some("COPY"), _) => {
                Some(format!("ALGORITHM=COPY copies table {table} and blocks writes to it until the copy is done"))
            }
            (_, Some("EXCLUSIVE")) => {
                Some(format!("LOCK=EXCLUSIVE blocks reads and writes of table {table} while this statement runs"))
            }
            (_, Some("SHARED")) => {
                Some(format!("LOCK=SHARED blocks writes to table {table} while this statement runs"))
            }
            _ => None,
        };
        if let Some(message) = blocking {
            out.push(warn(
                message,
                "use ALGORITHM=INSTANT, or ALGORITHM=INPLACE, LOCK=NONE, where MySQL supports it for this change; otherwise run it when the service is quiet",
            ));
            continue;
        }
        let foreign_key = changes.iter().any(|c| matches!(c, Change::AddConstraint { .. }))
            && (words.windows(2).any(|w| w[0] == "FOREIGN" && w[1] == "KEY")
                || words.iter().any(|w| w == "REFERENCES"));
        if foreign_key && !foreign_key_checks_off {
            out.push(warn(
                format!("adding a foreign key to {table} with foreign_key_checks on makes MySQL copy the table, blocking writes while it checks every row"),
                "if every row is known to match, run `SET foreign_key_checks = 0` before it in this migration and add ALGORITHM=INPLACE, LOCK=NONE; otherwise run it when the service is quiet",
            ));
            continue;
        }
        if let Some((name, _)) = &index {
            let name = name.as_deref().map(|n| format!("index {n}")).unwrap_or_else(|| "an index".into());
            if instant {
                out.push(warn(
                    format!("ALGORITHM=INSTANT cannot build {name} on table {table}: MySQL refuses this statement"),
                    "use ALGORITHM=INPLACE, LOCK=NONE, which builds the index while writes go on",
                ));
            } else if !(inplace && lock_none) {
                out.push(warn(
                    format!("building {name} on existing table {table} without ALGORITHM=INPLACE, LOCK=NONE may block writes to it while the index builds"),
                    "add ALGORITHM=INPLACE, LOCK=NONE (to CREATE INDEX, or to the ALTER TABLE's list): MySQL then builds the index while writes go on, or refuses the statement rather than block them",
                ));
            }
            continue;
        }
        if alter.is_none() || instant || (inplace && lock_none) {
            continue;
        }
        if inplace {
            out.push(warn(
                format!("ALTER TABLE {table} with ALGORITHM=INPLACE but without LOCK=NONE may still block writes to the table"),
                "add LOCK=NONE: MySQL then makes the change while writes go on, or refuses the statement rather than block them",
            ));
            continue;
        }
        let adds_columns = !changes.is_empty() && changes.iter().all(|c| matches!(c, Change::AddColumn { .. }));
        out.push(warn(
            format!("ALTER TABLE {table} without ALGORITHM=INSTANT or ALGORITHM=INPLACE, LOCK=NONE may rebuild the table by copying it, blocking writes while it does"),
            if adds_columns {
                "add ALGORITHM=INSTANT: MySQL 8.0 adds a column without touching the rows (before 8.0.29, only as the last column), and refuses the statement rather than silently copy the table"
            } else {
                "add ALGORITHM=INSTANT, or ALGORITHM=INPLACE, LOCK=NONE, whichever MySQL supports for this change: it then refuses the statement rather than silently copy the table"
            },
        ));
    }
    out
}

/// Statements that MySQL commits on their own, implicitly: DDL, but for
/// `CREATE TEMPORARY TABLE` and `DROP TEMPORARY TABLE`.
fn commits_implicitly(words: &[String]) -> bool {
    matches!(words.first().map(String::as_str), Some("CREATE" | "ALTER" | "DROP" | "RENAME" | "TRUNCATE"))
        && words.get(1).is_none_or(|w| w != "TEMPORARY")
}

/// MySQL commits each DDL statement on its own (an implicit commit before
/// and after it), so a migration with several of them, or with DDL and
/// data changes, can fail half-way and leave what ran before the failure
/// applied. The warning for a MySQL script `path` of `statements` (each
/// with the line it starts on) that can; `None` for one that cannot.
///
/// ```
/// let sql = ["ALTER TABLE users ADD COLUMN email text;", "UPDATE users SET email = '';"];
/// let warning = ebbtide_core::lint::mysql_partial_failure("m/expand/0002_email.sql", [(1, sql[0]), (2, sql[1])]).unwrap();
/// assert_eq!(warning.line, Some(2));
/// assert!(warning.message.contains("commits each DDL statement on its own"));
/// ```
pub fn mysql_partial_failure<'a>(
    path: &str,
    statements: impl IntoIterator<Item = (u32, &'a str)>,
) -> Option<Diagnostic> {
    let (mut ddl, mut data) = (Vec::new(), Vec::new());
    for (line, sql) in statements {
        let Ok(tokens) = tokenize_with(sql, Dialect::Mysql) else { continue };
        let words: Vec<String> = tokens
            .iter()
            .filter(|t| t.kind == TokenKind::Word)
            .take(2)
            .map(|t| sql[t.range.clone()].to_ascii_uppercase())
            .collect();
        if commits_implicitly(&words) {
            ddl.push(line);
        } else if classify_with(sql, &tokens, Dialect::Mysql)
            .iter()
            .any(|c| matches!(c, Change::Insert { .. } | Change::Update { .. } | Change::Delete { .. }))
        {
            data.push(line);
        }
    }
    if ddl.is_empty() || ddl.len() + data.len() < 2 {
        return None;
    }
    let lines = |lines: &[u32]| match lines {
        [one] => format!("line {one}"),
        [init @ .., last] => {
            format!("lines {} and {last}", init.iter().map(u32::to_string).collect::<Vec<_>>().join(", "))
        }
        [] => String::new(),
    };
    let held = match (ddl.len(), data.is_empty()) {
        (1, false) => format!("a DDL statement ({}) and data changes ({})", lines(&ddl), lines(&data)),
        (n, true) => format!("{n} DDL statements ({})", lines(&ddl)),
        (n, false) => format!("{n} DDL statements ({}) and data changes ({})", lines(&ddl), lines(&data)),
    };
    // Where the migration can first be left half-done: the second statement.
    let mut all: Vec<u32> = ddl.iter().chain(&data).copied().collect();
    all.sort_unstable();
    Some(
        Diagnostic::warning(
            path,
            format!(
                "MySQL commits each DDL statement on its own, and this migration holds {held}: \
                 if a statement fails, those before it stay applied and the migration is left half-done"
            ),
        )
        .at_line(all[1])
        .help(
            "split it into one migration per DDL statement (data changes in migrations of their own), \
             so that each migration either applies whole or not at all",
        ),
    )
}

/// The table of a `CREATE INDEX ... ON [ONLY] table`, case-folded.
fn index_table(words: &[String]) -> Option<String> {
    let on = words.iter().position(|w| w == "ON")?;
    let mut rest = words[on + 1..].iter();
    let mut table = rest.next()?;
    if table == "ONLY" {
        table = rest.next()?;
    }
    Some(table.to_ascii_lowercase())
}

/// The word after the table of `CREATE INDEX ... ON [ONLY] table`: the
/// table itself when it was qualified (`ON public.users`: `PUBLIC`, `USERS`).
fn index_table_after_schema(words: &[String]) -> Option<String> {
    let on = words.iter().position(|w| w == "ON")?;
    let skip = usize::from(words.get(on + 1).is_some_and(|w| w == "ONLY"));
    words.get(on + 2 + skip).map(|w| w.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn risks(files: &[(&str, &str)]) -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        for (path, sql) in files {
            let full = dir.path().join(path);
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(full, sql).unwrap();
        }
        let loaded = crate::load(dir.path(), "migrations").unwrap();
        lock_risks(&loaded.migrations).into_iter().map(|d| d.message).collect()
    }

    fn mysql_risks(files: &[(&str, &str)]) -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        for (path, sql) in files {
            let full = dir.path().join(path);
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(full, sql).unwrap();
        }
        let loaded = crate::load_with(dir.path(), "migrations", Dialect::Mysql).unwrap();
        lock_risks_with(&loaded.migrations, Dialect::Mysql).into_iter().map(|d| d.to_string()).collect()
    }

    #[test]
    fn mysql_alter_table_without_algorithm_may_copy_the_table() {
        let found = mysql_risks(&[
            ("initial/0001_create.sql", "CREATE TABLE users (id INT PRIMARY KEY, name TEXT);"),
            ("expand/0002_email.sql", "ALTER TABLE users ADD COLUMN email TEXT;"),
            ("expand/0003_instant.sql", "ALTER TABLE users ADD COLUMN phone TEXT, ALGORITHM=INSTANT;"),
            (
                "expand/0004_inplace.sql",
                "ALTER TABLE users ALTER COLUMN name SET DEFAULT '', ALGORITHM=INPLACE, LOCK=NONE;",
            ),
            (
                "expand/0005_new.sql",
                "-- one migration, one table\nCREATE TABLE notes (id INT);\nALTER TABLE notes ADD COLUMN body TEXT;",
            ),
            ("contract/0006_type.sql", "ALTER TABLE users MODIFY name VARCHAR(100), ALGORITHM=INPLACE;"),
            ("contract/0007_copy.sql", "ALTER TABLE users DROP COLUMN phone, ALGORITHM=COPY;"),
            ("contract/0008_lock.sql", "ALTER TABLE users DROP COLUMN email, LOCK=SHARED;"),
        ]);
        assert_eq!(found.len(), 4, "{found:#?}");
        assert!(
            found[0].starts_with("migrations/expand/0002_email.sql:1: ALTER TABLE users without ALGORITHM=INSTANT"),
            "{found:#?}"
        );
        assert!(found[0].contains("add ALGORITHM=INSTANT: MySQL 8.0 adds a column"), "{found:#?}");
        assert!(found[1].contains("ALGORITHM=INPLACE but without LOCK=NONE"), "{found:#?}");
        assert!(found[2].contains("ALGORITHM=COPY copies table users and blocks writes"), "{found:#?}");
        assert!(found[3].contains("LOCK=SHARED blocks writes to table users"), "{found:#?}");
        assert!(found.iter().all(|f| !f.contains("CONCURRENTLY") && !f.contains("NOT VALID")), "{found:#?}");
    }

    #[test]
    fn mysql_index_builds_and_foreign_keys() {
        let found = mysql_risks(&[
            (
                "initial/0001_create.sql",
                "CREATE TABLE users (id INT PRIMARY KEY, email TEXT);\nCREATE TABLE posts (id INT, user_id INT);",
            ),
            ("expand/0002_index.sql", "CREATE INDEX users_email ON users (email);"),
            ("expand/0003_index.sql", "CREATE INDEX users_email2 ON users (email) ALGORITHM=INPLACE LOCK=NONE;"),
            (
                "expand/0004_index.sql",
                "ALTER TABLE users ADD INDEX users_email3 (email), ALGORITHM=INPLACE, LOCK=NONE;",
            ),
            ("expand/0005_index.sql", "ALTER TABLE users ADD INDEX users_email4 (email), ALGORITHM=INSTANT;"),
            ("expand/0006_index.sql", "ALTER TABLE users ADD KEY users_email5 (email);"),
            (
                "expand/0007_fk.sql",
                "ALTER TABLE posts ADD CONSTRAINT posts_user FOREIGN KEY (user_id) REFERENCES users (id);",
            ),
            (
                "expand/0008_fk.sql",
                "SET foreign_key_checks = 0;\nALTER TABLE posts ADD CONSTRAINT posts_user2 FOREIGN KEY (user_id) REFERENCES users (id), ALGORITHM=INPLACE, LOCK=NONE;",
            ),
        ]);
        assert_eq!(found.len(), 4, "{found:#?}");
        assert!(found[0].contains("0002_index.sql:1: building index users_email on existing table users without ALGORITHM=INPLACE, LOCK=NONE"), "{found:#?}");
        assert!(found[1].contains("ALGORITHM=INSTANT cannot build index users_email4"), "{found:#?}");
        assert!(found[2].contains("building index users_email5"), "{found:#?}");
        assert!(found[3].contains("adding a foreign key to posts with foreign_key_checks on"), "{found:#?}");
        // Read as PostgreSQL, the same index build gets PostgreSQL's advice.
        let portable = risks(&[
            ("initial/0001_create.sql", "CREATE TABLE users (id INT PRIMARY KEY, email TEXT);"),
            ("expand/0002_index.sql", "CREATE INDEX users_email ON users (email);"),
        ]);
        assert!(portable[0].contains("CONCURRENTLY"), "{portable:#?}");
    }

    #[test]
    fn warns_about_blocking_index_builds_on_existing_tables_only() {
        let found = risks(&[
            (
                "expand/0001_create_users.sql",
                "CREATE TABLE users (id int, email text);\nCREATE INDEX users_id ON users (id);",
            ),
            ("expand/0002_index_email.sql", "CREATE INDEX users_email ON users (email);"),
            (
                "expand/0003_index_email2.sql",
                "-- ebbtide: no-transaction\nCREATE INDEX CONCURRENTLY users_email2 ON users (email);",
            ),
        ]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("without CONCURRENTLY"));
    }

    #[test]
    fn an_index_on_a_table_created_in_the_same_migration_is_no_risk_qualified_or_not() {
        let found = risks(&[
            (
                "expand/0001_create_users.sql",
                "CREATE TABLE users (id int, email text);\nCREATE INDEX users_id ON public.users USING btree (id);",
            ),
            ("expand/0002_index_email.sql", "CREATE INDEX users_email ON public.users USING btree (email);"),
        ]);
        assert_eq!(found.len(), 1, "{found:?}");
    }

    #[test]
    fn on_galera_only_instant_changes_and_new_tables_are_no_risk() {
        let dir = tempfile::tempdir().unwrap();
        let files = [
            (
                "expand/0001_create.sql",
                "CREATE TABLE users (id INT PRIMARY KEY, email TEXT, KEY users_email (email(20)));",
            ),
            ("expand/0002_index.sql", "CREATE INDEX users_email2 ON users (email(10)) ALGORITHM=INPLACE, LOCK=NONE;"),
            ("expand/0003_column.sql", "ALTER TABLE users ADD COLUMN nick TEXT, ALGORITHM=INSTANT;"),
            ("contract/0004_rebuild.sql", "ALTER TABLE users MODIFY email VARCHAR(300), ALGORITHM=INPLACE, LOCK=NONE;"),
        ];
        for (path, sql) in files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, sql).unwrap();
        }
        let loaded = crate::load_with(dir.path(), "m", Dialect::Mysql).unwrap();
        let found: Vec<String> = galera_risks(&loaded.migrations).iter().map(|d| d.to_string()).collect();
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].contains("0002_index") && found[0].contains("an index build on table users"), "{found:?}");
        assert!(found[1].contains("0004_rebuild") && found[1].contains("total order (TOI)"), "{found:?}");
    }

    #[test]
    fn set_not_null_after_a_not_null_check_is_no_risk() {
        let found = risks(&[
            ("expand/0001_create.sql", "CREATE TABLE users (id int, email text, name text);"),
            (
                "contract/0002_checks.sql",
                "ALTER TABLE users ADD CONSTRAINT users_email_not_null CHECK (email IS NOT NULL) NOT VALID;",
            ),
            ("contract/0003_validate.sql", "ALTER TABLE users VALIDATE CONSTRAINT users_email_not_null;"),
            (
                "contract/0004_not_null.sql",
                "ALTER TABLE users ALTER COLUMN email SET NOT NULL;\nALTER TABLE users ALTER COLUMN name SET NOT NULL;",
            ),
        ]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("users.name"), "{found:?}");
    }

    #[test]
    fn warns_about_validated_foreign_keys_type_changes_and_not_null() {
        let found = risks(&[
            (
                "expand/0001_create.sql",
                "CREATE TABLE users (id int PRIMARY KEY);\nCREATE TABLE posts (id int, user_id int);",
            ),
            (
                "expand/0002_fk.sql",
                "ALTER TABLE posts ADD CONSTRAINT posts_user FOREIGN KEY (user_id) REFERENCES users (id);",
            ),
            (
                "expand/0003_fk_nv.sql",
                "ALTER TABLE posts ADD CONSTRAINT posts_user2 FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;",
            ),
            ("contract/0004_type.sql", "ALTER TABLE posts ALTER COLUMN user_id TYPE bigint;"),
            ("contract/0005_nn.sql", "ALTER TABLE posts ALTER COLUMN user_id SET NOT NULL;"),
            (
                "expand/0006_check.sql",
                "ALTER TABLE posts ADD CONSTRAINT posts_user_nn CHECK (user_id IS NOT NULL) NOT VALID;",
            ),
            ("expand/0007_unique.sql", "ALTER TABLE users ADD CONSTRAINT users_id_key UNIQUE (id);"),
            ("expand/0008_unlogged.sql", "ALTER TABLE posts SET UNLOGGED;"),
        ]);
        assert_eq!(found.len(), 5, "{found:?}");
        assert!(found[0].contains("foreign key to posts"));
        assert!(found[1].contains("rewrites the table"));
        assert!(found[2].contains("scans the whole table"));
        assert!(found[3].contains("unique or primary key constraint to users"));
        assert!(found[4].contains("SET UNLOGGED"));
    }
}

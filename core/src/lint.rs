//! Lock-risk advice for PostgreSQL: statements that are valid for their
//! branch but take locks that block the service's queries while they run.
//! Warnings only; `ebbtide lint` prints them, builds ignore them.

use std::collections::HashSet;

use crate::classify::{Change, classify};
use crate::diagnostic::Diagnostic;
use crate::lexer::{TokenKind, tokenize};
use crate::migration::Migration;

/// The lock-risk warnings of every migration, in order.
pub fn lock_risks(migrations: &[Migration]) -> Vec<Diagnostic> {
    let mut out = Vec::new();
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
                match &change {
                    Change::Create { object, name: Some(name), .. } if object.ends_with("TABLE") => {
                        created.insert(name.clone());
                    }
                    Change::Create { object, .. } if object == "INDEX" && !has(&["CONCURRENTLY"]) => {
                        let table = index_table(&words);
                        if table.as_ref().is_none_or(|t| !created.contains(t)) {
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
                    Change::AlterExisting { what } if what.starts_with("sets NOT NULL") => out.push(warn(
                        format!("this statement {what}, which scans the whole table under an exclusive lock"),
                        "first add `CHECK (column IS NOT NULL) NOT VALID` and validate it; PostgreSQL 12+ then sets NOT NULL without a scan",
                    )),
                    _ => {}
                }
            }
        }
    }
    out
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

//! Reading a SQLite schema from `sqlite_master` and the `pragma_*` table
//! functions.
//!
//! SQLite keeps each object's `CREATE` statement as written: tables,
//! indexes, views and triggers compare by it where the pragmas say
//! nothing (check constraints, generated columns).

use std::collections::BTreeMap;

use ebbtide_core::lexer::{TokenKind, tokenize};
use rusqlite::Connection;

use super::{Column, Constraint, ConstraintKind, Index, Schema, Table, Trigger};

/// Reads the schema of `conn`'s main database, leaving out SQLite's own
/// tables, ebbtide's version tables (`ebbtide*`) and the history tables of
/// the tools ebbtide adopts databases from.
pub fn read(conn: &Connection) -> rusqlite::Result<Schema> {
    let mut schema = Schema::default();
    let objects: Vec<(String, String, String, Option<String>)> = {
        let mut stmt = conn.prepare(&format!(
            "SELECT type, name, tbl_name, sql FROM sqlite_master \
             WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND tbl_name NOT LIKE 'ebbtide%' \
             AND tbl_name NOT IN {} ORDER BY type, name",
            crate::dialect::other_tools_tables()
        ))?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for (kind, name, table, sql) in objects {
        let Some(sql) = sql else { continue };
        match kind.as_str() {
            "table" => {
                let t = read_table(conn, &name, &sql)?;
                schema.tables.insert(name, t);
            }
            "index" => {
                schema.indexes.insert(name.clone(), Index { name, table, definition: sql });
            }
            "view" => {
                schema.views.insert(name, sql);
            }
            "trigger" => {
                schema.triggers.insert(name.clone(), Trigger { name, table, definition: sql });
            }
            _ => {}
        }
    }
    Ok(schema)
}

fn read_table(conn: &Connection, name: &str, sql: &str) -> rusqlite::Result<Table> {
    let mut columns = Vec::new();
    let mut key: Vec<(i64, String)> = Vec::new();
    {
        let mut stmt = conn.prepare(
            "SELECT name, type, \"notnull\", dflt_value, pk, hidden FROM pragma_table_xinfo(?1) ORDER BY cid",
        )?;
        let mut rows = stmt.query([name])?;
        while let Some(row) = rows.next()? {
            let column: String = row.get(0)?;
            let pk: i64 = row.get(4)?;
            let hidden: i64 = row.get(5)?;
            if pk > 0 {
                key.push((pk, column.clone()));
            }
            columns.push(Column {
                data_type: row.get::<_, String>(1)?.to_ascii_uppercase(),
                not_null: row.get::<_, i64>(2)? != 0,
                default: row.get(3)?,
                generated: match hidden {
                    2 => Some("GENERATED ALWAYS VIRTUAL".to_string()),
                    3 => Some("GENERATED ALWAYS STORED".to_string()),
                    _ => None,
                },
                name: column,
            });
        }
    }
    let mut constraints = Vec::new();
    if !key.is_empty() {
        key.sort();
        let columns: Vec<&str> = key.iter().map(|(_, c)| c.as_str()).collect();
        constraints.push(Constraint {
            name: format!("{name}_pkey"),
            kind: ConstraintKind::PrimaryKey,
            definition: format!("PRIMARY KEY ({})", columns.join(", ")),
        });
    }
    // Unique constraints: the indexes SQLite made for them.
    let unique: Vec<String> = {
        let mut stmt = conn.prepare("SELECT name FROM pragma_index_list(?1) WHERE origin = 'u' ORDER BY name")?;
        let rows = stmt.query_map([name], |r| r.get(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for index in unique {
        let mut stmt = conn.prepare("SELECT name FROM pragma_index_info(?1) ORDER BY seqno")?;
        let columns: Vec<String> = stmt.query_map([&index], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
        constraints.push(Constraint {
            name: index,
            kind: ConstraintKind::Unique,
            definition: format!("UNIQUE ({})", columns.join(", ")),
        });
    }
    // Foreign keys, one per id, their columns in order.
    let mut keys: BTreeMap<i64, ForeignKey> = BTreeMap::new();
    {
        let mut stmt = conn.prepare(
            "SELECT id, \"table\", \"from\", \"to\", on_update, on_delete FROM pragma_foreign_key_list(?1) ORDER BY id, seq",
        )?;
        let mut rows = stmt.query([name])?;
        while let Some(row) = rows.next()? {
            let entry = keys.entry(row.get(0)?).or_default();
            entry.target = row.get(1)?;
            entry.from.push(row.get(2)?);
            if let Some(to) = row.get::<_, Option<String>>(3)? {
                entry.to.push(to);
            }
            entry.on_update = row.get(4)?;
            entry.on_delete = row.get(5)?;
        }
    }
    for (id, ForeignKey { target, from, to, on_update, on_delete }) in keys {
        let mut definition = format!("FOREIGN KEY ({}) REFERENCES {target}", from.join(", "));
        if !to.is_empty() {
            definition.push_str(&format!("({})", to.join(", ")));
        }
        for (event, action) in [("UPDATE", on_update), ("DELETE", on_delete)] {
            if action != "NO ACTION" {
                definition.push_str(&format!(" ON {event} {action}"));
            }
        }
        constraints.push(Constraint { name: format!("{name}_fkey{id}"), kind: ConstraintKind::ForeignKey, definition });
    }
    for (at, check) in checks(sql).into_iter().enumerate() {
        constraints.push(Constraint {
            name: format!("{name}_check{at}"),
            kind: ConstraintKind::Check,
            definition: format!("CHECK ({check})"),
        });
    }
    constraints.sort_by(|a, b| (a.kind, &a.definition).cmp(&(b.kind, &b.definition)));
    Ok(Table { name: name.to_string(), columns, constraints, definition: Some(sql.to_string()) })
}

/// One foreign key, as `pragma_foreign_key_list` lists it over rows.
#[derive(Default)]
struct ForeignKey {
    target: String,
    from: Vec<String>,
    to: Vec<String>,
    on_update: String,
    on_delete: String,
}

/// The expressions of the `CHECK (...)` constraints in a `CREATE TABLE`
/// statement, as written, whitespace collapsed.
fn checks(sql: &str) -> Vec<String> {
    let Ok(tokens) = tokenize(sql) else { return Vec::new() };
    let significant: Vec<_> = tokens
        .iter()
        .filter(|t| !matches!(t.kind, TokenKind::Whitespace | TokenKind::LineComment | TokenKind::BlockComment))
        .collect();
    let mut out = Vec::new();
    for (at, token) in significant.iter().enumerate() {
        if !sql[token.range.clone()].eq_ignore_ascii_case("check") {
            continue;
        }
        let Some(open) = significant.get(at + 1).filter(|t| &sql[t.range.clone()] == "(") else { continue };
        let mut depth = 0;
        for t in &significant[at + 1..] {
            match &sql[t.range.clone()] {
                "(" => depth += 1,
                ")" => {
                    depth -= 1;
                    if depth == 0 {
                        let inner = &sql[open.range.end..t.range.start];
                        out.push(inner.split_whitespace().collect::<Vec<_>>().join(" "));
                        break;
                    }
                }
                _ => {}
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(sql: &str) -> Schema {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(sql).unwrap();
        read(&conn).unwrap()
    }

    #[test]
    fn reads_columns_keys_and_constraints() {
        let s = schema(
            "CREATE TABLE teams (id INTEGER PRIMARY KEY);
             CREATE TABLE users (
                 id INTEGER PRIMARY KEY,
                 email text NOT NULL UNIQUE,
                 age INT DEFAULT 0 CHECK (age >= 0),
                 team_id INT REFERENCES teams (id) ON DELETE CASCADE
             );
             CREATE INDEX users_age ON users (age) WHERE age > 10;
             CREATE VIEW adults AS SELECT * FROM users WHERE age >= 18;
             CREATE TABLE ebbtide_migrations (version INT);
             CREATE TABLE _sqlx_migrations (version BIGINT PRIMARY KEY);
             CREATE TABLE __diesel_schema_migrations (version VARCHAR(50) PRIMARY KEY);",
        );
        // ebbtide's table and the history tables of the tools it adopts from are not the application's.
        assert_eq!(s.tables.keys().collect::<Vec<_>>(), ["teams", "users"]);
        let users = &s.tables["users"];
        let email = users.column("email").unwrap();
        assert_eq!((email.data_type.as_str(), email.not_null), ("TEXT", true));
        assert_eq!(users.column("age").unwrap().default.as_deref(), Some("0"));
        let definitions: Vec<&str> = users.constraints.iter().map(|c| c.definition.as_str()).collect();
        assert_eq!(
            definitions,
            [
                "PRIMARY KEY (id)",
                "UNIQUE (email)",
                "CHECK (age >= 0)",
                "FOREIGN KEY (team_id) REFERENCES teams(id) ON DELETE CASCADE"
            ]
        );
        assert!(s.indexes["users_age"].definition.contains("WHERE age > 10"));
        assert!(s.views.contains_key("adults"));
    }
}

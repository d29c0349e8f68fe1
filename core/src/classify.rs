//! Statement classification: what a statement does to the schema or the
//! data, read from its keywords.
//!
//! The classifier looks at the leading keywords and the object names, never
//! inside function bodies or `DO` blocks (those are opaque). It recognises
//! the statements of PostgreSQL and SQLite that migrations use; anything else
//! is [`Change::Unknown`], which the branch rules refuse until annotated.

use crate::lexer::{Dialect, Token, TokenKind};

/// What one statement (or one action of an `ALTER TABLE`) does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// `CREATE TABLE|INDEX|VIEW|FUNCTION|TRIGGER|...`.
    Create {
        /// `TABLE`, `INDEX`, `FUNCTION`, ... (upper case, e.g. `MATERIALIZED VIEW`).
        object: String,
        /// The object's name, when it has one (schema dropped, case folded).
        name: Option<String>,
        /// `CREATE OR REPLACE`.
        or_replace: bool,
        /// For an index or a trigger, the table it is on.
        on: Option<String>,
        /// `IF NOT EXISTS`: the name may belong to an older object, which
        /// the statement then leaves as it is.
        if_not_exists: bool,
        /// `CREATE TEMP ...` (or in schema `temp`/`pg_temp`): the object
        /// lives in the session, and its name may hide an older one.
        temporary: bool,
    },
    /// `ALTER TABLE t ADD COLUMN c ...`.
    AddColumn {
        /// Table name.
        table: String,
        /// Column name.
        column: String,
        /// `NOT NULL` (or `PRIMARY KEY`) with no default to fill existing rows.
        not_null_without_default: bool,
        /// `ADD COLUMN IF NOT EXISTS`: the column may be an older one.
        if_not_exists: bool,
    },
    /// `ALTER TABLE t ADD CONSTRAINT|PRIMARY KEY|UNIQUE|FOREIGN KEY|CHECK`.
    AddConstraint {
        /// Table name.
        table: String,
    },
    /// `ALTER TABLE t ALTER COLUMN c DROP NOT NULL`: loosens a constraint.
    DropNotNull {
        /// Table name.
        table: String,
    },
    /// `ALTER TABLE t ALTER COLUMN c SET DEFAULT ...`.
    SetDefault {
        /// Table name.
        table: String,
    },
    /// `ALTER TYPE e ADD VALUE ...`, `ALTER TABLE ... ATTACH PARTITION`,
    /// `ENABLE TRIGGER`: other additions to an existing object.
    OtherAddition {
        /// What the statement adds, for messages.
        what: String,
    },
    /// `INSERT` (`upsert` when it may overwrite existing rows).
    Insert {
        /// Table name.
        table: Option<String>,
        /// `ON CONFLICT DO UPDATE`, `INSERT OR REPLACE`, `REPLACE INTO`.
        upsert: bool,
    },
    /// `DROP ...` of any object, or `ALTER TABLE ... DROP COLUMN|CONSTRAINT`.
    Drop {
        /// `TABLE`, `COLUMN`, `INDEX`, ... (upper case).
        object: String,
        /// The dropped object's name, when one was found.
        name: Option<String>,
        /// For `DROP COLUMN`, the table.
        table: Option<String>,
        /// `CASCADE`: what depends on the object goes with it.
        cascade: bool,
    },
    /// `ALTER TABLE t RENAME TO u`.
    RenameTable {
        /// Old name.
        from: String,
        /// New name.
        to: Option<String>,
    },
    /// `ALTER TABLE t RENAME [COLUMN] a TO b`, or MySQL's `CHANGE a b type`.
    RenameColumn {
        /// Table name.
        table: String,
        /// Old column name.
        from: String,
        /// New column name.
        to: Option<String>,
        /// MySQL's `CHANGE [COLUMN] a b type ...`, which renames the column
        /// and gives it a new definition (type, nullability, default) at once.
        redefined: bool,
    },
    /// Any other change to an existing object: `ALTER COLUMN ... TYPE`,
    /// `SET NOT NULL`, `DROP DEFAULT`, renames of indexes or constraints,
    /// `SET SCHEMA`, `DISABLE TRIGGER`, ...
    AlterExisting {
        /// What is altered, for messages (e.g. "changes the type of column users.age").
        what: String,
    },
    /// `UPDATE t SET a = ..., b = ...` (or a data-modifying `WITH`/`MERGE`).
    Update {
        /// Table name, when known.
        table: Option<String>,
        /// The assigned columns; empty when unknown.
        columns: Vec<String>,
    },
    /// `DELETE FROM t`.
    Delete {
        /// Table name.
        table: Option<String>,
    },
    /// `TRUNCATE t`.
    Truncate {
        /// Table names.
        tables: Vec<String>,
        /// `CASCADE`: tables that refer to these are emptied too.
        cascade: bool,
    },
    /// `SET`, `COMMENT ON`, `GRANT`, `SELECT`, `ANALYZE`, ...
    Neutral,
    /// A SQLite `PRAGMA`: a query, or a setting with `value`.
    Pragma {
        /// The pragma's name, lower case, without its schema.
        name: String,
        /// The value it is set to (`PRAGMA x = v` or `PRAGMA x(v)`), as
        /// written; `None` for a query.
        value: Option<String>,
    },
    /// `BEGIN`, `COMMIT`, `ROLLBACK`, `SAVEPOINT`: ebbtide manages transactions.
    TransactionControl,
    /// `DO` blocks and `CALL`: their effect is hidden in a body.
    Opaque {
        /// The leading keyword.
        keyword: String,
    },
    /// A statement the classifier does not recognise.
    Unknown {
        /// The leading keywords, for messages.
        keywords: String,
    },
}

/// The coarse classes of the README's classification table.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Category {
    /// New objects, columns, constraints.
    AdditiveSchema,
    /// Drops, renames, type changes, tightened constraints.
    DestructiveSchema,
    /// `INSERT` of new rows.
    DataInsert,
    /// `UPDATE`, `DELETE`, `TRUNCATE`, upserts.
    DataModification,
    /// Statements that change neither schema nor data as the application sees it.
    Neutral,
    /// Not recognised, opaque, or transaction control.
    Unknown,
}

impl Change {
    /// The coarse class of the change.
    pub fn category(&self) -> Category {
        match self {
            Change::Create { .. }
            | Change::AddColumn { .. }
            | Change::AddConstraint { .. }
            | Change::DropNotNull { .. }
            | Change::SetDefault { .. }
            | Change::OtherAddition { .. } => Category::AdditiveSchema,
            Change::Drop { .. }
            | Change::RenameTable { .. }
            | Change::RenameColumn { .. }
            | Change::AlterExisting { .. } => Category::DestructiveSchema,
            Change::Insert { upsert: false, .. } => Category::DataInsert,
            Change::Insert { upsert: true, .. }
            | Change::Update { .. }
            | Change::Delete { .. }
            | Change::Truncate { .. } => Category::DataModification,
            Change::Neutral | Change::Pragma { .. } => Category::Neutral,
            Change::TransactionControl | Change::Opaque { .. } | Change::Unknown { .. } => Category::Unknown,
        }
    }
}

impl Change {
    /// What the change does, for messages ("drops column users.name").
    pub fn describe(&self) -> String {
        let opt = |n: &Option<String>| n.clone().unwrap_or_else(|| "?".into());
        match self {
            Change::Create { object, name, or_replace, .. } => format!(
                "{} {} {}",
                if *or_replace { "creates or replaces" } else { "creates" },
                object.to_ascii_lowercase(),
                name.as_deref().unwrap_or("(unnamed)")
            ),
            Change::AddColumn { table, column, .. } => format!("adds column {table}.{column}"),
            Change::AddConstraint { table } => format!("adds a constraint to table {table}"),
            Change::DropNotNull { table } => format!("drops a NOT NULL constraint of table {table}"),
            Change::SetDefault { table } => format!("sets a column default of table {table}"),
            Change::OtherAddition { what } | Change::AlterExisting { what } => what.clone(),
            Change::Insert { table, upsert: false } => format!("inserts into {}", opt(table)),
            Change::Insert { table, upsert: true } => format!("upserts into {} (may overwrite rows)", opt(table)),
            Change::Drop { object, name, table: Some(table), .. } => {
                format!("drops {} {table}.{}", object.to_ascii_lowercase(), opt(name))
            }
            Change::Drop { object, name, table: None, .. } => {
                format!("drops {} {}", object.to_ascii_lowercase(), opt(name))
            }
            Change::RenameTable { from, to } => format!("renames table {from} to {}", opt(to)),
            Change::RenameColumn { table, from, to, redefined: false } => {
                format!("renames column {table}.{from} to {}", opt(to))
            }
            Change::RenameColumn { table, from, to, redefined: true } => format!(
                "renames column {table}.{from} to {} and changes its type at once (CHANGE renames and retypes)",
                opt(to)
            ),
            Change::Update { table: None, .. } => "modifies rows of a table ebbtide cannot name".into(),
            Change::Update { table, columns } if columns.is_empty() => format!("updates rows of {}", opt(table)),
            Change::Update { table, columns } => format!("updates {} of table {}", columns.join(", "), opt(table)),
            Change::Delete { table: None } => "deletes rows of a table ebbtide cannot name".into(),
            Change::Delete { table } => format!("deletes rows of {}", opt(table)),
            Change::Truncate { tables, .. } => format!("truncates {}", tables.join(", ")),
            Change::Neutral => "changes neither schema nor data".into(),
            Change::Pragma { name, value: Some(value) } => format!("sets PRAGMA {name} to {value}"),
            Change::Pragma { name, value: None } => format!("reads PRAGMA {name}"),
            Change::TransactionControl => "controls the transaction".into(),
            Change::Opaque { keyword } => format!("runs a {keyword} body whose effect ebbtide cannot see"),
            Change::Unknown { keywords } => format!("is a `{keywords} ...` statement ebbtide does not recognise"),
        }
    }
}

/// Classifies one statement of portable (PostgreSQL or SQLite) SQL, given
/// its tokens (the trailing `;` may be included). An `ALTER TABLE` with
/// several actions gives one change per action.
pub fn classify(sql: &str, tokens: &[Token]) -> Vec<Change> {
    classify_with(sql, tokens, Dialect::Portable)
}

/// [`classify`], reading the statement as `dialect`'s engine does. MySQL's
/// `ALTER TABLE` has actions of its own (`ADD INDEX`, `MODIFY`, `CHANGE`,
/// `DROP FOREIGN KEY`, `ALGORITHM=INSTANT`, ...), and `ADD KEY k (a)` adds
/// an index there where PostgreSQL would add a column named `key`.
pub fn classify_with(sql: &str, tokens: &[Token], dialect: Dialect) -> Vec<Change> {
    let c = Cursor::with(sql, tokens, dialect);
    // A statement of MySQL versioned comments alone (`/*!40101 SET ... */;`)
    // runs what they hold, which the classifier does not read.
    if c.tokens.is_empty() && tokens.iter().any(|t| t.kind == TokenKind::VersionedComment) {
        return vec![Change::Opaque { keyword: "`/*! ... */`".into() }];
    }
    classify_cursor(c)
}

/// Classifies the statement under a cursor at its first token.
fn classify_cursor(mut c: Cursor<'_>) -> Vec<Change> {
    let c = &mut c;
    if c.peek_punct("(") {
        // `(SELECT ...)`, `(WITH d AS (DELETE ...) SELECT ...)`: what is inside.
        return classify_cursor(c.group());
    }
    let Some(first) = c.next_word() else {
        return vec![Change::Neutral];
    };
    match first.as_str() {
        "CREATE" => create(c),
        "ALTER" => alter(c),
        "DROP" => drop(c),
        "INSERT" | "REPLACE" => vec![insert(c, first == "REPLACE")],
        "UPDATE" => vec![update(c)],
        "DELETE" => {
            if c.mysql {
                c.eat("LOW_PRIORITY");
                c.eat("QUICK");
                c.eat("IGNORE");
            }
            c.eat("FROM");
            c.eat("ONLY");
            vec![Change::Delete { table: c.name() }]
        }
        "TRUNCATE" => {
            c.eat("TABLE");
            let mut tables = Vec::new();
            loop {
                c.eat("ONLY");
                match c.name() {
                    Some(t) => tables.push(t),
                    None => break,
                }
                c.eat_punct("*");
                if !c.eat_punct(",") {
                    break;
                }
            }
            let cascade = c.words_to_end().iter().any(|w| w == "CASCADE");
            vec![Change::Truncate { tables, cascade }]
        }
        "MERGE" => {
            c.eat("INTO");
            vec![Change::Update { table: c.name(), columns: Vec::new() }]
        }
        "WITH" => with(c),
        "EXPLAIN" => explain(c),
        "COPY" => copy(c),
        "PRAGMA" => vec![pragma(c)],
        "SELECT" | "VALUES" | "TABLE" | "SET" | "RESET" | "SHOW" | "COMMENT" | "GRANT" | "REVOKE" | "ANALYZE"
        | "ANALYSE" | "VACUUM" | "REINDEX" | "CLUSTER" | "REFRESH" | "NOTIFY" | "LISTEN" | "UNLISTEN" | "LOCK"
        | "DISCARD" | "SECURITY" | "LOAD" | "CHECKPOINT" => {
            vec![Change::Neutral]
        }
        "BEGIN" | "COMMIT" | "ROLLBACK" | "START" | "END" | "SAVEPOINT" | "RELEASE" | "ABORT" => {
            vec![Change::TransactionControl]
        }
        "DO" | "CALL" | "EXECUTE" => vec![Change::Opaque { keyword: first }],
        "RENAME" if c.mysql && c.peek_word().as_deref() == Some("TABLE") => rename_tables(c),
        "UNLOCK" | "OPTIMIZE" | "FLUSH" if c.mysql => vec![Change::Neutral],
        _ => vec![Change::Unknown { keywords: c.leading_words(3) }],
    }
}

/// `CREATE ...`: the creation, then what a `CREATE TABLE ... AS query`
/// query changes (`AS WITH d AS (DELETE ...) SELECT ...` deletes).
fn create(c: &mut Cursor) -> Vec<Change> {
    let or_replace = c.eat_all(&["OR", "REPLACE"]);
    let mut temporary = false;
    loop {
        if c.mysql && mysql_create_option(c) {
            continue;
        }
        let Some(word) = c.peek_word().filter(|w| CREATE_MODIFIERS.contains(&w.as_str())) else { break };
        temporary |= word == "TEMP" || word == "TEMPORARY";
        c.advance();
    }
    let object = object_kind(c);
    c.eat("CONCURRENTLY");
    let if_not_exists = c.eat_all(&["IF", "NOT", "EXISTS"]);
    let name = if object == "INDEX" && c.peek_word().as_deref() == Some("ON") { None } else { c.name() };
    temporary |= name.as_deref().is_some_and(|n| n.starts_with("temp.") || n.starts_with("pg_temp"));
    let mut query = Vec::new();
    if object.ends_with("TABLE") {
        let head = c.rest_until(&["AS"]);
        let mut rest = Cursor { pos: c.pos + head.tokens.len(), ..c.clone() };
        if rest.eat("AS") {
            query = classify_cursor(rest.rest());
            query.retain(|change| *change != Change::Neutral);
        }
    }
    let on = match object.as_str() {
        "INDEX" | "TRIGGER" => {
            // The first ON outside parentheses: `CREATE INDEX i ON t`,
            // `CREATE TRIGGER g AFTER UPDATE OF a ON t`.
            let rest = c.rest_until(&["ON"]);
            c.pos += rest.tokens.len();
            c.eat("ON");
            c.eat("ONLY");
            c.name()
        }
        _ => None,
    };
    let mut changes = vec![Change::Create { object, name, or_replace, on, if_not_exists, temporary }];
    changes.extend(query);
    changes
}

/// Moves past one of MySQL's clauses between `CREATE` and the object
/// kind: `DEFINER = user`, a view's `ALGORITHM = x` and `SQL SECURITY x`,
/// `AGGREGATE`, and the `FULLTEXT`/`SPATIAL` of an index. Whether there
/// was one.
fn mysql_create_option(c: &mut Cursor) -> bool {
    match c.peek_word().as_deref() {
        Some("DEFINER") => {
            c.advance();
            c.eat_punct("=");
            // 'user'@'host', `user`@`host`, user@host, CURRENT_USER[()].
            c.advance();
            if c.peek_punct("(") {
                c.skip_group();
            }
            while c.eat_punct("@") {
                c.advance();
            }
            true
        }
        Some("ALGORITHM") => {
            c.advance();
            c.eat_punct("=");
            c.advance();
            true
        }
        Some("SQL") if c.peek_word_at(1).as_deref() == Some("SECURITY") => {
            c.pos += 3;
            true
        }
        Some("AGGREGATE" | "FULLTEXT" | "SPATIAL") => {
            c.advance();
            true
        }
        _ => false,
    }
}

/// MySQL's `RENAME TABLE a TO b [, c TO d]`: one rename each.
fn rename_tables(c: &mut Cursor) -> Vec<Change> {
    c.eat("TABLE");
    let mut changes = Vec::new();
    while let Some(from) = c.name() {
        c.eat("TO");
        changes.push(Change::RenameTable { from, to: c.name() });
        if !c.eat_punct(",") {
            break;
        }
    }
    if changes.is_empty() {
        changes.push(Change::Unknown { keywords: "RENAME TABLE".into() });
    }
    changes
}

/// `PRAGMA [schema.]name`, `PRAGMA name = value`, `PRAGMA name(value)`.
fn pragma(c: &mut Cursor) -> Change {
    let Some(mut name) = c.ident() else {
        return Change::Unknown { keywords: "PRAGMA".into() };
    };
    if c.eat_punct(".")
        && let Some(after) = c.ident()
    {
        name = after;
    }
    let value = if c.eat_punct("=") || c.eat_punct("(") {
        let value: String = c.tokens[c.pos..]
            .iter()
            .take_while(|t| !(t.kind == TokenKind::Punct && c.text(t) == ")"))
            .map(|t| c.text(t))
            .collect();
        Some(value)
    } else {
        None
    };
    Change::Pragma { name: name.to_ascii_lowercase(), value }
}

/// Where a statement can run, beyond the branch rules.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Restriction {
    /// In a transaction or not.
    Anywhere,
    /// Only outside a transaction: the engine refuses it inside one. Holds
    /// the statement's name for messages.
    OutsideTransaction(&'static str),
    /// Nowhere ebbtide runs statements. Holds why.
    Never(&'static str),
}

/// Where a statement can run: `VACUUM`, `CREATE INDEX CONCURRENTLY` and the
/// like only outside a transaction; `COPY ... FROM stdin` never, since its
/// rows follow it in psql's input, not in the statement.
pub fn restriction(sql: &str, tokens: &[Token]) -> Restriction {
    let c = Cursor::new(sql, tokens);
    // Only statements that start with these can be restricted: the others
    // cost no more than a look at their first word.
    if !["VACUUM", "CREATE", "DROP", "ALTER", "ATTACH", "DETACH", "REINDEX", "COPY"].iter().any(|w| c.word_is(0, w)) {
        return Restriction::Anywhere;
    }
    // The restricted forms say so in their first four words, but for
    // REINDEX (...) CONCURRENTLY, COPY ... FROM STDIN and ALTER TABLE ...
    // DETACH PARTITION ... CONCURRENTLY.
    let whole = c.word_is(0, "REINDEX") || c.word_is(0, "COPY") || (c.word_is(0, "ALTER") && c.word_is(1, "TABLE"));
    let words: Vec<String> = match whole {
        true => c.all_words(),
        false => (0..c.tokens.len().min(4)).filter_map(|i| c.word_at(i)).collect(),
    };
    let w = |i: usize| words.get(i).map(String::as_str);
    let has = |word: &str| words.iter().any(|x| x == word);
    let outside = Restriction::OutsideTransaction;
    match (w(0), w(1)) {
        (Some("VACUUM"), _) => outside("VACUUM"),
        (Some("CREATE" | "DROP"), Some("DATABASE")) => outside("CREATE DATABASE and DROP DATABASE"),
        (Some("CREATE" | "DROP"), Some("TABLESPACE")) => outside("CREATE TABLESPACE and DROP TABLESPACE"),
        (Some("ALTER"), Some("SYSTEM")) => outside("ALTER SYSTEM"),
        (Some("ATTACH" | "DETACH"), _) => outside("ATTACH and DETACH"),
        (Some("CREATE"), Some("INDEX")) if w(2) == Some("CONCURRENTLY") => outside("CREATE INDEX CONCURRENTLY"),
        (Some("CREATE"), Some("UNIQUE")) if w(2) == Some("INDEX") && w(3) == Some("CONCURRENTLY") => {
            outside("CREATE INDEX CONCURRENTLY")
        }
        (Some("DROP"), Some("INDEX")) if w(2) == Some("CONCURRENTLY") => outside("DROP INDEX CONCURRENTLY"),
        (Some("REINDEX"), _) if has("CONCURRENTLY") => outside("REINDEX CONCURRENTLY"),
        // After its options, if any: REINDEX (VERBOSE) SCHEMA s.
        (Some("REINDEX"), _) if has("DATABASE") || has("SYSTEM") || has("SCHEMA") => {
            outside("REINDEX SCHEMA, REINDEX DATABASE and REINDEX SYSTEM")
        }
        (Some("ALTER"), Some("TABLE"))
            if words.windows(2).any(|p| p[0] == "DETACH" && p[1] == "PARTITION") && has("CONCURRENTLY") =>
        {
            outside("ALTER TABLE ... DETACH PARTITION ... CONCURRENTLY")
        }
        (Some("COPY"), _) if words.windows(2).any(|p| p[0] == "FROM" && p[1] == "STDIN") => Restriction::Never(
            "COPY ... FROM stdin reads the rows that follow it in psql's input (a pg_dump data section), which ebbtide does not send",
        ),
        _ => Restriction::Anywhere,
    }
}

/// The table an `ALTER TABLE` statement alters (schema dropped, case
/// folded, as [`Change`]s name tables), read as `dialect`'s engine does.
pub fn altered_table(sql: &str, tokens: &[Token], dialect: Dialect) -> Option<String> {
    let mut c = Cursor::with(sql, tokens, dialect);
    if !c.eat("ALTER") {
        return None;
    }
    if c.mysql {
        c.eat("IGNORE");
        c.eat("ONLINE");
    }
    if !c.eat("TABLE") {
        return None;
    }
    c.eat_all(&["IF", "EXISTS"]);
    c.eat("ONLY");
    c.name()
}

/// `ALTER TYPE t ADD VALUE [IF NOT EXISTS] 'v'`: the literal `'v'` as written.
pub fn enum_value_added<'s>(sql: &'s str, tokens: &[Token]) -> Option<&'s str> {
    let c = Cursor::new(sql, tokens);
    if !c.word_is(0, "ALTER") || !c.word_is(1, "TYPE") {
        return None;
    }
    let words = c.all_words();
    if !words.windows(2).any(|p| p[0] == "ADD" && p[1] == "VALUE") {
        return None;
    }
    let value = c.tokens.iter().find(|t| t.kind == TokenKind::String)?;
    Some(&sql[value.range.clone()])
}

/// Whether a pragma value turns a boolean setting off (`OFF`, `0`,
/// `false`, `no`, quoted or not).
pub fn is_off(value: &str) -> bool {
    let value = value.trim().trim_matches(['\'', '"']);
    ["off", "0", "false", "no"].iter().any(|off| value.eq_ignore_ascii_case(off))
}

/// Whether a statement changes the state of the connection that runs it
/// beyond the statement: settings (`SET`, `RESET`, `set_config(...)`, a
/// `PRAGMA` with a value), `DISCARD`, temporary objects, attached databases.
pub fn changes_session(sql: &str, tokens: &[Token]) -> bool {
    let c = Cursor::new(sql, tokens);
    match c.peek_word().as_deref() {
        Some("SET" | "RESET" | "DISCARD" | "LOAD" | "ATTACH" | "DETACH") => true,
        Some("PRAGMA") => {
            let mut c = c;
            c.advance();
            matches!(pragma(&mut c), Change::Pragma { value: Some(_), .. })
        }
        Some("CREATE") => {
            let mut c = c;
            c.advance();
            let set_config = (0..c.tokens.len()).any(|i| c.word_is(i, "SET_CONFIG"));
            set_config || create(&mut c).iter().any(|change| matches!(change, Change::Create { temporary: true, .. }))
        }
        _ => (0..c.tokens.len()).any(|i| c.word_is(i, "SET_CONFIG")),
    }
}

/// Words between `CREATE` and the object kind that do not change what is created.
const CREATE_MODIFIERS: &[&str] =
    &["TEMP", "TEMPORARY", "UNLOGGED", "GLOBAL", "LOCAL", "UNIQUE", "CONSTRAINT", "TRUSTED", "DEFAULT", "RECURSIVE"];

/// The object kind after `CREATE`, `DROP` or `ALTER`, joined when it takes
/// several words (`MATERIALIZED VIEW`, `FOREIGN DATA WRAPPER`, ...).
fn object_kind(c: &mut Cursor) -> String {
    let Some(mut kind) = c.next_word() else {
        return String::new();
    };
    let second: &[&str] = match kind.as_str() {
        "MATERIALIZED" => &["VIEW"],
        "VIRTUAL" => &["TABLE"],
        "FOREIGN" => &["TABLE", "DATA"],
        "EVENT" => &["TRIGGER"],
        "TEXT" => &["SEARCH"],
        "ACCESS" => &["METHOD"],
        "USER" => &["MAPPING"],
        "OPERATOR" => &["CLASS", "FAMILY"],
        "OWNED" => &["BY"],
        "PROCEDURAL" => &["LANGUAGE"],
        _ => &[],
    };
    if let Some(word) = c.peek_word()
        && second.contains(&word.as_str())
    {
        c.advance();
        kind.push(' ');
        kind.push_str(&word);
        let third = match word.as_str() {
            "DATA" => c.eat("WRAPPER").then(|| "WRAPPER".to_string()),
            "SEARCH" => c.next_word(),
            _ => None,
        };
        if let Some(third) = third {
            kind.push(' ');
            kind.push_str(&third);
        }
    }
    kind
}

fn alter(c: &mut Cursor) -> Vec<Change> {
    let Some(kind) = c.next_word() else {
        return vec![Change::Unknown { keywords: "ALTER".into() }];
    };
    match kind.as_str() {
        "TABLE" => alter_table(c),
        "IGNORE" | "ONLINE" if c.mysql && c.eat("TABLE") => alter_table(c),
        "TYPE" => {
            let name = c.name().unwrap_or_default();
            let rest = c.words_to_end();
            if rest.starts_with(&["ADD".into(), "VALUE".into()]) {
                vec![Change::OtherAddition { what: format!("adds a value to type {name}") }]
            } else if rest.starts_with(&["ADD".into(), "ATTRIBUTE".into()]) {
                vec![Change::OtherAddition { what: format!("adds an attribute to type {name}") }]
            } else if rest.first().map(String::as_str) == Some("OWNER") {
                vec![Change::Neutral]
            } else {
                vec![Change::AlterExisting { what: format!("alters type {name}") }]
            }
        }
        "SEQUENCE" => {
            c.eat_all(&["IF", "EXISTS"]);
            let name = c.name().unwrap_or_default();
            if c.words_to_end().iter().any(|w| w == "RENAME") {
                vec![Change::AlterExisting { what: format!("renames sequence {name}") }]
            } else {
                vec![Change::Neutral]
            }
        }
        "DEFAULT" | "ROLE" | "USER" | "DATABASE" | "SYSTEM" | "GROUP" | "TABLESPACE" => vec![Change::Neutral],
        _ => {
            // INDEX, VIEW, MATERIALIZED VIEW, FUNCTION, PROCEDURE, TRIGGER, DOMAIN, SCHEMA, ...
            c.pos -= 1;
            let object = object_kind(c);
            c.eat_all(&["IF", "EXISTS"]);
            let name = c.name().unwrap_or_default();
            let rest = c.words_to_end();
            let object_lc = object.to_ascii_lowercase();
            match rest.first().map(String::as_str) {
                Some("OWNER") => vec![Change::Neutral],
                Some("SET" | "RESET") if object == "INDEX" && rest.get(1).map(String::as_str) != Some("SCHEMA") => {
                    vec![Change::Neutral]
                }
                Some("ATTACH") if object == "INDEX" => vec![Change::Neutral],
                Some("RENAME") => vec![Change::AlterExisting { what: format!("renames {object_lc} {name}") }],
                _ => vec![Change::AlterExisting { what: format!("alters {object_lc} {name}") }],
            }
        }
    }
}

fn alter_table(c: &mut Cursor) -> Vec<Change> {
    c.eat_all(&["IF", "EXISTS"]);
    c.eat("ONLY");
    let table = c.name().unwrap_or_default();
    c.eat_punct("*");
    let mut changes = Vec::new();
    for action in c.split_depth0(",") {
        let mut a = Cursor { pos: 0, ..action };
        // MySQL's ALGORITHM=... and LOCK=... say how to make the other
        // actions, and change nothing themselves.
        if a.mysql && (a.word_is(0, "ALGORITHM") || a.word_is(0, "LOCK")) {
            continue;
        }
        if a.mysql
            && let Some(mysql) = mysql_alter_table_action(&mut a, &table)
        {
            changes.extend(mysql);
            continue;
        }
        a.pos = 0;
        changes.push(alter_table_action(&mut a, &table));
    }
    if changes.is_empty() && c.mysql && c.words_to_end().iter().any(|w| w == "ALGORITHM" || w == "LOCK") {
        changes.push(Change::Neutral);
    }
    if changes.is_empty() {
        changes.push(Change::Unknown { keywords: "ALTER TABLE".into() });
    }
    changes
}

fn alter_table_action(a: &mut Cursor, table: &str) -> Change {
    let Some(verb) = a.next_word() else {
        return Change::Unknown { keywords: "ALTER TABLE".into() };
    };
    let existing = |what: String| Change::AlterExisting { what };
    match verb.as_str() {
        "ADD" => {
            if matches!(
                a.peek_word().as_deref(),
                Some("CONSTRAINT" | "PRIMARY" | "UNIQUE" | "FOREIGN" | "CHECK" | "EXCLUDE" | "NOT")
            ) {
                // PostgreSQL 18: ADD [CONSTRAINT name] NOT NULL column. A CHECK
                // (column IS NOT NULL) is an ordinary constraint.
                if a.eat("CONSTRAINT") {
                    a.ident();
                }
                if a.eat_all(&["NOT", "NULL"]) {
                    return existing(format!("sets NOT NULL on a column of table {table}"));
                }
                return Change::AddConstraint { table: table.to_string() };
            }
            a.eat("COLUMN");
            let if_not_exists = a.eat_all(&["IF", "NOT", "EXISTS"]);
            add_column(a, table, if_not_exists)
        }
        "DROP" => {
            if a.eat("CONSTRAINT") {
                a.eat_all(&["IF", "EXISTS"]);
                let name = a.ident();
                let cascade = a.eat("CASCADE");
                return Change::Drop { object: "CONSTRAINT".into(), name, table: Some(table.to_string()), cascade };
            }
            a.eat("COLUMN");
            a.eat_all(&["IF", "EXISTS"]);
            let name = a.column();
            let cascade = a.eat("CASCADE");
            Change::Drop { object: "COLUMN".into(), name, table: Some(table.to_string()), cascade }
        }
        "ALTER" => {
            a.eat("COLUMN");
            let column = a.column().unwrap_or_default();
            // SET (attribute_option = ...) and RESET (...) tune the planner.
            if matches!(a.peek_word().as_deref(), Some("SET" | "RESET")) && a.peek_word_at(1).as_deref() == Some("(") {
                return Change::Neutral;
            }
            let words = a.words_to_end();
            let w = |i: usize| words.get(i).map(String::as_str);
            match (w(0), w(1), w(2)) {
                (Some("TYPE"), ..) | (Some("SET"), Some("DATA"), Some("TYPE")) => {
                    existing(format!("changes the type of column {table}.{column}"))
                }
                (Some("SET"), Some("NOT"), Some("NULL")) => {
                    existing(format!("sets NOT NULL on column {table}.{column}"))
                }
                (Some("DROP"), Some("NOT"), Some("NULL")) => Change::DropNotNull { table: table.to_string() },
                (Some("SET"), Some("DEFAULT"), _) => Change::SetDefault { table: table.to_string() },
                (Some("DROP"), Some("DEFAULT"), _) => existing(format!("drops the default of column {table}.{column}")),
                (Some("SET"), Some("STATISTICS" | "STORAGE" | "COMPRESSION" | "GENERATED" | "INCREMENT"), _)
                | (Some("SET" | "RESET"), None, _)
                | (Some("RESTART"), ..) => Change::Neutral,
                (Some("ADD"), Some("GENERATED"), _) => {
                    Change::OtherAddition { what: format!("adds an identity to column {table}.{column}") }
                }
                _ => existing(format!("alters column {table}.{column}")),
            }
        }
        "RENAME" => {
            if a.eat("TO") {
                // The table stays in its schema.
                let to = a.name().map(|to| match table.rsplit_once('.') {
                    Some((schema, _)) if !to.contains('.') => format!("{schema}.{to}"),
                    _ => to,
                });
                return Change::RenameTable { from: table.to_string(), to };
            }
            if a.eat("CONSTRAINT") {
                return existing(format!("renames a constraint of table {table}"));
            }
            a.eat("COLUMN");
            let from = a.column().unwrap_or_default();
            a.eat("TO");
            Change::RenameColumn { table: table.to_string(), from, to: a.column(), redefined: false }
        }
        "VALIDATE" | "OWNER" | "CLUSTER" | "REPLICA" | "FORCE" => Change::Neutral,
        "NO" if a.peek_word().as_deref() == Some("FORCE") => Change::Neutral,
        "SET" => match a.peek_word().as_deref() {
            Some("SCHEMA") => existing(format!("moves table {table} to another schema")),
            Some("WITHOUT") if a.peek_word_at(1).as_deref() == Some("OIDS") => Change::Neutral,
            Some("WITHOUT" | "LOGGED" | "UNLOGGED" | "TABLESPACE" | "ACCESS") | None => Change::Neutral,
            _ if a.peek_punct("(") => Change::Neutral,
            _ => existing(format!("alters table {table}")),
        },
        "RESET" => Change::Neutral,
        "ENABLE" => {
            if matches!(a.peek_word().as_deref(), Some("TRIGGER" | "ALWAYS" | "REPLICA")) {
                Change::OtherAddition { what: format!("enables a trigger on table {table}") }
            } else {
                existing(format!("enables row security or rules on table {table}"))
            }
        }
        "DISABLE" => existing(format!("disables a trigger, rule or row security on table {table}")),
        "ATTACH" => Change::OtherAddition { what: format!("attaches a partition to table {table}") },
        "DETACH" => existing(format!("detaches a partition from table {table}")),
        _ => existing(format!("alters table {table} ({})", verb.to_ascii_lowercase())),
    }
}

/// What MySQL's own `ALTER TABLE` actions change, or `None` for the
/// actions it shares with PostgreSQL (`ADD [COLUMN] c`, `DROP [COLUMN] c`,
/// `ALTER [COLUMN] c SET DEFAULT`, `RENAME COLUMN a TO b`, ...), which
/// [`alter_table_action`] reads.
fn mysql_alter_table_action(a: &mut Cursor, table: &str) -> Option<Vec<Change>> {
    let verb = a.next_word()?;
    let existing = |what: String| vec![Change::AlterExisting { what }];
    let on_table = Some(table.to_string());
    let changes = match verb.as_str() {
        "ADD" => {
            let unique = a.eat("UNIQUE");
            let kind = a.eat("FULLTEXT") || a.eat("SPATIAL");
            let keyword = a.eat("INDEX") || a.eat("KEY");
            if unique || kind || keyword {
                // ADD {INDEX|KEY|UNIQUE [INDEX|KEY]|FULLTEXT|SPATIAL} [IF NOT EXISTS] [name] [USING ...] (columns)
                let if_not_exists = a.eat_all(&["IF", "NOT", "EXISTS"]);
                let name = if a.peek_punct("(") || a.word_is(a.pos, "USING") { None } else { a.ident() };
                return Some(vec![Change::Create {
                    object: "INDEX".into(),
                    name,
                    or_replace: false,
                    on: on_table,
                    if_not_exists,
                    temporary: false,
                }]);
            }
            if a.eat("PARTITION") {
                return Some(vec![Change::OtherAddition { what: format!("adds a partition to table {table}") }]);
            }
            // ADD [COLUMN] (a int, b int): one change per column.
            a.eat("COLUMN");
            if !a.peek_punct("(") {
                return None;
            }
            let columns = a.group();
            columns
                .split_depth0(",")
                .into_iter()
                .map(|column| {
                    let mut c = Cursor { pos: 0, ..column };
                    add_column(&mut c, table, false)
                })
                .collect()
        }
        "DROP" => {
            if a.eat("INDEX") || a.eat("KEY") {
                a.eat_all(&["IF", "EXISTS"]);
                let name = a.ident();
                vec![Change::Drop { object: "INDEX".into(), name, table: on_table, cascade: false }]
            } else if a.eat_all(&["PRIMARY", "KEY"]) {
                existing(format!("drops the primary key of table {table}"))
            } else if a.eat_all(&["FOREIGN", "KEY"]) {
                a.eat_all(&["IF", "EXISTS"]);
                let name = a.ident();
                vec![Change::Drop { object: "FOREIGN KEY".into(), name, table: on_table, cascade: false }]
            } else if a.eat("CHECK") {
                let name = a.ident();
                vec![Change::Drop { object: "CONSTRAINT".into(), name, table: on_table, cascade: false }]
            } else if a.eat("PARTITION") {
                let mut changes = Vec::new();
                while let Some(name) = a.ident() {
                    changes.push(Change::Drop {
                        object: "PARTITION".into(),
                        name: Some(name),
                        table: on_table.clone(),
                        cascade: false,
                    });
                    if !a.eat_punct(",") {
                        break;
                    }
                }
                changes
            } else {
                return None;
            }
        }
        "MODIFY" => {
            a.eat("COLUMN");
            a.eat_all(&["IF", "EXISTS"]);
            let column = a.column().unwrap_or_default();
            existing(format!(
                "changes the type of column {table}.{column} (MODIFY redefines the column: its type, NULL or NOT NULL, and default)"
            ))
        }
        "CHANGE" => {
            a.eat("COLUMN");
            a.eat_all(&["IF", "EXISTS"]);
            let from = a.column().unwrap_or_default();
            let to = a.column().unwrap_or_default();
            // MySQL's column names are case-insensitive.
            if from.eq_ignore_ascii_case(&to) {
                existing(format!(
                    "changes the type of column {table}.{from} (CHANGE redefines the column: its type, NULL or NOT NULL, and default)"
                ))
            } else {
                vec![
                    Change::RenameColumn {
                        table: table.to_string(),
                        from: from.clone(),
                        to: Some(to.clone()),
                        redefined: true,
                    },
                    Change::AlterExisting {
                        what: format!("changes the type of column {table}.{from}, which CHANGE also renames to {to}"),
                    },
                ]
            }
        }
        "RENAME" => {
            if a.eat("INDEX") || a.eat("KEY") {
                let name = a.ident().unwrap_or_default();
                existing(format!("renames index {name} of table {table}"))
            } else if a.eat("AS") || !matches!(a.peek_word().as_deref(), Some("COLUMN" | "TO" | "CONSTRAINT") | None) {
                // MySQL's RENAME [TO|AS] new_name: TO and AS are optional.
                let to = a.name();
                vec![Change::RenameTable { from: table.to_string(), to }]
            } else {
                return None;
            }
        }
        "ALTER" => {
            if a.eat("INDEX") {
                let name = a.ident().unwrap_or_default();
                existing(format!("changes the visibility of index {name} of table {table}"))
            } else if a.eat("CHECK") || a.eat("CONSTRAINT") {
                existing(format!("changes whether a constraint of table {table} is enforced"))
            } else {
                return None;
            }
        }
        "CONVERT" => existing(format!("converts the text columns of table {table} to another character set")),
        "ENGINE" => existing(format!("moves table {table} to another storage engine")),
        "PARTITION" => existing(format!("partitions table {table} anew")),
        "COALESCE" | "REORGANIZE" | "EXCHANGE" | "REMOVE" | "DISCARD" | "IMPORT" => {
            existing(format!("changes the partitions or tablespace of table {table} ({})", verb.to_ascii_lowercase()))
        }
        "TRUNCATE" => vec![Change::Truncate { tables: vec![table.to_string()], cascade: false }],
        "ENABLE" | "DISABLE" if a.word_is(a.pos, "KEYS") => vec![Change::Neutral],
        "AUTO_INCREMENT" | "COMMENT" | "ROW_FORMAT" | "KEY_BLOCK_SIZE" | "STATS_PERSISTENT" | "STATS_AUTO_RECALC"
        | "STATS_SAMPLE_PAGES" | "AVG_ROW_LENGTH" | "MAX_ROWS" | "MIN_ROWS" | "PACK_KEYS" | "CHECKSUM"
        | "DELAY_KEY_WRITE" | "ORDER" | "CHARACTER" | "CHARSET" | "COLLATE" | "DEFAULT" | "WITH" | "WITHOUT"
        | "ANALYZE" | "CHECK" | "OPTIMIZE" | "REPAIR" | "REBUILD" => vec![Change::Neutral],
        _ => return None,
    };
    Some(changes)
}

/// `ALTER TABLE t ADD [COLUMN] c ...`, from the column's name on.
fn add_column(a: &mut Cursor, table: &str, if_not_exists: bool) -> Change {
    let column = a.column().unwrap_or_default();
    let words = a.words_to_end();
    let not_null = words.windows(2).any(|w| w[0] == "NOT" && w[1] == "NULL")
        || words.windows(2).any(|w| w[0] == "PRIMARY" && w[1] == "KEY");
    let filled = words.iter().any(|w| {
        matches!(w.as_str(), "DEFAULT" | "GENERATED" | "SERIAL" | "BIGSERIAL" | "SMALLSERIAL" | "AS" | "AUTO_INCREMENT")
    });
    Change::AddColumn { table: table.to_string(), column, not_null_without_default: not_null && !filled, if_not_exists }
}

/// `DROP kind [IF EXISTS] a, b, ...`: one change per object dropped.
fn drop(c: &mut Cursor) -> Vec<Change> {
    if c.mysql {
        // DROP TEMPORARY TABLE.
        c.eat("TEMPORARY");
    }
    let object = object_kind(c);
    c.eat("CONCURRENTLY");
    c.eat_all(&["IF", "EXISTS"]);
    let mut names = Vec::new();
    loop {
        let name = c.name();
        // A routine's argument types: `DROP FUNCTION f(int), g()`.
        if c.peek_punct("(") {
            c.skip_group();
        }
        names.push(name);
        if !c.eat_punct(",") {
            break;
        }
    }
    // MySQL's DROP INDEX i ON t.
    let table = if c.mysql && object == "INDEX" && c.eat("ON") { c.name() } else { None };
    let cascade = c.words_to_end().iter().any(|w| w == "CASCADE");
    names.into_iter().map(|name| Change::Drop { object: object.clone(), name, table: table.clone(), cascade }).collect()
}

fn insert(c: &mut Cursor, replace_into: bool) -> Change {
    let mut upsert = replace_into;
    if c.mysql {
        // INSERT [LOW_PRIORITY | DELAYED | HIGH_PRIORITY] [IGNORE]: IGNORE
        // skips the rows whose key is taken, as ON CONFLICT DO NOTHING does.
        while c.eat("LOW_PRIORITY") || c.eat("DELAYED") || c.eat("HIGH_PRIORITY") || c.eat("IGNORE") {}
    }
    if c.eat("OR") {
        upsert |= c.next_word().as_deref() == Some("REPLACE");
    }
    c.eat("INTO");
    let table = c.name();
    let words = c.words_to_end();
    upsert |= words.windows(2).any(|w| w[0] == "DO" && w[1] == "UPDATE")
        || words.windows(3).any(|w| w[0] == "DUPLICATE" && w[1] == "KEY" && w[2] == "UPDATE");
    Change::Insert { table, upsert }
}

fn update(c: &mut Cursor) -> Change {
    if c.eat("OR") {
        c.advance();
    }
    if c.mysql {
        while c.eat("LOW_PRIORITY") || c.eat("IGNORE") {}
    }
    c.eat("ONLY");
    let table = c.name();
    c.eat_punct("*");
    // Optional alias.
    let mut alias = None;
    if c.peek_word().is_none_or(|w| w != "SET") {
        c.eat("AS");
        alias = c.ident();
    }
    // `SET u.a = ...` (MySQL) names the table; `SET a.field = ...`
    // (PostgreSQL) a field of composite column a.
    let short = table.as_deref().map(|t| t.rsplit('.').next().unwrap_or(t).to_string());
    let column = |a: &mut Cursor| {
        let first = a.ident()?;
        if a.peek_punct(".") && (Some(&first) == short.as_ref() || Some(&first) == alias.as_ref()) {
            a.advance();
            return a.ident();
        }
        Some(first)
    };
    let mut columns = Vec::new();
    if c.eat("SET") {
        let rest = Cursor { pos: 0, ..c.rest_until(&["FROM", "WHERE", "RETURNING"]) };
        for assignment in rest.split_depth0(",") {
            let mut a = Cursor { pos: 0, ..assignment };
            if a.eat_punct("(") {
                while let Some(col) = column(&mut a) {
                    columns.push(col);
                    if !a.eat_punct(",") {
                        break;
                    }
                }
            } else if let Some(col) = column(&mut a) {
                columns.push(col);
            }
        }
    }
    Change::Update { table, columns }
}

/// `WITH name AS (body), ... main`: what every body and the main statement
/// change, each classified as a statement of its own, with its real target
/// (`WITH moved AS (DELETE FROM users RETURNING *) INSERT INTO ...` deletes
/// from users).
fn with(c: &mut Cursor) -> Vec<Change> {
    c.eat("RECURSIVE");
    let mut changes = Vec::new();
    loop {
        // name [(columns)] AS [NOT] [MATERIALIZED] (body)
        c.ident();
        if c.peek_punct("(") {
            c.skip_group();
        }
        c.eat("AS");
        c.eat("NOT");
        c.eat("MATERIALIZED");
        if !c.peek_punct("(") {
            return vec![Change::Unknown { keywords: c.leading_words(4) }];
        }
        changes.extend(classify_cursor(c.group()));
        c.skip_group();
        // SEARCH ... SET ... and CYCLE ... clauses, up to the next body or
        // the main statement.
        while c.pos < c.tokens.len()
            && !c.peek_punct(",")
            && !c.peek_word().is_some_and(|w| STATEMENTS.contains(&w.as_str()))
        {
            c.advance();
        }
        if !c.eat_punct(",") {
            break;
        }
    }
    changes.extend(classify_cursor(c.rest()));
    changes.retain(|change| *change != Change::Neutral);
    if changes.is_empty() {
        changes.push(Change::Neutral);
    }
    changes
}

/// What a `WITH` or `EXPLAIN` may hold.
const STATEMENTS: &[&str] = &["SELECT", "INSERT", "UPDATE", "DELETE", "MERGE", "VALUES", "TABLE", "WITH"];

/// `EXPLAIN ANALYZE stmt` runs the statement: it changes what the
/// statement changes. Without ANALYZE it only plans it.
fn explain(c: &mut Cursor) -> Vec<Change> {
    let mut analyze = false;
    if c.peek_punct("(") {
        let words = c.group().all_words();
        analyze = words.iter().enumerate().any(|(i, w)| {
            matches!(w.as_str(), "ANALYZE" | "ANALYSE")
                && !matches!(words.get(i + 1).map(String::as_str), Some("FALSE" | "OFF" | "0"))
        });
        c.skip_group();
    }
    while let Some(word) = c.peek_word().filter(|w| !STATEMENTS.contains(&w.as_str())) {
        analyze |= matches!(word.as_str(), "ANALYZE" | "ANALYSE");
        c.advance();
    }
    if !analyze {
        return vec![Change::Neutral];
    }
    classify_cursor(c.rest())
}

/// `COPY table FROM ...` inserts rows; `COPY table TO ...` only reads, and
/// `COPY (query) TO ...` changes what its query changes.
fn copy(c: &mut Cursor) -> Vec<Change> {
    if c.peek_punct("(") {
        return classify_cursor(c.group());
    }
    let table = c.name();
    if c.peek_punct("(") {
        c.skip_group();
    }
    vec![if c.eat("FROM") { Change::Insert { table, upsert: false } } else { Change::Neutral }]
}

/// A cursor over the significant tokens of one statement.
#[derive(Clone)]
struct Cursor<'a> {
    sql: &'a str,
    tokens: Vec<&'a Token>,
    pos: usize,
    /// The statement is MySQL's: `ADD INDEX`, `MODIFY`, `CHANGE`,
    /// `ALGORITHM=` and the like are read as MySQL means them.
    mysql: bool,
}

impl<'a> Cursor<'a> {
    fn new(sql: &'a str, tokens: &'a [Token]) -> Self {
        Cursor::with(sql, tokens, Dialect::Portable)
    }

    fn with(sql: &'a str, tokens: &'a [Token], dialect: Dialect) -> Self {
        // MySQL's `/*! ... */` inside a statement is skipped like a comment,
        // though MySQL runs what it holds (`CREATE TABLE /*!32312 IF NOT
        // EXISTS*/ t`, `/*!50100 PARTITION BY ... */`): the classifier does
        // not read inside it yet.
        let tokens = tokens
            .iter()
            .filter(|t| !t.kind.is_trivia() && !matches!(t.kind, TokenKind::Semicolon | TokenKind::VersionedComment))
            .collect();
        Cursor { sql, tokens, pos: 0, mysql: dialect == Dialect::Mysql }
    }

    fn text(&self, token: &Token) -> &'a str {
        &self.sql[token.range.clone()]
    }

    fn word_at(&self, index: usize) -> Option<String> {
        let t = self.tokens.get(index)?;
        (t.kind == TokenKind::Word).then(|| self.text(t).to_ascii_uppercase())
    }

    fn peek_word(&self) -> Option<String> {
        self.word_at(self.pos)
    }

    fn peek_word_at(&self, ahead: usize) -> Option<String> {
        let t = self.tokens.get(self.pos + ahead)?;
        Some(match t.kind {
            TokenKind::Word => self.text(t).to_ascii_uppercase(),
            _ => self.text(t).to_string(),
        })
    }

    fn peek_punct(&self, p: &str) -> bool {
        self.tokens.get(self.pos).is_some_and(|t| t.kind == TokenKind::Punct && self.text(t) == p)
    }

    fn advance(&mut self) {
        self.pos += 1;
    }

    fn next_word(&mut self) -> Option<String> {
        let w = self.peek_word()?;
        self.pos += 1;
        Some(w)
    }

    /// Whether the token at `index` is the word `keyword` (upper case), in
    /// any case: a comparison, no allocation.
    fn word_is(&self, index: usize, keyword: &str) -> bool {
        self.tokens.get(index).is_some_and(|t| t.kind == TokenKind::Word && self.text(t).eq_ignore_ascii_case(keyword))
    }

    fn eat(&mut self, keyword: &str) -> bool {
        if self.word_is(self.pos, keyword) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn eat_all(&mut self, keywords: &[&str]) -> bool {
        let matches = keywords.iter().enumerate().all(|(i, k)| self.word_is(self.pos + i, k));
        if matches {
            self.pos += keywords.len();
        }
        matches
    }

    fn eat_punct(&mut self, p: &str) -> bool {
        let yes = self.peek_punct(p);
        if yes {
            self.pos += 1;
        }
        yes
    }

    /// An object's name, possibly qualified: `schema.name`, each part
    /// case-folded unless quoted, without a database part and without the
    /// default schema (`public`, SQLite's `main`), so that `public.users`
    /// and `users` are one table and `archive.users` another.
    fn name(&mut self) -> Option<String> {
        let mut parts = vec![self.ident()?];
        while self.peek_punct(".") {
            self.pos += 1;
            match self.ident() {
                Some(part) => parts.push(part),
                None => break,
            }
        }
        let last = parts.pop()?;
        match parts.pop() {
            Some(schema) if schema != "public" && schema != "main" => Some(format!("{schema}.{last}")),
            _ => Some(last),
        }
    }

    /// A column's name: its first part (`addr.zip` sets field zip of
    /// column addr).
    fn column(&mut self) -> Option<String> {
        let column = self.ident()?;
        while self.peek_punct(".") {
            self.pos += 1;
            self.ident();
        }
        Some(column)
    }

    fn ident(&mut self) -> Option<String> {
        let t = self.tokens.get(self.pos)?;
        let text = self.text(t);
        let ident = match t.kind {
            TokenKind::Word => text.to_ascii_lowercase(),
            TokenKind::QuotedIdent => {
                let q = &text[..1];
                text[1..text.len() - 1].replace(&format!("{q}{q}"), q)
            }
            // SQLite accepts string literals as identifiers in some places.
            TokenKind::String if text.starts_with('\'') => text[1..text.len() - 1].replace("''", "'"),
            _ => return None,
        };
        self.pos += 1;
        Some(ident)
    }

    /// The tokens inside the parentheses that open at the cursor.
    fn group(&self) -> Cursor<'a> {
        let mut depth = 0i32;
        let mut inner = Vec::new();
        for &t in &self.tokens[self.pos.min(self.tokens.len())..] {
            let text = self.text(t);
            if t.kind == TokenKind::Punct && text == "(" {
                depth += 1;
                if depth == 1 {
                    continue;
                }
            } else if t.kind == TokenKind::Punct && text == ")" {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            inner.push(t);
        }
        Cursor { tokens: inner, pos: 0, ..*self }
    }

    /// Moves past the parentheses that open at the cursor.
    fn skip_group(&mut self) {
        let mut depth = 0i32;
        while let Some(t) = self.tokens.get(self.pos) {
            self.pos += 1;
            match (t.kind, self.text(t)) {
                (TokenKind::Punct, "(") => depth += 1,
                (TokenKind::Punct, ")") => depth -= 1,
                _ => {}
            }
            if depth <= 0 {
                break;
            }
        }
    }

    /// The tokens from the cursor to the end, as a statement of their own.
    fn rest(&self) -> Cursor<'a> {
        Cursor { tokens: self.tokens[self.pos.min(self.tokens.len())..].to_vec(), pos: 0, ..*self }
    }

    /// Upper-cased words from the cursor to the end, at any depth.
    fn words_to_end(&self) -> Vec<String> {
        (self.pos..self.tokens.len()).filter_map(|i| self.word_at(i)).collect()
    }

    fn all_words(&self) -> Vec<String> {
        (0..self.tokens.len()).filter_map(|i| self.word_at(i)).collect()
    }

    fn leading_words(&self, n: usize) -> String {
        self.all_words().into_iter().take(n).collect::<Vec<_>>().join(" ")
    }

    /// The rest of the tokens, split at `sep` outside parentheses.
    fn split_depth0(&self, sep: &str) -> Vec<Cursor<'a>> {
        let mut parts = Vec::new();
        let mut depth = 0i32;
        let mut current = Vec::new();
        for &t in &self.tokens[self.pos.min(self.tokens.len())..] {
            let text = self.text(t);
            if t.kind == TokenKind::Punct {
                match text {
                    "(" | "[" => depth += 1,
                    ")" | "]" => depth -= 1,
                    _ if depth == 0 && text == sep => {
                        parts.push(Cursor { tokens: std::mem::take(&mut current), pos: 0, ..*self });
                        continue;
                    }
                    _ => {}
                }
            }
            current.push(t);
        }
        if !current.is_empty() {
            parts.push(Cursor { tokens: current, pos: 0, ..*self });
        }
        parts
    }

    /// The tokens from the cursor up to (not including) the first of
    /// `keywords` outside parentheses.
    fn rest_until(&self, keywords: &[&str]) -> Cursor<'a> {
        let mut depth = 0i32;
        let mut end = self.tokens.len();
        for i in self.pos..self.tokens.len() {
            let t = self.tokens[i];
            match (t.kind, self.text(t)) {
                (TokenKind::Punct, "(") => depth += 1,
                (TokenKind::Punct, ")") => depth -= 1,
                // `a IS [NOT] DISTINCT FROM b` is an expression.
                (TokenKind::Word, w) if w.eq_ignore_ascii_case("FROM") && i > 0 && self.word_is(i - 1, "DISTINCT") => {}
                (TokenKind::Word, w) if depth == 0 && keywords.iter().any(|k| w.eq_ignore_ascii_case(k)) => {
                    end = i;
                    break;
                }
                _ => {}
            }
        }
        Cursor { tokens: self.tokens[self.pos.min(end)..end].to_vec(), pos: 0, ..*self }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lexer::tokenize;

    fn one(sql: &str) -> Change {
        let changes = all(sql);
        assert_eq!(changes.len(), 1, "{changes:?}");
        changes.into_iter().next().unwrap()
    }

    fn all(sql: &str) -> Vec<Change> {
        classify(sql, &tokenize(sql).unwrap())
    }

    fn category(sql: &str) -> Category {
        one(sql).category()
    }

    #[test]
    fn creates_are_additive() {
        for sql in [
            "CREATE TABLE users (id bigint PRIMARY KEY)",
            "create table if not exists public.users (id int)",
            "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS users_email ON users (email)",
            "CREATE INDEX ON users (email)",
            "CREATE SEQUENCE s",
            "CREATE TYPE mood AS ENUM ('a')",
            "CREATE SCHEMA app",
            "CREATE EXTENSION IF NOT EXISTS pgcrypto",
            "CREATE MATERIALIZED VIEW mv AS SELECT 1",
            "CREATE TEMP TABLE t (a int)",
            "CREATE VIRTUAL TABLE docs USING fts5(body)",
        ] {
            assert_eq!(category(sql), Category::AdditiveSchema, "{sql}");
        }
    }

    #[test]
    fn create_names_the_object() {
        assert_eq!(
            one("CREATE OR REPLACE FUNCTION app.sync_name() RETURNS trigger AS $$ BEGIN END $$ LANGUAGE plpgsql"),
            Change::Create {
                object: "FUNCTION".into(),
                name: Some("app.sync_name".into()),
                or_replace: true,
                on: None,
                if_not_exists: false,
                temporary: false
            }
        );
        assert_eq!(
            one("CREATE UNIQUE INDEX users_email ON users (email)"),
            Change::Create {
                object: "INDEX".into(),
                name: Some("users_email".into()),
                or_replace: false,
                on: Some("users".into()),
                if_not_exists: false,
                temporary: false
            }
        );
        assert_eq!(
            one("CREATE MATERIALIZED VIEW \"Totals\" AS SELECT 1"),
            Change::Create {
                object: "MATERIALIZED VIEW".into(),
                name: Some("Totals".into()),
                or_replace: false,
                on: None,
                if_not_exists: false,
                temporary: false
            }
        );
    }

    #[test]
    fn add_column_knows_when_existing_rows_cannot_be_filled() {
        let nn = |sql| match one(sql) {
            Change::AddColumn { not_null_without_default, .. } => not_null_without_default,
            other => panic!("{other:?}"),
        };
        assert!(nn("ALTER TABLE users ADD COLUMN email text NOT NULL"));
        assert!(!nn("ALTER TABLE users ADD COLUMN email text NOT NULL DEFAULT ''"));
        assert!(!nn("ALTER TABLE users ADD email text"));
        assert!(!nn("ALTER TABLE users ADD COLUMN id bigserial NOT NULL"));
        assert!(!nn("ALTER TABLE users ADD COLUMN n int GENERATED ALWAYS AS (1) STORED NOT NULL"));
    }

    #[test]
    fn alter_table_with_several_actions_gives_one_change_each() {
        let changes = all("ALTER TABLE users ADD COLUMN a int, DROP COLUMN b, ALTER COLUMN c TYPE bigint");
        assert_eq!(changes.len(), 3);
        assert_eq!(changes[0].category(), Category::AdditiveSchema);
        assert_eq!(
            changes[1],
            Change::Drop {
                object: "COLUMN".into(),
                name: Some("b".into()),
                table: Some("users".into()),
                cascade: false
            }
        );
        assert_eq!(changes[2].category(), Category::DestructiveSchema);
    }

    #[test]
    fn constraints_and_nullability() {
        assert_eq!(
            category("ALTER TABLE a ADD CONSTRAINT fk FOREIGN KEY (b) REFERENCES b (id) NOT VALID"),
            Category::AdditiveSchema
        );
        assert_eq!(category("ALTER TABLE a ALTER COLUMN b DROP NOT NULL"), Category::AdditiveSchema);
        assert_eq!(category("ALTER TABLE a ALTER COLUMN b SET NOT NULL"), Category::DestructiveSchema);
        assert_eq!(category("ALTER TABLE a ADD CONSTRAINT b_nn NOT NULL b"), Category::DestructiveSchema);
        assert_eq!(category("ALTER TABLE a ADD NOT NULL b"), Category::DestructiveSchema);
        assert_eq!(
            category("ALTER TABLE a ADD CONSTRAINT b_nn CHECK (b IS NOT NULL) NOT VALID"),
            Category::AdditiveSchema
        );
        assert_eq!(category("ALTER TABLE a ALTER COLUMN b SET (n_distinct = -0.02)"), Category::Neutral);
        assert_eq!(category("ALTER TABLE a ALTER COLUMN b RESET (n_distinct)"), Category::Neutral);
        assert_eq!(category("ALTER TABLE a VALIDATE CONSTRAINT fk"), Category::Neutral);
        assert_eq!(category("ALTER TABLE a ALTER COLUMN b SET DEFAULT 0"), Category::AdditiveSchema);
        assert_eq!(category("ALTER TABLE a ALTER COLUMN b DROP DEFAULT"), Category::DestructiveSchema);
        assert_eq!(category("ALTER TABLE a ALTER CONSTRAINT fk DEFERRABLE"), Category::DestructiveSchema);
    }

    #[test]
    fn renames_are_recognised() {
        assert_eq!(
            one("ALTER TABLE users RENAME COLUMN name TO full_name"),
            Change::RenameColumn {
                table: "users".into(),
                from: "name".into(),
                to: Some("full_name".into()),
                redefined: false
            }
        );
        assert_eq!(
            one("ALTER TABLE users RENAME TO people"),
            Change::RenameTable { from: "users".into(), to: Some("people".into()) }
        );
        assert_eq!(category("ALTER INDEX i RENAME TO j"), Category::DestructiveSchema);
    }

    #[test]
    fn drops_name_what_they_drop() {
        assert_eq!(
            one("DROP INDEX CONCURRENTLY IF EXISTS users_email"),
            Change::Drop { object: "INDEX".into(), name: Some("users_email".into()), table: None, cascade: false }
        );
        assert_eq!(
            one("DROP MATERIALIZED VIEW totals CASCADE"),
            Change::Drop {
                object: "MATERIALIZED VIEW".into(),
                name: Some("totals".into()),
                table: None,
                cascade: true
            }
        );
        assert_eq!(
            one("DROP TRIGGER sync ON users"),
            Change::Drop { object: "TRIGGER".into(), name: Some("sync".into()), table: None, cascade: false }
        );
        assert_eq!(
            all("DROP FUNCTION f(int), app.g() CASCADE")
                .iter()
                .map(|c| match c {
                    Change::Drop { name, cascade: true, .. } => name.clone().unwrap(),
                    other => panic!("{other:?}"),
                })
                .collect::<Vec<_>>(),
            ["f", "app.g"]
        );
    }

    #[test]
    fn data_statements() {
        assert_eq!(category("INSERT INTO roles (name) VALUES ('admin')"), Category::DataInsert);
        assert_eq!(category("INSERT INTO roles VALUES (1) ON CONFLICT DO NOTHING"), Category::DataInsert);
        assert_eq!(
            category("INSERT INTO roles VALUES (1) ON CONFLICT (id) DO UPDATE SET name = 'x'"),
            Category::DataModification
        );
        assert_eq!(category("INSERT OR REPLACE INTO roles VALUES (1)"), Category::DataModification);
        assert_eq!(category("DELETE FROM roles WHERE id = 1"), Category::DataModification);
        assert_eq!(category("TRUNCATE TABLE a, b"), Category::DataModification);
        assert_eq!(category("WITH x AS (DELETE FROM a RETURNING *) SELECT 1"), Category::DataModification);
        assert_eq!(category("WITH x AS (SELECT 1) SELECT * FROM x"), Category::Neutral);
        assert_eq!(category("COPY t (a, b) FROM '/tmp/x.csv'"), Category::DataInsert);
        assert_eq!(category("COPY (SELECT 1) TO STDOUT"), Category::Neutral);
        assert_eq!(category("COPY t TO STDOUT"), Category::Neutral);
    }

    #[test]
    fn every_data_modifying_part_is_classified_with_its_target() {
        assert_eq!(
            all(
                "WITH moved AS (DELETE FROM users WHERE id > 1 RETURNING id, name) INSERT INTO accounts SELECT * FROM moved"
            ),
            vec![
                Change::Delete { table: Some("users".into()) },
                Change::Insert { table: Some("accounts".into()), upsert: false }
            ]
        );
        assert_eq!(
            all(
                "WITH RECURSIVE a (x) AS MATERIALIZED (SELECT 1), u AS (UPDATE users SET name = 'x' RETURNING *) SELECT 1"
            ),
            vec![Change::Update { table: Some("users".into()), columns: vec!["name".into()] }]
        );
        assert_eq!(
            all("WITH a AS (WITH b AS (DELETE FROM logs RETURNING 1) SELECT * FROM b) SELECT * FROM a"),
            vec![Change::Delete { table: Some("logs".into()) }]
        );
        assert_eq!(all("EXPLAIN ANALYZE DELETE FROM users"), vec![Change::Delete { table: Some("users".into()) }]);
        assert_eq!(
            all("EXPLAIN (ANALYZE, BUFFERS) UPDATE users SET a = 1"),
            vec![Change::Update { table: Some("users".into()), columns: vec!["a".into()] }]
        );
        assert_eq!(all("EXPLAIN (ANALYZE false) DELETE FROM users"), vec![Change::Neutral]);
        assert_eq!(all("EXPLAIN DELETE FROM users"), vec![Change::Neutral]);
        assert_eq!(all("EXPLAIN VERBOSE SELECT 1"), vec![Change::Neutral]);
        assert_eq!(
            all("MERGE INTO users u USING staged s ON u.id = s.id WHEN MATCHED THEN DELETE"),
            vec![Change::Update { table: Some("users".into()), columns: vec![] }]
        );
    }

    #[test]
    fn statements_that_cannot_run_in_a_transaction_are_known() {
        let restriction = |sql: &str| restriction(sql, &tokenize(sql).unwrap());
        for sql in [
            "VACUUM ANALYZE users",
            "CREATE DATABASE other",
            "ALTER SYSTEM SET work_mem = '1MB'",
            "CREATE INDEX CONCURRENTLY i ON t (a)",
            "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a)",
            "DROP INDEX CONCURRENTLY i",
            "REINDEX (VERBOSE) TABLE CONCURRENTLY t",
            "REINDEX DATABASE app",
            "REINDEX (VERBOSE) DATABASE app",
            "REINDEX SCHEMA app",
            "ALTER TABLE measurements DETACH PARTITION measurements_2020 CONCURRENTLY",
            "ATTACH DATABASE 'x.db' AS x",
        ] {
            assert!(matches!(restriction(sql), Restriction::OutsideTransaction(_)), "{sql}");
        }
        for sql in [
            "CREATE INDEX i ON t (a)",
            "REINDEX TABLE t",
            "ANALYZE t",
            "COPY t FROM '/data.csv'",
            "SELECT 1",
            "ALTER TABLE measurements DETACH PARTITION measurements_2020",
        ] {
            assert_eq!(restriction(sql), Restriction::Anywhere, "{sql}");
        }
        assert!(matches!(restriction("COPY public.users (id, name) FROM stdin"), Restriction::Never(_)));
        let added = |sql: &'static str| enum_value_added(sql, &tokenize(sql).unwrap());
        assert_eq!(added("ALTER TYPE mood ADD VALUE IF NOT EXISTS 'meh' AFTER 'sad'"), Some("'meh'"));
        assert_eq!(added("ALTER TYPE mood RENAME VALUE 'a' TO 'b'"), None);
    }

    #[test]
    fn update_lists_the_assigned_columns() {
        assert_eq!(
            one(
                "UPDATE ONLY public.users AS u SET first_name = split_part(name, ' ', 1), (last_name, nick) = (coalesce(a, b), 'x') WHERE u.id > 0"
            ),
            Change::Update {
                table: Some("users".into()),
                columns: vec!["first_name".into(), "last_name".into(), "nick".into()],
            }
        );
        assert_eq!(
            one("UPDATE users SET \"Name\" = CASE WHEN a THEN b ELSE c END FROM other"),
            Change::Update { table: Some("users".into()), columns: vec!["Name".into()] }
        );
    }

    #[test]
    fn neutral_opaque_and_transaction_statements() {
        for sql in [
            "SET lock_timeout = '1s'",
            "COMMENT ON TABLE a IS $$x$$",
            "GRANT SELECT ON a TO b",
            "SELECT setval('s', 1)",
            "REINDEX INDEX i",
            "ANALYZE a",
        ] {
            assert_eq!(category(sql), Category::Neutral, "{sql}");
        }
        assert_eq!(one("DO $$ BEGIN END $$"), Change::Opaque { keyword: "DO".into() });
        assert_eq!(one("BEGIN"), Change::TransactionControl);
        assert_eq!(one("COMMIT"), Change::TransactionControl);
        assert_eq!(one("FROBNICATE the database"), Change::Unknown { keywords: "FROBNICATE THE DATABASE".into() });
    }

    #[test]
    fn pragmas_name_their_setting_and_value() {
        let pragma =
            |name: &str, value: Option<&str>| Change::Pragma { name: name.into(), value: value.map(Into::into) };
        assert_eq!(one("PRAGMA foreign_keys = OFF"), pragma("foreign_keys", Some("OFF")));
        assert_eq!(one("pragma main.Foreign_Keys=0;"), pragma("foreign_keys", Some("0")));
        assert_eq!(one("PRAGMA cache_size = -2000"), pragma("cache_size", Some("-2000")));
        assert_eq!(one("PRAGMA journal_mode('wal')"), pragma("journal_mode", Some("'wal'")));
        assert_eq!(one("PRAGMA foreign_key_check"), pragma("foreign_key_check", None));
        assert_eq!(category("PRAGMA legacy_alter_table = ON"), Category::Neutral);
        assert!(is_off("OFF") && is_off("'false'") && is_off(" 0 ") && is_off("No"));
        assert!(!is_off("ON") && !is_off("1") && !is_off("offf"));
    }

    #[test]
    fn statements_that_change_the_session_are_told_apart() {
        let session = |sql: &str| changes_session(sql, &tokenize(sql).unwrap());
        for sql in [
            "SET search_path = ''",
            "reset role",
            "SELECT pg_catalog.set_config('search_path', '', false)",
            "DISCARD TEMP",
            "PRAGMA recursive_triggers = 1",
            "CREATE TEMP TABLE scratch (a int)",
            "CREATE OR REPLACE TEMPORARY VIEW v AS SELECT 1",
        ] {
            assert!(session(sql), "{sql}");
        }
        for sql in ["PRAGMA foreign_key_check", "CREATE TABLE temp_users (a int)", "SELECT 1", "UPDATE t SET a = 1"] {
            assert!(!session(sql), "{sql}");
        }
    }

    #[test]
    fn indexes_and_triggers_name_their_table() {
        let on = |sql: &str| match one(sql) {
            Change::Create { on, .. } => on,
            other => panic!("{other:?}"),
        };
        assert_eq!(on("CREATE UNIQUE INDEX IF NOT EXISTS i ON main.users (lower(name))"), Some("users".into()));
        assert_eq!(on("CREATE INDEX ON ONLY users (a)"), Some("users".into()));
        assert_eq!(on("CREATE TRIGGER g AFTER UPDATE OF a ON users BEGIN SELECT 1; END"), Some("users".into()));
        assert_eq!(on("CREATE TABLE t (a int)"), None);
    }

    #[test]
    fn alter_type_add_value_is_additive_and_rename_value_is_not() {
        assert_eq!(category("ALTER TYPE mood ADD VALUE IF NOT EXISTS 'meh'"), Category::AdditiveSchema);
        assert_eq!(category("ALTER TYPE mood RENAME VALUE 'a' TO 'b'"), Category::DestructiveSchema);
    }

    #[test]
    fn mysql_statements_are_classified_through_their_quotes_and_comments() {
        use crate::lexer::{Dialect, tokenize_with};
        let mysql = |sql: &str| classify(sql, &tokenize_with(sql, Dialect::Mysql).unwrap());
        assert_eq!(
            mysql("ALTER TABLE `users` DROP COLUMN `my;col` # why; not\n"),
            vec![Change::Drop {
                object: "COLUMN".into(),
                name: Some("my;col".into()),
                table: Some("users".into()),
                cascade: false
            }]
        );
        assert_eq!(
            mysql("INSERT INTO t VALUES ('it\\'s', \"a\\\"b\")"),
            vec![Change::Insert { table: Some("t".into()), upsert: false }]
        );
        // Double quotes make a string in MySQL, never a name.
        assert!(
            matches!(&mysql("DROP TABLE \"users\"")[..], [Change::Drop { name: None, .. }]),
            "{:?}",
            mysql("DROP TABLE \"users\"")
        );
        assert_eq!(mysql("/*!40101 SET NAMES utf8mb4 */;"), vec![Change::Opaque { keyword: "`/*! ... */`".into() }]);
        assert!(matches!(
            &mysql("CREATE TABLE /*!32312 IF NOT EXISTS*/ t (a int) /*!50100 ENGINE=InnoDB */")[..],
            [Change::Create { name: Some(name), .. }] if name == "t"
        ));
    }
    fn mysql(sql: &str) -> Vec<Change> {
        classify_with(sql, &crate::lexer::tokenize_with(sql, Dialect::Mysql).unwrap(), Dialect::Mysql)
    }

    fn mysql_categories(sql: &str) -> Vec<Category> {
        mysql(sql).iter().map(Change::category).collect()
    }

    #[test]
    fn mysql_modify_and_change_are_type_changes_and_change_renames() {
        use Category::*;
        let changes = mysql("ALTER TABLE users MODIFY COLUMN age BIGINT NOT NULL");
        assert!(
            matches!(&changes[..], [Change::AlterExisting { what }] if what.starts_with("changes the type of column users.age")),
            "{changes:?}"
        );
        assert_eq!(mysql_categories("ALTER TABLE users MODIFY age BIGINT"), [DestructiveSchema]);
        // CHANGE a a: a type change alone.
        assert_eq!(mysql_categories("ALTER TABLE users CHANGE COLUMN age AGE BIGINT"), [DestructiveSchema]);
        assert!(matches!(&mysql("ALTER TABLE users CHANGE age age BIGINT")[..], [Change::AlterExisting { .. }]));
        // CHANGE a b: a rename and a type change.
        let changes = mysql("ALTER TABLE users CHANGE `name` full_name VARCHAR(200)");
        assert_eq!(
            changes[0],
            Change::RenameColumn {
                table: "users".into(),
                from: "name".into(),
                to: Some("full_name".into()),
                redefined: true
            }
        );
        assert!(changes[0].describe().contains("CHANGE renames and retypes"), "{}", changes[0].describe());
        assert!(matches!(&changes[1], Change::AlterExisting { what } if what.starts_with("changes the type")));
        assert_eq!(
            mysql("ALTER TABLE users RENAME COLUMN a TO b"),
            vec![Change::RenameColumn {
                table: "users".into(),
                from: "a".into(),
                to: Some("b".into()),
                redefined: false
            }]
        );
    }

    #[test]
    fn mysql_indexes_and_keys() {
        use Category::*;
        for sql in [
            "ALTER TABLE users ADD INDEX users_email (email)",
            "ALTER TABLE users ADD KEY users_email (email) USING BTREE",
            "ALTER TABLE users ADD UNIQUE users_email (email)",
            "ALTER TABLE users ADD UNIQUE INDEX users_email (email)",
            "ALTER TABLE users ADD UNIQUE KEY users_email (email)",
            "ALTER TABLE users ADD FULLTEXT users_email (email)",
            "ALTER TABLE users ADD SPATIAL INDEX users_email (email)",
        ] {
            assert_eq!(
                mysql(sql),
                vec![Change::Create {
                    object: "INDEX".into(),
                    name: Some("users_email".into()),
                    or_replace: false,
                    on: Some("users".into()),
                    if_not_exists: false,
                    temporary: false
                }],
                "{sql}"
            );
        }
        assert!(matches!(&mysql("ALTER TABLE users ADD INDEX (email)")[..], [Change::Create { name: None, .. }]));
        // Read as PostgreSQL, `ADD key int` adds a column named key.
        assert!(matches!(one("ALTER TABLE users ADD key int"), Change::AddColumn { .. }));
        assert_eq!(
            mysql("DROP INDEX users_email ON users"),
            vec![Change::Drop {
                object: "INDEX".into(),
                name: Some("users_email".into()),
                table: Some("users".into()),
                cascade: false
            }]
        );
        for sql in [
            "ALTER TABLE users DROP INDEX users_email",
            "ALTER TABLE users DROP KEY users_email",
            "ALTER TABLE users DROP PRIMARY KEY",
            "ALTER TABLE users DROP FOREIGN KEY users_org",
            "ALTER TABLE users DROP CHECK users_age",
        ] {
            assert_eq!(mysql_categories(sql), [DestructiveSchema], "{sql}");
        }
        assert_eq!(
            mysql("ALTER TABLE posts DROP FOREIGN KEY posts_user"),
            vec![Change::Drop {
                object: "FOREIGN KEY".into(),
                name: Some("posts_user".into()),
                table: Some("posts".into()),
                cascade: false
            }]
        );
        assert_eq!(
            mysql_categories("ALTER TABLE posts ADD CONSTRAINT fk FOREIGN KEY (user_id) REFERENCES users (id)"),
            [AdditiveSchema]
        );
    }

    #[test]
    fn mysql_algorithm_and_lock_are_no_changes_and_every_action_counts() {
        use Category::*;
        assert_eq!(
            mysql_categories(
                "ALTER TABLE users ALGORITHM=INPLACE, ADD COLUMN a INT, LOCK = NONE, DROP COLUMN b, MODIFY c TEXT, ADD INDEX i (a), ALGORITHM INSTANT"
            ),
            [AdditiveSchema, DestructiveSchema, DestructiveSchema, AdditiveSchema]
        );
        assert_eq!(mysql("ALTER TABLE users ALGORITHM=COPY"), vec![Change::Neutral]);
        assert_eq!(
            mysql("ALTER TABLE users ADD COLUMN (a INT, b INT NOT NULL)")
                .iter()
                .map(|c| match c {
                    Change::AddColumn { column, not_null_without_default, .. } =>
                        (column.clone(), *not_null_without_default),
                    other => panic!("{other:?}"),
                })
                .collect::<Vec<_>>(),
            [("a".to_string(), false), ("b".to_string(), true)]
        );
        assert!(matches!(
            &mysql("ALTER TABLE users ADD COLUMN id BIGINT NOT NULL AUTO_INCREMENT")[..],
            [Change::AddColumn { not_null_without_default: false, .. }]
        ));
        assert_eq!(mysql_categories("ALTER TABLE users COMMENT = 'people', AUTO_INCREMENT = 10"), [Neutral, Neutral]);
        assert_eq!(mysql_categories("ALTER TABLE users CONVERT TO CHARACTER SET utf8mb4"), [DestructiveSchema]);
        assert_eq!(mysql_categories("ALTER TABLE users RENAME INDEX a TO b"), [DestructiveSchema]);
    }

    #[test]
    fn mysql_table_renames() {
        assert_eq!(
            mysql("RENAME TABLE users TO people, `old` TO `new`"),
            vec![
                Change::RenameTable { from: "users".into(), to: Some("people".into()) },
                Change::RenameTable { from: "old".into(), to: Some("new".into()) },
            ]
        );
        for sql in [
            "ALTER TABLE users RENAME TO people",
            "ALTER TABLE users RENAME AS people",
            "ALTER TABLE users RENAME people",
        ] {
            assert_eq!(
                mysql(sql),
                vec![Change::RenameTable { from: "users".into(), to: Some("people".into()) }],
                "{sql}"
            );
        }
    }

    #[test]
    fn mysql_data_changes() {
        use Category::*;
        assert_eq!(
            mysql("INSERT IGNORE INTO roles VALUES (1)"),
            vec![Change::Insert { table: Some("roles".into()), upsert: false }]
        );
        assert_eq!(mysql_categories("INSERT LOW_PRIORITY IGNORE INTO roles VALUES (1)"), [DataInsert]);
        assert_eq!(mysql_categories("REPLACE INTO roles VALUES (1)"), [DataModification]);
        assert_eq!(
            mysql("INSERT INTO roles (id, name) VALUES (1, 'a') ON DUPLICATE KEY UPDATE name = VALUES(name)"),
            vec![Change::Insert { table: Some("roles".into()), upsert: true }]
        );
        assert_eq!(
            mysql("UPDATE LOW_PRIORITY IGNORE users SET a = 1"),
            vec![Change::Update { table: Some("users".into()), columns: vec!["a".into()] }]
        );
        assert_eq!(mysql("DELETE QUICK IGNORE FROM users"), vec![Change::Delete { table: Some("users".into()) }]);
    }

    #[test]
    fn mysql_stored_programs_are_created_with_their_names() {
        let created = |sql: &str| match &mysql(sql)[..] {
            [Change::Create { object, name, on, .. }] => (object.clone(), name.clone(), on.clone()),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            created(
                "CREATE DEFINER = 'app'@'%' TRIGGER users_sync BEFORE INSERT ON users FOR EACH ROW BEGIN SET NEW.a = 1; END;"
            ),
            ("TRIGGER".into(), Some("users_sync".into()), Some("users".into()))
        );
        assert_eq!(
            created("CREATE DEFINER=CURRENT_USER() PROCEDURE tidy() BEGIN DELETE FROM logs; END"),
            ("PROCEDURE".into(), Some("tidy".into()), None)
        );
        assert_eq!(
            created("CREATE FUNCTION half(x INT) RETURNS INT DETERMINISTIC BEGIN RETURN x / 2; END"),
            ("FUNCTION".into(), Some("half".into()), None)
        );
        assert_eq!(
            created("CREATE UNIQUE INDEX users_email ON users (email) ALGORITHM=INPLACE LOCK=NONE"),
            ("INDEX".into(), Some("users_email".into()), Some("users".into()))
        );
        assert_eq!(
            created("CREATE FULLTEXT INDEX notes_body ON notes (body)"),
            ("INDEX".into(), Some("notes_body".into()), Some("notes".into()))
        );
        assert!(
            matches!(&mysql("DROP TEMPORARY TABLE IF EXISTS scratch")[..], [Change::Drop { object, name: Some(n), .. }] if object == "TABLE" && n == "scratch")
        );
    }
}

//! Property tests: the lexer, splitter, classifier, directive parser and
//! file-name grammar never panic, on arbitrary text and on text built from
//! SQL's own tricky pieces, and the splitter loses nothing, in every
//! dialect.

use std::borrow::Cow;

use ebbtide_core::{
    Backfill, Branch, Dialect, Migration, Script, Statement, Version, classify, directive, lexer, name, packed, split,
};
use proptest::prelude::*;

/// Text built from the pieces that make splitting hard.
fn sqlish() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just(";".to_string()),
        Just("'".to_string()),
        Just("''".to_string()),
        Just("\"".to_string()),
        Just("$$".to_string()),
        Just("$tag$".to_string()),
        Just("$1".to_string()),
        Just("--".to_string()),
        Just("/*".to_string()),
        Just("*/".to_string()),
        Just("\n".to_string()),
        Just(" ".to_string()),
        Just("E'\\''".to_string()),
        Just("BEGIN".to_string()),
        Just("END".to_string()),
        Just("CASE".to_string()),
        Just("CREATE TRIGGER t AFTER INSERT ON a".to_string()),
        Just("CREATE OR REPLACE FUNCTION f()".to_string()),
        Just("ALTER TABLE users ADD COLUMN a int NOT NULL".to_string()),
        Just("ALTER TABLE users RENAME COLUMN a TO b".to_string()),
        Just("UPDATE users SET (a, b) = (1, 2)".to_string()),
        Just("DROP INDEX CONCURRENTLY IF EXISTS".to_string()),
        Just("INSERT INTO t VALUES (1) ON CONFLICT DO UPDATE".to_string()),
        Just("-- ebbtide: allow destructive".to_string()),
        Just("-- ebbtide: lock-timeout 99999999999s".to_string()),
        Just("é".to_string()),
        Just("(".to_string()),
        Just(")".to_string()),
        Just(",".to_string()),
        Just(".".to_string()),
        "[a-zA-Z_]{1,8}",
        "[0-9]{1,4}",
    ];
    prop::collection::vec(piece, 0..40).prop_map(|pieces| pieces.join(""))
}

const DIALECTS: [Dialect; 2] = [Dialect::Portable, Dialect::Mysql];

/// Text built from the pieces that make splitting MySQL hard, with the
/// portable ones.
fn mysqlish() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("\\".to_string()),
        Just("\\'".to_string()),
        Just("\\\"".to_string()),
        Just("`".to_string()),
        Just("``".to_string()),
        Just("#".to_string()),
        Just("-- ".to_string()),
        Just("--x".to_string()),
        Just("/*!50100 ".to_string()),
        Just("/*M!".to_string()),
        sqlish(),
    ];
    prop::collection::vec(piece, 0..12).prop_map(|pieces| pieces.join(""))
}

fn check_split(sql: &str) {
    for dialect in DIALECTS {
        check_split_with(sql, dialect);
    }
}

fn check_split_with(sql: &str, dialect: Dialect) {
    match split::split_with(sql, dialect) {
        Ok(pieces) => {
            let joined: String = pieces.iter().map(|p| &sql[p.range.clone()]).collect();
            assert_eq!(joined, sql);
            for p in &pieces {
                if let Some(s) = &p.statement {
                    assert!(p.range.start <= s.start && s.end <= p.range.end && s.start < s.end);
                }
            }
        }
        Err(open) => assert!(open.offset < sql.len()),
    }
}

fn check_classify(sql: &str) {
    for dialect in DIALECTS {
        check_classify_with(sql, dialect);
    }
}

fn check_classify_with(sql: &str, dialect: Dialect) {
    if let Ok(tokens) = lexer::tokenize_with(sql, dialect) {
        let joined: String = tokens.iter().map(|t| &sql[t.range.clone()]).collect();
        assert_eq!(joined, sql, "tokens cover the text");
        for piece in split::split_tokens_with(sql, &tokens, dialect) {
            let Some(range) = piece.statement else { continue };
            let stmt: Vec<_> =
                tokens.iter().filter(|t| t.range.start >= range.start && t.range.end <= range.end).cloned().collect();
            for change in classify::classify_with(sql, &stmt, dialect) {
                let _ = change.describe();
                let _ = change.category();
            }
        }
        let _ = directive::parse(sql, &tokens);
    }
}

/// A script with arbitrary strings and statements in order through it.
fn script() -> impl Strategy<Value = Script> {
    let statements = prop::collection::vec((0u32..5000, 0u32..5000, 0u32..50), 0..6).prop_map(|steps| {
        let (mut end, mut line) = (0, 1);
        steps
            .into_iter()
            .map(|(gap, len, lines)| {
                let start = end + gap;
                (end, line) = (start + len, line + lines);
                Statement { start, end, line }
            })
            .collect::<Vec<_>>()
    });
    let backfill = any::<Option<(String, String, u32)>>()
        .prop_map(|b| b.map(|(table, key, batch_size)| Backfill { table: table.into(), key: key.into(), batch_size }));
    (any::<String>(), any::<String>(), statements, any::<bool>(), any::<Option<u32>>(), any::<(bool, bool)>(), backfill)
        .prop_map(
            |(path, sql, statements, no_transaction, lock_timeout_ms, (foreign_keys_off, sets_session), backfill)| {
                Script {
                    path: Cow::Owned(path),
                    sql: Cow::Owned(sql),
                    statements: Cow::Owned(statements),
                    no_transaction,
                    lock_timeout_ms,
                    lock_retry_ms: lock_timeout_ms.map(|ms| ms / 2),
                    foreign_keys_off,
                    sets_session,
                    backfill,
                }
            },
        )
}

fn migrations() -> impl Strategy<Value = Vec<Migration>> {
    let branch = prop_oneof![Just(Branch::Initial), Just(Branch::Expand), Just(Branch::Contract)];
    let migration =
        (branch, "[a-z_]{0,12}|.{0,6}", any::<String>(), any::<String>(), script(), prop::option::of(script()));
    prop::collection::vec(migration, 0..8).prop_map(|list| {
        list.into_iter()
            .enumerate()
            .map(|(i, (branch, name, checksum, fingerprint, mut up, down))| {
                // Most names are part of their file's path, as on disk.
                if i % 2 == 0 {
                    up.path = Cow::Owned(format!("{}/{:04}_{}.sql", up.path, i + 1, name));
                }
                Migration {
                    version: Version::new(i as u32 + 1),
                    branch,
                    name: Cow::Owned(name),
                    release: (i % 3 == 0).then(|| Cow::Owned(format!("r{i}"))),
                    checksum: Cow::Owned(checksum),
                    fingerprint: Cow::Owned(fingerprint),
                    up,
                    down,
                }
            })
            .collect()
    })
}

/// Names the engines accept unquoted that are also words the splitter
/// looks at (`begin`, `end`, `atomic`, `trigger`, ...), ordinary names, and
/// quoted ones.
fn identifier() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "begin",
        "end",
        "atomic",
        "trigger",
        "function",
        "procedure",
        "replace",
        "temp",
        "row",
        "each",
        "after",
        "before",
        "instead",
        "BEGIN",
        "End",
        "users",
        "x",
        "case",
        "\"begin\"",
        "\"End\"",
        "`end`",
    ])
    .prop_map(str::to_string)
}

/// Statements with identifiers in every place a table, column, parameter,
/// alias or trigger name may stand, some of them with bodies.
fn statement() -> impl Strategy<Value = String> {
    let templates = prop::sample::select(vec![
        "CREATE TABLE {a} ({b} int, {c} text)",
        "UPDATE {a} SET {b} = {c} WHERE {a}.{b} > 0",
        "CREATE TRIGGER {a} AFTER UPDATE OF {b}, {c} ON {c} FOR EACH ROW WHEN NEW.{b} IS NOT OLD.{b} BEGIN \
         UPDATE {c} SET {b} = NEW.{b}, {c} = CASE WHEN NEW.{c} THEN 1 ELSE 2 END; INSERT INTO {a} ({b}) VALUES (OLD.{b}); END",
        "CREATE TEMP TRIGGER {a} BEFORE DELETE ON {b} BEGIN DELETE FROM {c} WHERE {b} = OLD.{c}; END",
        "CREATE TRIGGER {a} BEFORE UPDATE ON {c} FOR EACH ROW WHEN (OLD.{b} IS DISTINCT FROM NEW.{b}) EXECUTE FUNCTION {a}()",
        "CREATE TRIGGER {a} AFTER INSERT ON {c} REFERENCING NEW TABLE AS {b} FOR EACH STATEMENT EXECUTE FUNCTION f()",
        "CREATE FUNCTION {a}({b} int) RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT {b} + 1; SELECT CASE WHEN {b} THEN 1 END; END",
        "CREATE OR REPLACE FUNCTION {a}({b} int) RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql",
        "CREATE FUNCTION {a}() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1 AS {b}; (SELECT 2 AS {c}); RETURN 3; END",
        "DROP TABLE {a}",
        "SELECT {a}.{b} AS {c} FROM {a}",
        "INSERT INTO {a} ({b}, {c}) VALUES (1, 2)",
        "DELETE FROM {a} WHERE {b} = 1",
        "ALTER TABLE {a} ADD COLUMN {b} int",
        "CREATE TRIGGER {a} BEFORE INSERT ON {b} FOR EACH ROW BEGIN IF NEW.{c} IS NULL THEN \
         SET NEW.{c} = CASE WHEN NEW.{b} THEN 1 ELSE 2 END; END IF; END",
        "CREATE PROCEDURE {a}() BEGIN DECLARE done INT DEFAULT 0; DECLARE CONTINUE HANDLER FOR NOT FOUND SET done = 1; \
         lbl: LOOP IF done THEN LEAVE lbl; END IF; UPDATE {b} SET {c} = 1; END LOOP lbl; END",
        "ALTER TABLE {a} MODIFY COLUMN {b} bigint, CHANGE {c} {b} text, ADD INDEX {a} ({c}), ALGORITHM=INPLACE, LOCK=NONE",
    ]);
    (templates, identifier(), identifier(), identifier())
        .prop_map(|(t, a, b, c)| t.replace("{a}", &a).replace("{b}", &b).replace("{c}", &c))
}

/// A statement that modifies `users` somewhere inside: in a CTE body,
/// nested or not, behind `EXPLAIN ANALYZE`, with `RETURNING` chains.
fn hidden_modification() -> impl Strategy<Value = String> {
    let dml = prop::sample::select(vec![
        "DELETE FROM users WHERE id > 1 RETURNING *",
        "UPDATE users SET name = 'x' RETURNING id",
        "INSERT INTO users VALUES (1) ON CONFLICT (id) DO UPDATE SET name = 'y' RETURNING id",
        "MERGE INTO users USING staged ON users.id = staged.id WHEN MATCHED THEN DELETE",
    ]);
    let main = prop::sample::select(vec!["SELECT 1", "INSERT INTO audit SELECT * FROM {n}", "SELECT * FROM {n}"]);
    (dml, main, identifier(), 0..3usize, any::<bool>(), any::<bool>()).prop_map(
        |(dml, main, name, depth, explain, first)| {
            let name = name.trim_matches(['"', '`']).to_string() + "_cte";
            let mut body = dml.to_string();
            for level in 0..depth {
                body = format!("WITH inner{level} AS ({body}) SELECT * FROM inner{level}");
            }
            let other = "plain AS MATERIALIZED (SELECT 2)";
            let ctes =
                if first { format!("{name} AS ({body}), {other}") } else { format!("{other}, {name} AS ({body})") };
            let statement = format!("WITH RECURSIVE {ctes} {}", main.replace("{n}", &name));
            if explain { format!("EXPLAIN (ANALYZE, VERBOSE) {statement}") } else { statement }
        },
    )
}

/// Text that MySQL reads as one unit, whatever `;` it holds: strings with
/// backslash escapes and doubled quotes, backtick identifiers.
fn mysql_unit() -> impl Strategy<Value = String> {
    let inside = |fragments: Vec<&'static str>| {
        prop::collection::vec(prop::sample::select(fragments), 0..8).prop_map(|f| f.concat())
    };
    let common = vec![";", " ", "a", "é", "#", "-- ", "/*", "*/", "$$", "\\\\", "\\n", "\n"];
    let with = |extra: &[&'static str]| common.iter().chain(extra).copied().collect::<Vec<_>>();
    prop_oneof![
        inside(with(&["\\'", "''", "\"", "\\\"", "`"])).prop_map(|s| format!("'{s}'")),
        inside(with(&["\\\"", "\"\"", "'", "\\'", "`"])).prop_map(|s| format!("\"{s}\"")),
        inside(with(&["``", "'", "\"", "\\"])).prop_map(|s| format!("`x{s}`")),
        Just("1--1".to_string()),
        Just("$$".to_string()),
        Just("/*!40101 1; */".to_string()),
    ]
}

/// A MySQL comment, whatever `;` and quotes it holds.
fn mysql_comment() -> impl Strategy<Value = String> {
    let text =
        prop::collection::vec(prop::sample::select(vec![";", " ", "'", "\"", "`", "\\", "$$", "--", "#", "/*"]), 0..6)
            .prop_map(|f| f.concat());
    (text, 0..3usize).prop_map(|(text, kind)| match kind {
        0 => format!("# {text}\n"),
        1 => format!("-- {text}\n"),
        _ => format!("/* {}*/", text.replace('/', "")),
    })
}

/// A MySQL script of statements whose strings, identifiers and comments
/// hold semicolons, with the statements it holds, as written.
fn mysql_script() -> impl Strategy<Value = (String, Vec<String>)> {
    let item = prop_oneof![3 => mysql_unit(), 1 => mysql_comment()];
    let statement = prop::collection::vec(item, 1..5)
        .prop_map(|items| format!("SELECT {};", items.iter().map(|i| format!("{i} ")).collect::<Vec<_>>().join(", ")));
    let between = prop::option::of(mysql_comment());
    prop::collection::vec((between, statement), 0..6).prop_map(|list| {
        let mut sql = String::new();
        let mut statements = Vec::new();
        for (comment, statement) in list {
            sql.push_str(&comment.unwrap_or_default());
            sql.push('\n');
            sql.push_str(&statement);
            statements.push(statement);
        }
        (sql, statements)
    })
}

proptest! {
    // PROPTEST_CASES raises the count for the longer, time-bounded CI run.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2000),
        ..ProptestConfig::default()
    })]

    #[test]
    fn splitting_arbitrary_text_loses_nothing(sql in any::<String>()) {
        check_split(&sql);
    }

    #[test]
    fn splitting_sql_like_text_loses_nothing(sql in sqlish()) {
        check_split(&sql);
    }

    #[test]
    fn classifying_never_panics(sql in sqlish()) {
        check_classify(&sql);
    }

    #[test]
    fn classifying_arbitrary_text_never_panics(sql in any::<String>()) {
        check_classify(&sql);
    }

    #[test]
    fn splitting_and_classifying_mysql_like_text_loses_nothing(sql in mysqlish()) {
        check_split(&sql);
        check_classify(&sql);
    }

    /// MySQL's strings, backtick identifiers and comments hide their
    /// semicolons: the splitter finds exactly the statements written.
    #[test]
    fn mysql_statements_split_as_written((sql, written) in mysql_script()) {
        let found: Vec<&str> = split::split_with(&sql, Dialect::Mysql)
            .unwrap()
            .into_iter()
            .filter_map(|p| p.statement.map(|r| &sql[r]))
            .collect();
        prop_assert_eq!(found.len(), written.len(), "{}", sql);
        prop_assert_eq!(found, written);
    }

    /// However identifiers are spelled, no top-level statement ends up
    /// inside another: each starts a statement of its own, so the rules see
    /// it (a split too many only makes an error visible).
    #[test]
    fn the_rules_see_every_top_level_statement(list in prop::collection::vec(statement(), 1..8)) {
        let mut sql = String::new();
        let mut starts = Vec::new();
        for st in &list {
            starts.push(sql.len());
            sql.push_str(st);
            sql.push_str(";\n");
        }
        for dialect in DIALECTS {
            let found: Vec<usize> = split::split_with(&sql, dialect)
                .unwrap()
                .into_iter()
                .filter_map(|p| p.statement.map(|r| r.start))
                .collect();
            for &start in &starts {
                prop_assert!(
                    found.contains(&start),
                    "{:?}: statement at {} is inside another:\n{}\nstarts: {:?}", dialect, start, sql, found
                );
            }
        }
    }

    /// However deep a data-modifying statement hides, the classifier finds
    /// it with its real target.
    #[test]
    fn data_modifying_ctes_are_classified_with_their_target(sql in hidden_modification()) {
        let changes = classify::classify(&sql, &lexer::tokenize(&sql).unwrap());
        let found = changes.iter().any(|c| match c {
            classify::Change::Update { table, .. } | classify::Change::Delete { table } => table.as_deref() == Some("users"),
            classify::Change::Insert { table, upsert: true } => table.as_deref() == Some("users"),
            _ => false,
        });
        prop_assert!(found, "{}: {:?}", sql, changes);
    }

    #[test]
    fn packing_gives_back_every_migration(list in migrations()) {
        let (text, table) = packed::pack(&list);
        let text: &'static str = Box::leak(text.into_boxed_str());
        let statements: &'static [Statement] = Box::leak(packed::statements(&table).into_boxed_slice());
        prop_assert_eq!(packed::unpack(text, &table, statements), list);
    }

    #[test]
    fn file_names_parse_or_explain(file in "[0-9a-zA-Z_.\\- ]{0,24}(\\.down)?(\\.sql)?") {
        match name::parse(&file) {
            Ok(parsed) => {
                let rebuilt = format!("{:04}_{}{}", parsed.version.get(), parsed.name,
                    if parsed.direction == name::Direction::Down { ".down.sql" } else { ".sql" });
                let again = name::parse(&rebuilt).unwrap();
                prop_assert_eq!(again, parsed);
            }
            Err(bad) => {
                prop_assert!(!bad.reason.is_empty());
                if let Some(suggestion) = bad.suggestion {
                    prop_assert!(name::parse(&suggestion).is_ok(), "suggestion {} must parse", suggestion);
                }
            }
        }
    }
}

/// The corpus of inputs that once needed care: each file states how many
/// statements it holds, and must split, classify and parse without panic.
#[test]
fn corpus_files_split_as_their_header_says() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let sql = std::fs::read_to_string(&path).unwrap();
        let expected: usize = sql
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("-- statements: "))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("{} lacks its `-- statements: N` header", path.display()));
        check_split(&sql);
        check_classify(&sql);
        let statements = split::split(&sql).unwrap().into_iter().filter(|p| p.statement.is_some()).count();
        assert_eq!(statements, expected, "{}", path.display());
        seen += 1;
    }
    assert!(seen >= 8, "the corpus is there");
}

//! Directives: `-- ebbtide: ...` lines in the comment block at the top of a
//! script.
//!
//! - `-- ebbtide: no-transaction` runs the script outside a transaction
//!   (for `CREATE INDEX CONCURRENTLY` and the like);
//! - `-- ebbtide: allow <rule> [<rule> ...]` accepts statements that break
//!   the named branch rules, on purpose;
//! - `-- ebbtide: lock-timeout <duration>` (`500ms`, `5s`, `1m`) bounds how
//!   long each attempt of the script waits for a lock (PostgreSQL); the
//!   application's statements queue behind a waiting one at most that long;
//! - `-- ebbtide: lock-retry <duration>|off` bounds how long the attempts
//!   that gave up on a lock are retried, with backoff (`off`: fail at the
//!   first lock timeout);
//! - `-- ebbtide: release <name>` (e.g. `2.4.0`) starts a release: in a
//!   project that declares its releases, an expand migration may rewrite
//!   only what expand migrations of its own release added;
//! - `-- ebbtide: foreign-keys-off` runs the script as SQLite's table
//!   rebuild: foreign keys off around its transaction, checked before it
//!   commits (what `PRAGMA foreign_keys = OFF` in the script also asks for);
//! - `-- ebbtide: backfill <table>.<key> <batch-size>` runs the script, one
//!   `UPDATE` with `:after` and `:upto`, in batches by an integer key, each
//!   in a transaction of its own (see [`crate::backfill`]).

use crate::backfill::{self, Backfill};
use crate::lexer::{Token, TokenKind, line_of};
use crate::rules::Rule;

/// The directives of one script.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Directives {
    /// `no-transaction` was given.
    pub no_transaction: bool,
    /// `lock-timeout`, in milliseconds.
    pub lock_timeout_ms: Option<u32>,
    /// `lock-retry`, in milliseconds (0: `off`).
    pub lock_retry_ms: Option<u32>,
    /// `foreign-keys-off` was given.
    pub foreign_keys_off: bool,
    /// `release <name>`: the release this migration starts.
    pub release: Option<String>,
    /// `allow` rules, with the line of each.
    pub allows: Vec<(Rule, u32)>,
    /// `backfill <table>.<key> <batch-size>`, with its line.
    pub backfill: Option<(Backfill, u32)>,
}

/// A directive that could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadDirective {
    /// Its line.
    pub line: u32,
    /// What is wrong.
    pub message: String,
    /// What to write instead.
    pub help: String,
}

/// The verbs of the directives.
const VERBS: [&str; 7] =
    ["no-transaction", "lock-timeout", "lock-retry", "allow", "foreign-keys-off", "release", "backfill"];

/// What follows `ebbtide:` in the placeholder of a value that `revision
/// --autogenerate` cannot know (`NULL /* ebbtide: fill in: ... */`): the
/// build refuses the migration until the user writes it.
pub const FILL_IN: &str = "fill in";

/// How a comment relates to directives.
enum Shape<'a> {
    /// `ebbtide:` in a line comment: a directive, with what follows the colon.
    Directive(&'a str),
    /// Something that looks like a directive but is not one (a block
    /// comment, a space before the colon, no colon): it would be ignored,
    /// so it is an error. Holds what follows `ebbtide` and its punctuation.
    Misspelled(&'a str),
}

/// Reads one line of a comment's text (its `--`, `/*`, `*/` and leading
/// `*` already removed).
fn shape(text: &str, line_comment: bool) -> Option<Shape<'_>> {
    let text = text.trim();
    let head = text.get(..7)?;
    if !head.eq_ignore_ascii_case("ebbtide") {
        return None;
    }
    let after = &text[7..];
    if let Some(rest) = after.strip_prefix(':') {
        return Some(if line_comment { Shape::Directive(rest) } else { Shape::Misspelled(rest) });
    }
    let trimmed = after.trim_start();
    if let Some(rest) = trimmed.strip_prefix([':', '=']) {
        return Some(Shape::Misspelled(rest));
    }
    let verb = trimmed.split_whitespace().next().unwrap_or("");
    let spaced = trimmed.len() < after.len();
    (spaced && VERBS.iter().any(|v| v.eq_ignore_ascii_case(verb))).then_some(Shape::Misspelled(trimmed))
}

/// Reads the directives of a script from its tokens.
///
/// Directives are line comments `-- ebbtide: ...` in the comment block at
/// the top of the file. A comment that looks like one and is not (a block
/// comment, `ebbtide :`, no colon) is an error: it would be silently
/// ignored. Verbs, rule names and units are read in any case.
pub fn parse(sql: &str, tokens: &[Token]) -> (Directives, Vec<BadDirective>) {
    let mut directives = Directives::default();
    let mut problems = Vec::new();
    let mut leading = true;
    for token in tokens {
        let text = &sql[token.range.clone()];
        let (line_comment, body) = match token.kind {
            TokenKind::Whitespace | TokenKind::MetaCommand => continue,
            // `-- ...`, or MySQL's `# ...`.
            TokenKind::LineComment => (true, text.trim_start_matches(['-', '#'])),
            TokenKind::BlockComment => (false, text.trim_start_matches("/*").trim_end_matches("*/")),
            _ => {
                leading = false;
                continue;
            }
        };
        for (i, part) in body.split('\n').enumerate() {
            let part = if line_comment { part } else { part.trim_start().trim_start_matches('*') };
            let Some(found) = shape(part, line_comment) else { continue };
            let line = line_of(sql, token.range.start) + i as u32;
            match found {
                // What `revision --autogenerate` leaves for the user to write.
                Shape::Misspelled(rest) if rest.trim_start().starts_with(FILL_IN) => problems.push(BadDirective {
                    line,
                    message: format!(
                        "`revision --autogenerate` left this value for you to write: {}",
                        rest.trim_start()[FILL_IN.len()..].trim_start_matches(':').trim()
                    ),
                    help: "replace `NULL /* ebbtide: fill in ... */` with the value the rows get (a constant, or an \
                           expression over the row's other columns); if no row can lack it, delete the statement"
                        .into(),
                }),
                Shape::Misspelled(rest) => problems.push(BadDirective {
                    line,
                    message: format!(
                        "`{}` looks like an ebbtide directive but is not one, so it would be ignored",
                        part.trim()
                    ),
                    help: format!(
                        "write it as a line comment with the colon right after `ebbtide`: `-- ebbtide: {}`",
                        rest.trim()
                    ),
                }),
                Shape::Directive(_) if !leading => problems.push(BadDirective {
                    line,
                    message: "this `ebbtide:` directive comes after the first statement, where it has no effect".into(),
                    help: "move it into the comment block at the top of the file".into(),
                }),
                Shape::Directive(rest) => {
                    if let Err(message) = parse_one(rest.trim(), line, &mut directives) {
                        problems.push(BadDirective {
                            line,
                            message,
                            help: format!(
                                "known directives: `no-transaction`, `lock-timeout <duration>` (e.g. 5s), `lock-retry <duration>|off` (e.g. 10m), `foreign-keys-off`, `release <name>`, `backfill <table>.<integer key> <batch-size>`, `allow <rule>` with a rule among: {}",
                                Rule::ALL.map(Rule::as_str).join(", ")
                            ),
                        });
                    }
                }
            }
        }
    }
    (directives, problems)
}

fn parse_one(body: &str, line: u32, directives: &mut Directives) -> Result<(), String> {
    let mut words = body.split_whitespace();
    let verb = words.next().unwrap_or("").to_ascii_lowercase();
    let args: Vec<&str> = words.collect();
    match verb.as_str() {
        "no-transaction" if args.is_empty() => {
            directives.no_transaction = true;
            Ok(())
        }
        "release" if args.len() == 1 => {
            let name = args[0];
            if !name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_')) {
                return Err(format!("`release {name}`: a release name is letters, digits, `.`, `-` and `_`"));
            }
            directives.release = Some(name.to_string());
            Ok(())
        }
        "foreign-keys-off" if args.is_empty() => {
            directives.foreign_keys_off = true;
            Ok(())
        }
        "allow" if !args.is_empty() => {
            for arg in args {
                let arg = arg.trim_end_matches(',');
                let rule = Rule::parse(&arg.to_ascii_lowercase())
                    .ok_or_else(|| format!("`allow {arg}`: there is no rule named `{arg}`"))?;
                directives.allows.push((rule, line));
            }
            Ok(())
        }
        "lock-timeout" if args.len() == 1 => {
            let ms = parse_duration_ms(args[0])
                .ok_or_else(|| format!("`lock-timeout {}`: not a duration such as 500ms, 5s or 1m", args[0]))?;
            directives.lock_timeout_ms = Some(ms);
            Ok(())
        }
        "lock-retry" if args.len() == 1 => {
            let ms = match args[0] {
                "off" => 0,
                text => parse_duration_ms(text)
                    .ok_or_else(|| format!("`lock-retry {text}`: not a duration such as 30s or 5m, nor `off`"))?,
            };
            directives.lock_retry_ms = Some(ms);
            Ok(())
        }
        "backfill" => {
            directives.backfill = Some((backfill::parse(&args)?, line));
            Ok(())
        }
        "no-transaction" | "allow" | "lock-timeout" | "lock-retry" | "foreign-keys-off" | "release" => {
            Err(format!("`{body}`: wrong arguments for `{verb}`"))
        }
        "" => Err("an empty `ebbtide:` directive".into()),
        _ => Err(format!("unknown directive `{verb}`")),
    }
}

/// Parses `500ms`, `5s`, `2m` into milliseconds (at least 1).
pub fn parse_duration_ms(text: &str) -> Option<u32> {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = text.split_at(digits);
    let number: u64 = number.parse().ok()?;
    let factor = match unit.to_ascii_lowercase().as_str() {
        "ms" => 1,
        "s" => 1_000,
        "m" | "min" => 60_000,
        _ => return None,
    };
    let ms = number.checked_mul(factor)?;
    u32::try_from(ms).ok().filter(|&ms| ms > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lexer::tokenize;

    fn read(sql: &str) -> (Directives, Vec<BadDirective>) {
        parse(sql, &tokenize(sql).unwrap())
    }

    #[test]
    fn reads_the_leading_comment_block() {
        let (d, problems) = read(
            "-- Adds an index.\n-- ebbtide: no-transaction\n-- ebbtide: allow destructive unknown\n--ebbtide: lock-timeout 5s\n-- ebbtide: foreign-keys-off\nCREATE INDEX CONCURRENTLY i ON t (a);",
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert!(d.no_transaction);
        assert!(d.foreign_keys_off);
        assert_eq!(d.lock_timeout_ms, Some(5_000));
        assert_eq!(d.allows, vec![(Rule::Destructive, 3), (Rule::Unknown, 3)]);
    }

    #[test]
    fn mysql_hash_comments_hold_directives_too() {
        let sql = "# ebbtide: no-transaction\n# ebbtide: no-transactions\nCREATE INDEX i ON t (a);";
        let (d, problems) = parse(sql, &crate::lexer::tokenize_with(sql, crate::Dialect::Mysql).unwrap());
        assert!(d.no_transaction);
        assert_eq!(problems.len(), 1, "a misspelled one is an error, as after --");
    }

    #[test]
    fn rejects_unknown_directives_and_rules() {
        let (_, problems) = read("-- ebbtide: no-transactions\n-- ebbtide: allow drops\nSELECT 1;");
        assert_eq!(problems.len(), 2);
        assert!(problems[0].message.contains("unknown directive `no-transactions`"));
        assert_eq!(problems[1].line, 2);
        assert!(problems[1].message.contains("no rule named `drops`"));
        assert!(problems[1].help.contains("data-modification"));
    }

    #[test]
    fn rejects_directives_after_the_first_statement() {
        let (d, problems) = read("SELECT 1;\n-- ebbtide: no-transaction\n");
        assert!(!d.no_transaction);
        assert_eq!(problems[0].line, 2);
        assert!(problems[0].message.contains("after the first statement"));
    }

    #[test]
    fn what_looks_like_a_directive_and_is_not_one_is_an_error() {
        for (sql, fix) in [
            ("-- ebbtide : lock-timeout 5s\nSELECT 1;", "`-- ebbtide: lock-timeout 5s`"),
            ("-- ebbtide lock-timeout 5s\nSELECT 1;", "`-- ebbtide: lock-timeout 5s`"),
            ("/* ebbtide: no-transaction */\nSELECT 1;", "`-- ebbtide: no-transaction`"),
            ("/*\n * EBBTIDE: allow destructive\n */\nSELECT 1;", "`-- ebbtide: allow destructive`"),
            ("-- ebbtide=no-transaction\nSELECT 1;", "`-- ebbtide: no-transaction`"),
            ("SELECT 1;\n-- ebbtide no-transaction\n", "`-- ebbtide: no-transaction`"),
        ] {
            let (d, problems) = read(sql);
            assert_eq!(d, Directives::default(), "{sql}");
            assert_eq!(problems.len(), 1, "{sql}: {problems:?}");
            assert!(problems[0].message.contains("looks like an ebbtide directive but is not one"), "{sql}");
            assert!(problems[0].help.contains(fix), "{sql}: {}", problems[0].help);
        }
        assert_eq!(read("/*\n * ebbtide: allow destructive\n */").1[0].line, 2);
        // Prose about ebbtide is not a directive.
        for sql in ["-- ebbtide runs this in a transaction\nSELECT 1;", "-- ebbtide_migrations holds the versions\n"] {
            assert_eq!(read(sql), (Directives::default(), Vec::new()), "{sql}");
        }
    }

    #[test]
    fn verbs_rules_and_units_are_read_in_any_case() {
        let (d, problems) =
            read("-- EBBTIDE: No-Transaction\n-- Ebbtide: LOCK-TIMEOUT 5S\n-- ebbtide: Allow Destructive\nSELECT 1;");
        assert!(problems.is_empty(), "{problems:?}");
        assert!(d.no_transaction);
        assert_eq!(d.lock_timeout_ms, Some(5_000));
        assert_eq!(d.allows, vec![(Rule::Destructive, 3)]);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("250ms"), Some(250));
        assert_eq!(parse_duration_ms("2m"), Some(120_000));
        assert_eq!(parse_duration_ms("0s"), None);
        assert_eq!(parse_duration_ms("5"), None);
        assert_eq!(parse_duration_ms("9999999999s"), None);
    }
}

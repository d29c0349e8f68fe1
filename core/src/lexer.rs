//! A SQL lexer that knows exactly enough to find statement boundaries and
//! keywords: quotes, `$tag$` dollar quoting, comments, words and
//! punctuation. It never fails on odd input; the only errors are
//! unterminated quotes and comments, which the database would reject too.
//!
//! What is a quote or a comment depends on the engine: [`Dialect`] says
//! which rules apply ([`tokenize`] is the portable one).

use std::fmt;
use std::ops::Range;

/// The lexical rules a script is read with: which quotes, escapes and
/// comments exist. Engines that share them share a dialect.
#[non_exhaustive]
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// PostgreSQL and SQLite: `'...'` strings with doubled quotes (`E'...'`
    /// also with backslash escapes), `"..."` identifiers, `--` and `/* */`
    /// comments, `$tag$` dollar quoting.
    #[default]
    Portable,
    /// MySQL and MariaDB, in their default `sql_mode`: `'...'` and `"..."`
    /// are strings in which a backslash escapes the next character,
    /// `` `...` `` is an identifier, `#` and `-- ` (dashes, then a space or
    /// a control character) start line comments, and there is no dollar
    /// quoting. (`NO_BACKSLASH_ESCAPES` and `ANSI_QUOTES` are not supported.)
    Mysql,
}

impl Dialect {
    /// The engine names [`Dialect::parse`] accepts.
    pub const ENGINES: [&'static str; 5] = ["sqlite", "postgres", "postgresql", "mysql", "mariadb"];

    /// The dialect of an engine, by name (in any case): `sqlite`,
    /// `postgres` or `postgresql` read portable SQL, `mysql` and `mariadb`
    /// MySQL's.
    ///
    /// ```
    /// use ebbtide_core::Dialect;
    /// assert_eq!(Dialect::parse("mariadb"), Ok(Dialect::Mysql));
    /// assert!(Dialect::parse("oracle").unwrap_err().to_string().contains("sqlite, postgres"));
    /// ```
    pub fn parse(engine: &str) -> Result<Dialect, UnknownEngine> {
        let is = |name: &str| engine.eq_ignore_ascii_case(name);
        if is("sqlite") || is("postgres") || is("postgresql") {
            Ok(Dialect::Portable)
        } else if is("mysql") || is("mariadb") {
            Ok(Dialect::Mysql)
        } else {
            Err(UnknownEngine { name: engine.to_string() })
        }
    }

    /// A name for messages and keys: `portable`, `mysql`.
    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::Portable => "portable",
            Dialect::Mysql => "mysql",
        }
    }
}

/// An engine name [`Dialect::parse`] does not know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownEngine {
    /// The name as given.
    pub name: String,
}

impl fmt::Display for UnknownEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown engine `{}`: expected one of {}", self.name, Dialect::ENGINES.join(", "))
    }
}

impl std::error::Error for UnknownEngine {}

/// What a token is.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// Spaces, tabs, newlines.
    Whitespace,
    /// `-- ...` up to the end of the line.
    LineComment,
    /// `/* ... */`.
    BlockComment,
    /// An unquoted identifier or keyword (may contain `$` after the first
    /// character, as PostgreSQL allows).
    Word,
    /// `"identifier"` or `` `identifier` `` (in MySQL, only the latter).
    QuotedIdent,
    /// `'string'`, `E'string'`, `X'..'` (in MySQL, also `"string"`).
    String,
    /// `$$ ... $$` or `$tag$ ... $tag$`.
    DollarString,
    /// A numeric literal.
    Number,
    /// `;`
    Semicolon,
    /// Any other character (operators, parentheses, commas, ...).
    Punct,
    /// A psql meta-command: a line that starts with a backslash
    /// (`\restrict <key>`, `\connect db`), up to the end of the line. Not SQL:
    /// no engine accepts it.
    MetaCommand,
    /// MySQL's versioned comment `/*! ... */` (`/*!50100 ... */`, and
    /// MariaDB's `/*M! ... */`): a comment to other databases, but SQL that
    /// MySQL executes, so it is part of its statement (a statement may hold
    /// nothing else, as dumps write `/*!40101 SET ... */;`). Only the MySQL
    /// dialect produces it. The classifier does not read inside it yet: a
    /// statement of such comments alone is opaque to it, and one inside
    /// another statement is skipped.
    VersionedComment,
}

impl TokenKind {
    /// Whitespace, comments and psql meta-commands: they never change what
    /// a statement means, and never start or end one. (A meta-command inside
    /// a statement is refused when the migrations are loaded.)
    pub fn is_trivia(self) -> bool {
        matches!(
            self,
            TokenKind::Whitespace | TokenKind::LineComment | TokenKind::BlockComment | TokenKind::MetaCommand
        )
    }
}

/// One token: its kind and byte range in the source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    /// What the token is.
    pub kind: TokenKind,
    /// Where it is.
    pub range: Range<usize>,
}

/// A quote or comment that the end of the text left open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unterminated {
    /// What was left open: "string", "quoted identifier", "dollar-quoted string", "block comment".
    pub what: &'static str,
    /// The opening delimiter as written (`'`, `$body$`, `/*`, ...).
    pub opening: String,
    /// Byte offset where it opened.
    pub offset: usize,
}

/// Splits `sql` into tokens that cover it entirely, in order, with the
/// portable (PostgreSQL and SQLite) rules.
pub fn tokenize(sql: &str) -> Result<Vec<Token>, Unterminated> {
    tokenize_with(sql, Dialect::Portable)
}

/// Splits `sql` into tokens that cover it entirely, in order, with the
/// rules of `dialect`.
pub fn tokenize_with(sql: &str, dialect: Dialect) -> Result<Vec<Token>, Unterminated> {
    let mysql = dialect == Dialect::Mysql;
    let bytes = sql.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    // Whether only spaces and tabs stand between the last line break and `i`.
    let mut line_start = true;
    while i < bytes.len() {
        let start = i;
        let b = bytes[i];
        let kind = match b {
            b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' => {
                while i < bytes.len() && matches!(bytes[i], b' ' | b'\t' | b'\n' | b'\r' | b'\x0c') {
                    i += 1;
                }
                TokenKind::Whitespace
            }
            // MySQL: `--` is a comment only before a space, a control
            // character or the end (`1--1` is 1 - -1); `#` is one too.
            b'-' if bytes.get(i + 1) == Some(&b'-') && (!mysql || bytes.get(i + 2).is_none_or(|&c| c <= b' ')) => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                TokenKind::LineComment
            }
            b'#' if mysql => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                TokenKind::LineComment
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                match find(bytes, i + 2, b"*/") {
                    Some(end) => i = end + 2,
                    None => return Err(unterminated("block comment", "/*", start)),
                }
                let versioned =
                    mysql && (bytes[start + 2..].starts_with(b"!") || bytes[start + 2..].starts_with(b"M!"));
                if versioned { TokenKind::VersionedComment } else { TokenKind::BlockComment }
            }
            b'\'' => {
                i = quoted(bytes, i + 1, b'\'', mysql).ok_or_else(|| unterminated("string", "'", start))?;
                TokenKind::String
            }
            // MySQL: a string, as `'...'` (unless ANSI_QUOTES is set).
            b'"' if mysql => {
                i = quoted(bytes, i + 1, b'"', true).ok_or_else(|| unterminated("string", "\"", start))?;
                TokenKind::String
            }
            b'"' | b'`' => {
                i = quoted(bytes, i + 1, b, false)
                    .ok_or_else(|| unterminated("quoted identifier", &(b as char).to_string(), start))?;
                TokenKind::QuotedIdent
            }
            // MySQL has no dollar quoting: `$$` is two characters.
            b'$' => match dollar_tag(bytes, i).filter(|_| !mysql) {
                Some(tag_end) => {
                    let tag = &bytes[i..tag_end];
                    match find(bytes, tag_end, tag) {
                        Some(end) => i = end + tag.len(),
                        None => {
                            return Err(unterminated("dollar-quoted string", &sql[start..tag_end], start));
                        }
                    }
                    TokenKind::DollarString
                }
                None => {
                    // `$1` parameters and a lone `$`.
                    i += 1;
                    while i < bytes.len() && bytes[i].is_ascii_digit() {
                        i += 1;
                    }
                    TokenKind::Punct
                }
            },
            b'0'..=b'9' => {
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'.' || bytes[i] == b'_') {
                    i += 1;
                }
                TokenKind::Number
            }
            b';' => {
                i += 1;
                TokenKind::Semicolon
            }
            b'\\' if line_start => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                TokenKind::MetaCommand
            }
            _ if is_word_start(b) => {
                // E'...' (escape string), B'...', X'...', N'...', U&'...';
                // MySQL has no E'...', and escapes in every string.
                if matches!(b, b'e' | b'E' | b'b' | b'B' | b'x' | b'X' | b'n' | b'N')
                    && bytes.get(i + 1) == Some(&b'\'')
                    && !(mysql && matches!(b, b'e' | b'E'))
                {
                    let escapes = mysql || matches!(b, b'e' | b'E');
                    i = quoted(bytes, i + 2, b'\'', escapes)
                        .ok_or_else(|| unterminated("string", &sql[start..start + 2], start))?;
                    TokenKind::String
                } else {
                    i += utf8_len(b);
                    while i < bytes.len() && is_word_continue(bytes[i]) {
                        i += utf8_len(bytes[i]);
                    }
                    TokenKind::Word
                }
            }
            _ => {
                i += utf8_len(b);
                TokenKind::Punct
            }
        };
        let end = i.min(bytes.len());
        line_start = match kind {
            TokenKind::Whitespace => match bytes[start..end].iter().rposition(|&b| b == b'\n') {
                Some(newline) => bytes[start + newline + 1..end].iter().all(|&b| b == b' ' || b == b'\t'),
                None => line_start && bytes[start..end].iter().all(|&b| b == b' ' || b == b'\t'),
            },
            _ => false,
        };
        tokens.push(Token { kind, range: start..end });
        i = end;
    }
    Ok(tokens)
}

fn unterminated(what: &'static str, opening: &str, offset: usize) -> Unterminated {
    Unterminated { what, opening: opening.to_string(), offset }
}

fn is_word_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

fn is_word_continue(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

/// Length of the UTF-8 sequence starting with `b` (1 for a stray
/// continuation byte, so the lexer always advances).
fn utf8_len(b: u8) -> usize {
    match b {
        0xf0..=0xff => 4,
        0xe0..=0xef => 3,
        0xc0..=0xdf => 2,
        _ => 1,
    }
}

/// Index of the first occurrence of `needle` at or after `from`.
fn find(haystack: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    if from > haystack.len() {
        return None;
    }
    haystack[from..].windows(needle.len()).position(|w| w == needle).map(|p| p + from)
}

/// End (exclusive) of a quoted run whose opening quote precedes `from`; a
/// doubled quote is an escaped quote, and with `escapes` so is `\'`.
fn quoted(bytes: &[u8], mut i: usize, quote: u8, escapes: bool) -> Option<usize> {
    while i < bytes.len() {
        let b = bytes[i];
        if escapes && b == b'\\' {
            i += 2;
            continue;
        }
        if b == quote {
            if bytes.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            return Some(i + 1);
        }
        i += 1;
    }
    None
}

/// If a dollar-quote opening tag (`$$` or `$tag$`) starts at `i`, the index
/// just past it.
fn dollar_tag(bytes: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    if j < bytes.len() && (bytes[j].is_ascii_alphabetic() || bytes[j] == b'_' || bytes[j] >= 0x80) {
        while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_' || bytes[j] >= 0x80) {
            j += 1;
        }
    }
    (bytes.get(j) == Some(&b'$')).then_some(j + 1)
}

/// The 1-based line of byte offset `offset` in `text`.
pub fn line_of(text: &str, offset: usize) -> u32 {
    let offset = offset.min(text.len());
    1 + text.as_bytes()[..offset].iter().filter(|&&b| b == b'\n').count() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(sql: &str) -> Vec<(TokenKind, &str)> {
        tokenize(sql).unwrap().into_iter().filter(|t| !t.kind.is_trivia()).map(|t| (t.kind, &sql[t.range])).collect()
    }

    #[test]
    fn semicolons_inside_quotes_and_comments_are_not_tokens() {
        let sql = "SELECT 'a;b', \"c;d\" -- e;f\n/* g;h */;";
        let semis = kinds(sql).into_iter().filter(|(k, _)| *k == TokenKind::Semicolon).count();
        assert_eq!(semis, 1);
    }

    #[test]
    fn doubled_quotes_stay_inside_the_string() {
        assert_eq!(kinds("'it''s'"), vec![(TokenKind::String, "'it''s'")]);
    }

    #[test]
    fn escape_strings_accept_backslash_quotes() {
        assert_eq!(kinds(r"E'it\'s'"), vec![(TokenKind::String, r"E'it\'s'")]);
    }

    #[test]
    fn dollar_quotes_with_tags_nest_other_tags() {
        let sql = "$outer$ a $inner$ ; $inner$ b $outer$";
        assert_eq!(kinds(sql), vec![(TokenKind::DollarString, sql)]);
    }

    #[test]
    fn positional_parameters_are_not_dollar_quotes() {
        assert_eq!(kinds("$1 + $2"), vec![(TokenKind::Punct, "$1"), (TokenKind::Punct, "+"), (TokenKind::Punct, "$2")]);
    }

    #[test]
    fn dollar_inside_a_word_is_part_of_the_word() {
        assert_eq!(kinds("a$b$"), vec![(TokenKind::Word, "a$b$")]);
    }

    #[test]
    fn unterminated_constructs_report_where_they_open() {
        let err = tokenize("SELECT 1;\nSELECT $fn$ body").unwrap_err();
        assert_eq!(err.what, "dollar-quoted string");
        assert_eq!(err.opening, "$fn$");
        assert_eq!(line_of("SELECT 1;\nSELECT $fn$ body", err.offset), 2);
        assert_eq!(tokenize("/* open").unwrap_err().what, "block comment");
        assert_eq!(tokenize("'open").unwrap_err().what, "string");
        assert_eq!(tokenize("\"open").unwrap_err().what, "quoted identifier");
    }

    #[test]
    fn a_backslash_line_is_a_meta_command_and_a_backslash_elsewhere_is_not() {
        let sql = "\\restrict abc\nSELECT 1;\n  \\unrestrict abc\nSELECT E'\\n' \\ 2;";
        let tokens = tokenize(sql).unwrap();
        let metas: Vec<&str> =
            tokens.iter().filter(|t| t.kind == TokenKind::MetaCommand).map(|t| &sql[t.range.clone()]).collect();
        assert_eq!(metas, ["\\restrict abc", "\\unrestrict abc"]);
    }

    fn mysql(sql: &str) -> Vec<(TokenKind, &str)> {
        tokenize_with(sql, Dialect::Mysql)
            .unwrap()
            .into_iter()
            .filter(|t| !t.kind.is_trivia())
            .map(|t| (t.kind, &sql[t.range]))
            .collect()
    }

    fn semicolons(tokens: &[(TokenKind, &str)]) -> usize {
        tokens.iter().filter(|(k, _)| *k == TokenKind::Semicolon).count()
    }

    #[test]
    fn engines_name_their_dialect() {
        for (name, dialect) in [
            ("sqlite", Dialect::Portable),
            ("postgres", Dialect::Portable),
            ("PostgreSQL", Dialect::Portable),
            ("mysql", Dialect::Mysql),
            ("mariadb", Dialect::Mysql),
        ] {
            assert_eq!(Dialect::parse(name), Ok(dialect), "{name}");
        }
        let err = Dialect::parse("oracle").unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown engine `oracle`: expected one of sqlite, postgres, postgresql, mysql, mariadb"
        );
        assert_eq!(Dialect::default(), Dialect::Portable);
    }

    #[test]
    fn mysql_backslash_escapes_a_quote_inside_a_string() {
        assert_eq!(mysql(r"'it\'s; x'"), vec![(TokenKind::String, r"'it\'s; x'")]);
        assert_eq!(mysql(r"'a\\'"), vec![(TokenKind::String, r"'a\\'")]);
        assert_eq!(mysql("'it''s'"), vec![(TokenKind::String, "'it''s'")]);
        assert_eq!(mysql(r"N'it\'s'"), vec![(TokenKind::String, r"N'it\'s'")]);
        // Portable SQL reads the same text as a string, `s` and an open string.
        assert_eq!(tokenize(r"'it\'s; x'").unwrap_err().what, "string");
    }

    #[test]
    fn mysql_double_quotes_make_a_string_with_escapes() {
        assert_eq!(mysql(r#""a\"b; c""#), vec![(TokenKind::String, r#""a\"b; c""#)]);
        assert_eq!(mysql(r#""a""b""#), vec![(TokenKind::String, r#""a""b""#)]);
        assert_eq!(kinds(r#""a""b""#), vec![(TokenKind::QuotedIdent, r#""a""b""#)]);
        let err = tokenize_with("SELECT \"open", Dialect::Mysql).unwrap_err();
        assert_eq!((err.what, err.opening.as_str(), err.offset), ("string", "\"", 7));
    }

    #[test]
    fn mysql_hash_starts_a_line_comment() {
        let sql = "SELECT 1 # a; b\n;";
        let tokens = tokenize_with(sql, Dialect::Mysql).unwrap();
        let comments: Vec<&str> =
            tokens.iter().filter(|t| t.kind == TokenKind::LineComment).map(|t| &sql[t.range.clone()]).collect();
        assert_eq!(comments, ["# a; b"]);
        assert_eq!(semicolons(&mysql(sql)), 1);
        // In PostgreSQL `#` is an operator.
        assert_eq!(semicolons(&kinds(sql)), 2);
    }

    #[test]
    fn mysql_dashes_are_a_comment_only_before_a_space_or_the_end() {
        assert_eq!(
            mysql("SELECT 1--x;"),
            vec![
                (TokenKind::Word, "SELECT"),
                (TokenKind::Number, "1"),
                (TokenKind::Punct, "-"),
                (TokenKind::Punct, "-"),
                (TokenKind::Word, "x"),
                (TokenKind::Semicolon, ";"),
            ]
        );
        assert_eq!(semicolons(&kinds("SELECT 1--x;")), 0, "portable: a comment");
        for sql in ["SELECT 1 -- x;", "SELECT 1 --\tx;", "SELECT 1 --\n", "SELECT 1 --"] {
            assert_eq!(mysql(sql), vec![(TokenKind::Word, "SELECT"), (TokenKind::Number, "1")], "{sql:?}");
        }
    }

    #[test]
    fn mysql_backticks_quote_identifiers_with_doubled_backticks() {
        assert_eq!(mysql("`my;col`"), vec![(TokenKind::QuotedIdent, "`my;col`")]);
        assert_eq!(mysql("`a``b;`"), vec![(TokenKind::QuotedIdent, "`a``b;`")]);
        // A backslash does not escape inside backticks.
        assert_eq!(mysql(r"`a\`"), vec![(TokenKind::QuotedIdent, r"`a\`")]);
        assert_eq!(tokenize_with("`open", Dialect::Mysql).unwrap_err().what, "quoted identifier");
    }

    #[test]
    fn mysql_has_no_dollar_quotes() {
        assert_eq!(semicolons(&mysql("SELECT $$ a; b $$;")), 2);
        assert_eq!(semicolons(&kinds("SELECT $$ a; b $$;")), 1);
    }

    #[test]
    fn mysql_has_no_escape_string_prefix() {
        assert_eq!(mysql("E'a'"), vec![(TokenKind::Word, "E"), (TokenKind::String, "'a'")]);
        assert_eq!(mysql("X'0A'"), vec![(TokenKind::String, "X'0A'")]);
    }

    #[test]
    fn mysql_versioned_comments_are_kept_as_what_mysql_executes() {
        let sql = "/*!40101 SET NAMES utf8; */ /*M!100100 SET x = 1 */ /* plain; */ /*+ hint */";
        let tokens = tokenize_with(sql, Dialect::Mysql).unwrap();
        let versioned: Vec<&str> =
            tokens.iter().filter(|t| t.kind == TokenKind::VersionedComment).map(|t| &sql[t.range.clone()]).collect();
        assert_eq!(versioned, ["/*!40101 SET NAMES utf8; */", "/*M!100100 SET x = 1 */"]);
        assert!(!TokenKind::VersionedComment.is_trivia());
        assert!(tokenize(sql).unwrap().iter().all(|t| t.kind != TokenKind::VersionedComment));
    }

    #[test]
    fn multibyte_text_is_kept_whole() {
        let sql = "INSERT INTO t VALUES ('é'); -- ü\nSELECT ñame;";
        let tokens = tokenize(sql).unwrap();
        let joined: String = tokens.iter().map(|t| &sql[t.range.clone()]).collect();
        assert_eq!(joined, sql);
    }
}

//! A SQL lexer that knows exactly enough to find statement boundaries and
//! keywords: quotes, `$tag$` dollar quoting, comments, words and
//! punctuation. It never fails on odd input; the only errors are
//! unterminated quotes and comments, which the database would reject too.

use std::ops::Range;

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
    /// `"identifier"` or `` `identifier` ``.
    QuotedIdent,
    /// `'string'`, `E'string'`, `X'..'`.
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

/// Splits `sql` into tokens that cover it entirely, in order.
pub fn tokenize(sql: &str) -> Result<Vec<Token>, Unterminated> {
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
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
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
                TokenKind::BlockComment
            }
            b'\'' => {
                i = quoted(bytes, i + 1, b'\'', false).ok_or_else(|| unterminated("string", "'", start))?;
                TokenKind::String
            }
            b'"' | b'`' => {
                i = quoted(bytes, i + 1, b, false)
                    .ok_or_else(|| unterminated("quoted identifier", &(b as char).to_string(), start))?;
                TokenKind::QuotedIdent
            }
            b'$' => match dollar_tag(bytes, i) {
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
                // E'...' (escape string), B'...', X'...', N'...', U&'...'.
                if matches!(b, b'e' | b'E' | b'b' | b'B' | b'x' | b'X' | b'n' | b'N')
                    && bytes.get(i + 1) == Some(&b'\'')
                {
                    let escapes = matches!(b, b'e' | b'E');
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

    #[test]
    fn multibyte_text_is_kept_whole() {
        let sql = "INSERT INTO t VALUES ('é'); -- ü\nSELECT ñame;";
        let tokens = tokenize(sql).unwrap();
        let joined: String = tokens.iter().map(|t| &sql[t.range.clone()]).collect();
        assert_eq!(joined, sql);
    }
}

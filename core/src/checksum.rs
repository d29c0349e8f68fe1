//! Checksums: what tells an applied migration from an edited one.
//!
//! A migration's checksum is the SHA-256 of what it runs
//! ([`of_statements`]): its tokens, each exactly as written, without the
//! whitespace and comments between them, and its directives as read. An
//! edit of a comment, of indentation or of line endings keeps it; an edit
//! of one token, or of a directive, changes it.
//!
//! Version tables written before ebbtide checksummed statements hold the
//! SHA-256 of the file's whole text ([`of_text`]); the runtime accepts that
//! one too, and records the statement checksum in its place.

use sha2::{Digest, Sha256};

use crate::directive::Directives;
use crate::lexer::{self, Dialect, Token, TokenKind, Unterminated};

/// The checksum of a script's statements and directives, as 64 lowercase
/// hex digits: [`of_statements`] of its tokens in `dialect`.
pub fn of_script(sql: &str, dialect: Dialect) -> Result<String, Unterminated> {
    let tokens = lexer::tokenize_with(sql, dialect)?;
    let (directives, _) = crate::directive::parse(sql, &tokens);
    Ok(of_statements(sql, &tokens, &directives))
}

/// The checksum of what a script runs, as 64 lowercase hex digits: every
/// token of `sql` but whitespace and comments, each exactly as written
/// (the case of keywords and the contents of strings included, CRLF line
/// endings inside them read as LF), and the script's `directives`.
///
/// Tokens are hashed one by one, each with its length, so `a b` is not
/// `ab`. Operator characters written next to each other are one token
/// (`<>` is not `< >`, `@-` is not `@ -`), as the engines read them.
/// Optimizer hints (`/*+ ... */`) are kept: they change how a statement
/// runs. psql meta-commands, which ebbtide never sends, are left out.
pub fn of_statements(sql: &str, tokens: &[Token], directives: &Directives) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"ebbtide statements\n");
    hash_directives(&mut hasher, directives);
    let mut unit = String::new();
    let mut unit_end = usize::MAX;
    for token in tokens {
        let text = &sql[token.range.clone()];
        let kept = !token.kind.is_trivia() || (token.kind == TokenKind::BlockComment && text.starts_with("/*+"));
        if !kept {
            continue;
        }
        let operator = token.kind == TokenKind::Punct && text.bytes().all(is_operator);
        let joins = operator && unit_end == token.range.start && unit.bytes().all(is_operator) && !unit.is_empty();
        if !joins && !unit.is_empty() {
            hash_token(&mut hasher, &unit);
            unit.clear();
        }
        unit.push_str(text);
        unit_end = token.range.end;
    }
    if !unit.is_empty() {
        hash_token(&mut hasher, &unit);
    }
    hex(&hasher.finalize())
}

/// What a recorded checksum says of a migration (see
/// [`Migration::judge_checksum`](crate::Migration::judge_checksum)).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Recorded {
    /// The statement checksum: the migration runs what it ran.
    Current,
    /// The checksum of the whole file, as ebbtide recorded it before it
    /// checksummed statements, and the file is unchanged: the same
    /// migration, whose record is due for the statement checksum.
    Text,
    /// Neither: what the migration runs was edited after it was recorded.
    Edited,
}

fn hash_directives(hasher: &mut Sha256, d: &Directives) {
    let mut lines = Vec::new();
    if d.no_transaction {
        lines.push("no-transaction".to_string());
    }
    if let Some(ms) = d.lock_timeout_ms {
        lines.push(format!("lock-timeout {ms}ms"));
    }
    if d.foreign_keys_off {
        lines.push("foreign-keys-off".to_string());
    }
    if let Some(release) = &d.release {
        lines.push(format!("release {release}"));
    }
    if let Some((b, _)) = &d.backfill {
        lines.push(format!("backfill {}.{} {}", b.table, b.key, b.batch_size));
    }
    let mut allows: Vec<&str> = d.allows.iter().map(|(rule, _)| rule.as_str()).collect();
    allows.sort_unstable();
    allows.dedup();
    lines.extend(allows.into_iter().map(|rule| format!("allow {rule}")));
    for line in lines {
        hash_token(hasher, &format!("directive {line}"));
    }
    hasher.update(b"statements\n");
}

/// A token's length, then its text with CRLF read as LF.
fn hash_token(hasher: &mut Sha256, text: &str) {
    let normal: std::borrow::Cow<'_, str> =
        if text.contains("\r\n") { text.replace("\r\n", "\n").into() } else { text.into() };
    hasher.update((normal.len() as u64).to_le_bytes());
    hasher.update(normal.as_bytes());
}

/// The characters PostgreSQL and MySQL read as one operator when written
/// together.
fn is_operator(b: u8) -> bool {
    matches!(
        b,
        b'+' | b'-'
            | b'*'
            | b'/'
            | b'<'
            | b'>'
            | b'='
            | b'~'
            | b'!'
            | b'@'
            | b'#'
            | b'%'
            | b'^'
            | b'&'
            | b'|'
            | b'`'
            | b'?'
    )
}

/// The checksum of `text`, the whole file with line endings normalised,
/// as 64 lowercase hex digits: what version tables written before ebbtide
/// checksummed statements hold.
pub fn of_text(text: &str) -> String {
    let mut hasher = Sha256::new();
    let mut rest = text;
    while let Some(i) = rest.find("\r\n") {
        hasher.update(&rest.as_bytes()[..i]);
        hasher.update(b"\n");
        rest = &rest[i + 2..];
    }
    hasher.update(rest.as_bytes());
    hex(&hasher.finalize())
}

/// What identifies an applied migration, in 16 hex digits (64 bits): its
/// branch, name and checksum together. The startup check compares these
/// alone, so that it reads two short columns per record.
pub fn fingerprint(branch: &str, name: &str, checksum: &str) -> String {
    let mut hasher = Sha256::new();
    for part in [branch, name, checksum] {
        hasher.update(part.as_bytes());
        hasher.update(b"\n");
    }
    hex(&hasher.finalize()[..8])
}

/// `bytes` in lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut hex = vec![0u8; bytes.len() * 2];
    for (pair, byte) in hex.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(byte >> 4)];
        pair[1] = DIGITS[usize::from(byte & 15)];
    }
    String::from_utf8(hex).expect("hex digits are ASCII")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum(sql: &str) -> String {
        of_script(sql, Dialect::Portable).unwrap()
    }

    #[test]
    fn comments_whitespace_and_line_endings_keep_the_checksum() {
        let original = "-- Users sign in by email.\nCREATE TABLE users (id int PRIMARY KEY, email text);\n";
        for edited in [
            "-- Users sign in by e-mail (see #42).\nCREATE TABLE users (id int PRIMARY KEY, email text);\n",
            "CREATE TABLE users (\n    id int PRIMARY KEY, -- the key\n    email text /* unique later */\n);",
            "CREATE TABLE users (id int PRIMARY KEY, email text);\r\n\r\n\r\n",
            "\tCREATE  TABLE users(id int PRIMARY KEY,email text) ;",
        ] {
            assert_eq!(sum(original), sum(edited), "{edited:?}");
        }
    }

    #[test]
    fn an_edit_of_one_token_changes_it() {
        let original = "CREATE TABLE users (id int PRIMARY KEY, email text DEFAULT 'a b');";
        for edited in [
            "CREATE TABLE users (id int PRIMARY KEY, email text DEFAULT 'a  b');",
            "CREATE TABLE users (id bigint PRIMARY KEY, email text DEFAULT 'a b');",
            "create TABLE users (id int PRIMARY KEY, email text DEFAULT 'a b');",
            "CREATE TABLE users (id int PRIMARY KEY, email text DEFAULT 'a b')",
            "CREATE TABLE users (id int PRIMARY KEY, emailtext DEFAULT 'a b');",
            "CREATE TABLE \"users\" (id int PRIMARY KEY, email text DEFAULT 'a b');",
        ] {
            assert_ne!(sum(original), sum(edited), "{edited:?}");
        }
        // Operators written together are one token.
        assert_ne!(sum("SELECT 1 WHERE a <> b;"), sum("SELECT 1 WHERE a < > b;"));
        assert_eq!(sum("SELECT 1 WHERE a<>b;"), sum("SELECT 1 WHERE a <> b;"));
        assert_ne!(sum("SELECT 1 - -1;"), sum("SELECT 1 --1;"));
    }

    #[test]
    fn directives_are_part_of_it() {
        let sql = "CREATE INDEX CONCURRENTLY users_email ON users (email);\n";
        let plain = sum(sql);
        assert_ne!(plain, sum(&format!("-- ebbtide: no-transaction\n{sql}")));
        assert_ne!(plain, sum(&format!("-- ebbtide: lock-timeout 5s\n{sql}")));
        assert_ne!(
            sum(&format!("-- ebbtide: lock-timeout 5s\n{sql}")),
            sum(&format!("-- ebbtide: lock-timeout 6s\n{sql}"))
        );
        assert_ne!(plain, sum(&format!("-- ebbtide: release 2.0\n{sql}")));
        assert_ne!(plain, sum(&format!("-- ebbtide: allow opaque\n{sql}")));
        // Read, not written: the same directives in other words are the same.
        assert_eq!(
            sum(&format!(
                "-- Build it without a lock.\n-- ebbtide: no-transaction\n-- ebbtide: allow opaque unknown\n{sql}"
            )),
            sum(&format!("-- ebbtide: allow unknown\n-- ebbtide:   NO-TRANSACTION\n-- ebbtide: allow opaque\n{sql}"))
        );
    }

    #[test]
    fn optimizer_hints_are_kept_and_psql_meta_commands_left_out() {
        assert_ne!(sum("SELECT /*+ SeqScan(a) */ * FROM a;"), sum("SELECT * FROM a;"));
        assert_eq!(
            sum("\\restrict abc\nSELECT 1;\n\\unrestrict abc\n"),
            sum("\\restrict xyz\nSELECT 1;\n\\unrestrict xyz\n")
        );
    }

    #[test]
    fn the_dialect_decides_what_a_comment_is() {
        // `#` starts a comment in MySQL only.
        let a = "SELECT 1; # one\n";
        let b = "SELECT 1; # two\n";
        assert_eq!(of_script(a, Dialect::Mysql).unwrap(), of_script(b, Dialect::Mysql).unwrap());
        assert_ne!(sum(a), sum(b));
    }

    #[test]
    fn the_text_checksum_normalises_crlf_only() {
        assert_eq!(
            of_text("CREATE TABLE a (x int);\r\nSELECT 1;\r\n"),
            of_text("CREATE TABLE a (x int);\nSELECT 1;\n")
        );
        assert_ne!(of_text("SELECT 1;\n"), of_text("SELECT 1;\n\n"));
        assert_eq!(of_text(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }

    #[test]
    fn statement_and_text_checksums_differ() {
        assert_ne!(sum("SELECT 1;"), of_text("SELECT 1;"));
    }

    #[test]
    fn fingerprints_change_with_branch_name_or_checksum() {
        let f = fingerprint("expand", "add_email", &sum("SELECT 1;"));
        assert_eq!(f.len(), 16);
        assert_ne!(f, fingerprint("contract", "add_email", &sum("SELECT 1;")));
        assert_ne!(f, fingerprint("expand", "add_mail", &sum("SELECT 1;")));
        assert_ne!(f, fingerprint("expand", "add_email", &sum("SELECT 2;")));
        assert_eq!(f, fingerprint("expand", "add_email", &sum("SELECT 1;\r\n")));
    }
}

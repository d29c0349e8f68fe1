//! Splitting a script into statements.
//!
//! A statement ends at a `;` outside quotes, comments and dollar quotes,
//! except inside the `BEGIN ... END` body of a SQLite trigger or of a
//! PostgreSQL `BEGIN ATOMIC` function, where `;` separates the body's own
//! statements.

use std::ops::Range;

use crate::lexer::{self, Token, TokenKind, Unterminated};

/// A run of the script: a statement, or text between statements that holds
/// only whitespace and comments. The pieces of a script, concatenated, give
/// the script back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Piece {
    /// Byte range in the script.
    pub range: Range<usize>,
    /// For a statement, the range from its first significant token to its
    /// end (the `;` included); `None` for whitespace and comments.
    pub statement: Option<Range<usize>>,
}

/// Splits `sql` into pieces that cover it entirely.
pub fn split(sql: &str) -> Result<Vec<Piece>, Unterminated> {
    let tokens = lexer::tokenize(sql)?;
    Ok(split_tokens(sql, &tokens))
}

/// Splits already lexed tokens into pieces.
pub fn split_tokens(sql: &str, tokens: &[Token]) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut piece_start = 0;
    let mut first_significant: Option<usize> = None;
    let mut last_significant_end = 0;
    let mut words_seen: Vec<String> = Vec::new();
    let mut block_depth = 0usize;

    for token in tokens {
        if token.kind.is_trivia() {
            continue;
        }
        if token.kind == TokenKind::Semicolon && block_depth == 0 {
            let start = first_significant.unwrap_or(token.range.start);
            pieces.push(Piece {
                range: piece_start..token.range.end,
                statement: first_significant.map(|_| start..token.range.end),
            });
            piece_start = token.range.end;
            first_significant = None;
            words_seen.clear();
            continue;
        }
        if first_significant.is_none() {
            first_significant = Some(token.range.start);
        }
        last_significant_end = token.range.end;
        if token.kind == TokenKind::Word {
            let word = sql[token.range.clone()].to_ascii_uppercase();
            if words_seen.len() < 6 {
                words_seen.push(word.clone());
            }
            if opens_block_body(&words_seen) {
                match word.as_str() {
                    "BEGIN" => block_depth += 1,
                    "CASE" if block_depth > 0 => block_depth += 1,
                    "END" if block_depth > 0 => block_depth -= 1,
                    _ => {}
                }
            }
        }
    }
    if piece_start < sql.len() {
        pieces.push(Piece {
            range: piece_start..sql.len(),
            statement: first_significant.map(|start| start..last_significant_end),
        });
    }
    pieces
}

/// Whether a statement starting with `words` has a `BEGIN ... END` body in
/// which semicolons do not end the statement: `CREATE [TEMP] TRIGGER` (SQLite)
/// and `CREATE [OR REPLACE] FUNCTION|PROCEDURE ... BEGIN ATOMIC` (PostgreSQL).
fn opens_block_body(words: &[String]) -> bool {
    if words.first().map(String::as_str) != Some("CREATE") {
        return false;
    }
    words.iter().skip(1).any(|w| matches!(w.as_str(), "TRIGGER" | "FUNCTION" | "PROCEDURE"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statements(sql: &str) -> Vec<&str> {
        split(sql).unwrap().into_iter().filter_map(|p| p.statement.map(|r| &sql[r])).collect()
    }

    #[test]
    fn splits_on_semicolons_outside_quotes() {
        assert_eq!(
            statements("CREATE TABLE a (x text DEFAULT ';');\n-- c;\nINSERT INTO a VALUES ('b;');\n"),
            vec!["CREATE TABLE a (x text DEFAULT ';');", "INSERT INTO a VALUES ('b;');"]
        );
    }

    #[test]
    fn keeps_a_final_statement_without_semicolon() {
        assert_eq!(statements("SELECT 1;\nSELECT 2\n\n"), vec!["SELECT 1;", "SELECT 2"]);
    }

    #[test]
    fn keeps_dollar_quoted_function_bodies_whole() {
        let sql = "CREATE FUNCTION f() RETURNS trigger AS $$\nBEGIN\n  NEW.a := 1;\n  RETURN NEW;\nEND;\n$$ LANGUAGE plpgsql;\nSELECT 1;";
        let s = statements(sql);
        assert_eq!(s.len(), 2);
        assert!(s[0].ends_with("LANGUAGE plpgsql;"));
    }

    #[test]
    fn keeps_sqlite_trigger_bodies_whole() {
        let sql = "CREATE TRIGGER t AFTER INSERT ON a BEGIN\n  UPDATE a SET x = CASE WHEN 1 THEN 2 END;\n  INSERT INTO b VALUES (1);\nEND;\nCREATE INDEX i ON a (x);";
        let s = statements(sql);
        assert_eq!(s.len(), 2, "{s:#?}");
        assert!(s[0].ends_with("END;"));
        assert_eq!(s[1], "CREATE INDEX i ON a (x);");
    }

    #[test]
    fn keeps_begin_atomic_bodies_whole() {
        let sql = "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END;\nSELECT 3;";
        assert_eq!(statements(sql).len(), 2);
    }

    #[test]
    fn a_transaction_begin_is_a_statement_of_its_own() {
        assert_eq!(statements("BEGIN;\nSELECT 1;\nCOMMIT;"), vec!["BEGIN;", "SELECT 1;", "COMMIT;"]);
    }

    #[test]
    fn comment_only_text_has_no_statement() {
        assert!(statements("-- nothing\n/* here */\n").is_empty());
        assert!(statements(";;").is_empty());
    }

    #[test]
    fn pieces_cover_the_script() {
        let sql = "  -- head\nSELECT 1 ;  \nSELECT 2 -- tail";
        let joined: String = split(sql).unwrap().iter().map(|p| &sql[p.range.clone()]).collect();
        assert_eq!(joined, sql);
    }
}

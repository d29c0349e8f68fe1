//! Splitting a script into statements.
//!
//! A statement ends at a `;` outside quotes, comments and dollar quotes,
//! except inside the `BEGIN ... END` body of a SQLite trigger or of a
//! PostgreSQL `BEGIN ATOMIC` function, where `;` separates the body's own
//! statements. What is a quote or a comment is the lexer's [`Dialect`].

use std::ops::Range;

use crate::lexer::{self, Dialect, Token, TokenKind, Unterminated};

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

/// Splits `sql` into pieces that cover it entirely, read as portable
/// (PostgreSQL and SQLite) SQL.
pub fn split(sql: &str) -> Result<Vec<Piece>, Unterminated> {
    split_with(sql, Dialect::Portable)
}

/// Splits `sql`, read in `dialect`, into pieces that cover it entirely.
pub fn split_with(sql: &str, dialect: Dialect) -> Result<Vec<Piece>, Unterminated> {
    let tokens = lexer::tokenize_with(sql, dialect)?;
    Ok(split_tokens(sql, &tokens))
}

/// Splits already lexed tokens into pieces.
pub fn split_tokens(sql: &str, tokens: &[Token]) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut piece_start = 0;
    let mut first_significant: Option<usize> = None;
    let mut last_significant_end = 0;
    let mut body = Body::default();
    let mut prev: Option<&Token> = None;

    for token in tokens {
        if token.kind.is_trivia() {
            continue;
        }
        if token.kind == TokenKind::VersionedComment {
            // SQL that MySQL runs: part of the statement (which may hold
            // nothing else), but no keyword that moves a statement's end.
            first_significant.get_or_insert(token.range.start);
            last_significant_end = token.range.end;
            continue;
        }
        match body.step(sql, token, prev) {
            Next::Continue => {}
            Next::End => {
                let start = first_significant.unwrap_or(token.range.start);
                pieces.push(Piece {
                    range: piece_start..token.range.end,
                    statement: first_significant.map(|_| start..token.range.end),
                });
                piece_start = token.range.end;
                first_significant = None;
                body = Body::default();
                prev = None;
                continue;
            }
            Next::EndBefore(end) => {
                // A body that holds what no body can: it was not a body. The
                // statement ends at the body's last `;`, and this token starts
                // the next one.
                let start = first_significant.unwrap_or(piece_start);
                pieces.push(Piece { range: piece_start..end, statement: Some(start..end) });
                piece_start = end;
                first_significant = None;
                body = Body::default();
                body.step(sql, token, None);
            }
        }
        if first_significant.is_none() {
            first_significant = Some(token.range.start);
        }
        last_significant_end = token.range.end;
        prev = Some(token);
    }
    if piece_start < sql.len() {
        pieces.push(Piece {
            range: piece_start..sql.len(),
            statement: first_significant.map(|start| start..last_significant_end),
        });
    }
    pieces
}

/// What the splitter does after a token.
enum Next {
    /// The statement goes on.
    Continue,
    /// The token (a `;`) ends the statement.
    End,
    /// The statement ended at this byte offset, before the token.
    EndBefore(usize),
}

/// Statements that have a `BEGIN ... END` body, in which `;` separates the
/// body's own statements: a SQLite `CREATE TRIGGER`, and a PostgreSQL
/// `CREATE FUNCTION|PROCEDURE ... BEGIN ATOMIC`.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
enum Kind {
    #[default]
    Plain,
    Trigger,
    Routine,
}

/// The state of one statement, token by token. Only keywords decide where
/// a body starts and ends: a word next to a `.`, after `AS`, inside
/// parentheses before the body, or naming the trigger's table is an
/// identifier, however it is spelled.
#[derive(Default)]
struct Body {
    /// Words seen, up to the object kind (`CREATE [OR REPLACE] [TEMP] TRIGGER`).
    words: usize,
    kind: Kind,
    /// Parentheses open.
    depth: i32,
    /// A trigger's `ON`: 0 not seen, 1 the table's name comes next, 2 named.
    on: u8,
    open: bool,
    cases: u32,
    /// A routine's `BEGIN`, open if `ATOMIC` follows.
    begin: bool,
    /// An `END` that closes the body if `;` (or the end) follows.
    end: bool,
    /// Just past the body's last `;`, and whether the next token starts one
    /// of its statements.
    semicolon: usize,
    at_statement: bool,
}

/// What may start a statement inside a body: data statements only.
const BODY_STATEMENTS: &[&str] =
    &["SELECT", "INSERT", "UPDATE", "DELETE", "REPLACE", "WITH", "VALUES", "MERGE", "TABLE", "RETURN", "END"];

impl Body {
    fn step(&mut self, sql: &str, token: &Token, prev: Option<&Token>) -> Next {
        let text = &sql[token.range.clone()];
        let is_word = token.kind == TokenKind::Word;
        // Compared in place, in any case: no allocation per token.
        let is = |keyword: &str| is_word && text.eq_ignore_ascii_case(keyword);
        if std::mem::take(&mut self.end) && token.kind == TokenKind::Semicolon {
            self.open = false;
            return Next::End;
        }
        if std::mem::take(&mut self.begin) && is("ATOMIC") {
            self.open = true;
            self.at_statement = true;
            return Next::Continue;
        }
        if self.open && std::mem::take(&mut self.at_statement) {
            match token.kind {
                _ if BODY_STATEMENTS.iter().any(|k| is(k)) => {}
                TokenKind::Semicolon => {}
                // `(SELECT ...)` in a routine's body; after a trigger's
                // BEGIN, a call: `EXECUTE FUNCTION begin()`.
                TokenKind::Punct if text == "(" && self.kind == Kind::Routine => {}
                // Right after the BEGIN: that was no body's BEGIN.
                _ if self.semicolon == 0 => self.open = false,
                _ => return Next::EndBefore(self.semicolon),
            }
        }
        match token.kind {
            TokenKind::Semicolon if self.open => {
                self.semicolon = token.range.end;
                self.at_statement = true;
                // No CASE spans statements: a count still open was wrong
                // (`case` as a name), and must not hide the body's END.
                self.cases = 0;
                return Next::Continue;
            }
            TokenKind::Semicolon => return Next::End,
            TokenKind::Punct if text == "(" => self.depth += 1,
            TokenKind::Punct if text == ")" => self.depth -= 1,
            TokenKind::QuotedIdent if self.on == 1 => self.on = 2,
            _ => {}
        }
        if !is_word || (self.kind == Kind::Plain && self.words >= 6) {
            return Next::Continue;
        }
        if self.words < 6 && !self.open {
            self.words += 1;
            match self.words {
                1 if is("CREATE") => {}
                1 => self.words = 6,
                _ if is("TRIGGER") => self.kind = Kind::Trigger,
                _ if is("FUNCTION") || is("PROCEDURE") => self.kind = Kind::Routine,
                _ if ["OR", "REPLACE", "TEMP", "TEMPORARY", "CONSTRAINT"].iter().any(|k| is(k)) => {}
                _ => self.words = 6,
            }
            return Next::Continue;
        }
        let prev_text = prev.map(|p| &sql[p.range.clone()]);
        let qualified = prev_text == Some(".");
        if self.open {
            match () {
                // A column or label named `case` or `end`.
                _ if qualified || prev_text.is_some_and(|p| p.eq_ignore_ascii_case("AS")) => {}
                _ if is("CASE") => self.cases += 1,
                _ if is("END") && self.cases > 0 => self.cases -= 1,
                _ if is("END") => self.end = true,
                _ => {}
            }
            return Next::Continue;
        }
        let identifier =
            qualified || prev_text.is_some_and(|p| ["AS", ",", "(", "OF"].iter().any(|k| p.eq_ignore_ascii_case(k)));
        match self.kind {
            Kind::Trigger => match self.on {
                0 if is("ON") && self.depth == 0 && !qualified => self.on = 1,
                1 => self.on = 2,
                2 if is("BEGIN") && self.depth == 0 && !identifier => {
                    self.open = true;
                    self.at_statement = true;
                }
                _ => {}
            },
            Kind::Routine if is("BEGIN") && self.depth == 0 && !identifier => self.begin = true,
            _ => {}
        }
        Next::Continue
    }
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
    fn words_spelled_like_body_keywords_do_not_move_statement_ends() {
        // The identifiers of the trigger, not its body.
        let sql = "CREATE TRIGGER sync_begin BEFORE UPDATE ON events FOR EACH ROW\n\
                   WHEN (OLD.begin IS DISTINCT FROM NEW.begin) EXECUTE FUNCTION sync();\n\
                   DROP TABLE users;";
        assert_eq!(statements(sql).len(), 2, "{:#?}", statements(sql));
        for sql in [
            "CREATE TRIGGER t AFTER UPDATE OF begin, end ON begin BEGIN UPDATE x SET a = NEW.end; END;\nDROP TABLE users;",
            "CREATE TRIGGER t AFTER INSERT ON a REFERENCING NEW TABLE AS begin FOR EACH STATEMENT EXECUTE FUNCTION f();\nDROP TABLE users;",
            "CREATE FUNCTION begin() RETURNS int LANGUAGE sql AS 'SELECT 1';\nDROP TABLE users;",
            "CREATE TRIGGER t AFTER INSERT ON a BEGIN UPDATE b SET x = CASE WHEN NEW.case THEN 1 END; END;\nDROP TABLE users;",
            "CREATE TRIGGER t AFTER INSERT ON a BEGIN UPDATE b SET end = 1; END;\nDROP TABLE users;",
        ] {
            let s = statements(sql);
            assert_eq!(s.last(), Some(&"DROP TABLE users;"), "{sql}: {s:#?}");
        }
    }

    #[test]
    fn case_and_end_as_names_inside_a_body_do_not_hide_what_follows() {
        for sql in [
            "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1 AS case; END;\nDELETE FROM users;",
            "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1 AS end; SELECT 2; END;\nDELETE FROM users;",
            "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT x.case FROM x; END;\nDELETE FROM users;",
            "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1 case; END;\nDELETE FROM users;",
            "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC RETURN 1; END;\nDELETE FROM users;",
            "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC (SELECT 1); SELECT 2; END;\nDELETE FROM users;",
        ] {
            let s = statements(sql);
            assert_eq!(s.len(), 2, "{sql}: {s:#?}");
            assert_eq!(s[1], "DELETE FROM users;", "{sql}: {s:#?}");
        }
    }

    #[test]
    fn a_body_holding_what_no_body_can_was_not_a_body() {
        // A BEGIN the splitter cannot tell from a body's: the DROP still
        // comes out as a statement of its own.
        let sql = "CREATE TRIGGER t AFTER INSERT ON a WHEN x BEGIN SELECT 1; DROP TABLE users; SELECT 2;";
        let s = statements(sql);
        assert!(s.contains(&"DROP TABLE users;") || s.iter().any(|st| st.starts_with("DROP TABLE users")), "{s:#?}");
        assert!(s[0].ends_with("SELECT 1;"), "{s:#?}");
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

    fn mysql_statements(sql: &str) -> Vec<&str> {
        split_with(sql, Dialect::Mysql).unwrap().into_iter().filter_map(|p| p.statement.map(|r| &sql[r])).collect()
    }

    #[test]
    fn mysql_quotes_and_comments_hide_their_semicolons() {
        let sql = "INSERT INTO t VALUES ('it\\'s; x', \"a\\\"b;\");\n\
                   # note; more\n\
                   ALTER TABLE t ADD COLUMN `my;col` int; -- c; d\n\
                   SELECT 1--1;\n\
                   SELECT $$;$$;";
        assert_eq!(
            mysql_statements(sql),
            vec![
                "INSERT INTO t VALUES ('it\\'s; x', \"a\\\"b;\");",
                "ALTER TABLE t ADD COLUMN `my;col` int;",
                "SELECT 1--1;",
                "SELECT $$;",
                "$$;",
            ]
        );
    }

    #[test]
    fn a_mysql_versioned_comment_is_a_statement_of_its_own() {
        let sql =
            "/*!40101 SET NAMES utf8mb4 */;\n/* only a comment */;\nCREATE TABLE t (a int) /*!50100 ENGINE=InnoDB */;";
        assert_eq!(
            mysql_statements(sql),
            vec!["/*!40101 SET NAMES utf8mb4 */;", "CREATE TABLE t (a int) /*!50100 ENGINE=InnoDB */;"]
        );
        assert_eq!(statements(sql), vec!["CREATE TABLE t (a int) /*!50100 ENGINE=InnoDB */;"], "portable: comments");
    }

    #[test]
    fn pieces_cover_the_script() {
        let sql = "  -- head\nSELECT 1 ;  \nSELECT 2 -- tail";
        let joined: String = split(sql).unwrap().iter().map(|p| &sql[p.range.clone()]).collect();
        assert_eq!(joined, sql);
    }
}

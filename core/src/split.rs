//! Splitting a script into statements.
//!
//! A statement ends at a `;` outside quotes, comments and dollar quotes,
//! except inside the `BEGIN ... END` body of a SQLite trigger or of a
//! PostgreSQL `BEGIN ATOMIC` function, where `;` separates the body's own
//! statements. What is a quote or a comment is the lexer's [`Dialect`].
//!
//! # MySQL compound statements
//!
//! A MySQL trigger, procedure, function or event with a `BEGIN ... END`
//! body is written in a migration as it is sent to the server: one
//! statement, the body's own statements ending in `;`, and the whole
//! ending in `;` after its `END`:
//!
//! ```sql
//! CREATE TRIGGER users_sync BEFORE INSERT ON users FOR EACH ROW
//! BEGIN
//!   IF NEW.full_name IS NULL THEN
//!     SET NEW.full_name = NEW.name;
//!   END IF;
//! END;
//! ```
//!
//! The `mysql` client needs `DELIMITER //` around such a statement because
//! it splits the text itself, at every `;`; the server does not, and
//! ebbtide sends it each statement whole. So there is no `DELIMITER` in a
//! migration (ebbtide refuses the line, see [`load_with`](crate::load_with)): the splitter
//! keeps the body whole by itself, as it does for SQLite's triggers,
//! following its blocks (`BEGIN ... END`, `IF ... END IF`, `CASE ... END
//! CASE`, `LOOP`, `WHILE`, `REPEAT`, labels, handlers). A statement of the
//! body must start with a word a stored program's statement starts with
//! (`SET`, `DECLARE`, `IF`, `SELECT`, `INSERT`, `CALL`, `SIGNAL`, ...): any
//! other (`DROP TABLE`, `ALTER TABLE`) ends the body before it, so that a
//! `BEGIN` misread as a body's can never hide a statement from the branch
//! rules. A procedure that runs DDL does it through `PREPARE` and
//! `EXECUTE`.

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
    Ok(split_tokens_with(sql, &tokens, dialect))
}

/// Splits already lexed tokens of portable SQL into pieces.
pub fn split_tokens(sql: &str, tokens: &[Token]) -> Vec<Piece> {
    split_tokens_with(sql, tokens, Dialect::Portable)
}

/// Splits already lexed tokens of `dialect` into pieces: where a body
/// starts and ends differs between engines.
pub fn split_tokens_with(sql: &str, tokens: &[Token], dialect: Dialect) -> Vec<Piece> {
    let mysql = dialect == Dialect::Mysql;
    let mut pieces = Vec::new();
    let mut piece_start = 0;
    let mut first_significant: Option<usize> = None;
    let mut last_significant_end = 0;
    let mut body = Body::new(mysql);
    let mut prev: Option<&Token> = None;
    // What the body rules look at: the tokens that are not trivia, each
    // with the next of them (a MySQL label is a name followed by `:`).
    let significant: Vec<&Token> = tokens.iter().filter(|t| !t.kind.is_trivia()).collect();

    for (i, &token) in significant.iter().enumerate() {
        let next = significant[i + 1..].iter().copied().find(|t| t.kind != TokenKind::VersionedComment);
        if token.kind == TokenKind::VersionedComment {
            // SQL that MySQL runs: part of the statement (which may hold
            // nothing else), but no keyword that moves a statement's end.
            first_significant.get_or_insert(token.range.start);
            last_significant_end = token.range.end;
            continue;
        }
        match body.step(sql, token, prev, next) {
            Next::Continue => {}
            Next::End => {
                let start = first_significant.unwrap_or(token.range.start);
                pieces.push(Piece {
                    range: piece_start..token.range.end,
                    statement: first_significant.map(|_| start..token.range.end),
                });
                piece_start = token.range.end;
                first_significant = None;
                body = Body::new(mysql);
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
                body = Body::new(mysql);
                body.step(sql, token, None, next);
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
/// body's own statements: a SQLite or MySQL `CREATE TRIGGER`, a PostgreSQL
/// `CREATE FUNCTION|PROCEDURE ... BEGIN ATOMIC`, a MySQL `CREATE
/// FUNCTION|PROCEDURE|EVENT ... BEGIN`.
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
    /// MySQL's rules: bodies open at `BEGIN`, nest blocks and take labels.
    mysql: bool,
    /// In a MySQL body, the blocks open, outermost first.
    blocks: Vec<Block>,
    /// In a MySQL body, the next word may start a statement (after `;`,
    /// `BEGIN`, `THEN`, `ELSE`, `DO`, `LOOP`, `REPEAT`, a label's `:`).
    statement_start: bool,
    /// In a MySQL body, a `DECLARE ... HANDLER` whose action may be a block.
    handler: bool,
    /// In a MySQL body, the previous word was a block's `END`: an `IF`,
    /// `CASE`, `LOOP`, `WHILE` or `REPEAT` now is part of it.
    after_end: bool,
}

/// A block of a MySQL body.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Block {
    /// `BEGIN ... END`.
    Begin,
    /// `IF ... END IF`.
    If,
    /// A `CASE` statement, `CASE ... END CASE`, whose `THEN` and `ELSE`
    /// start statements.
    CaseStatement,
    /// A `CASE` expression, `CASE ... END`, which never spans a `;`.
    CaseExpression,
    /// `LOOP ... END LOOP` and `REPEAT ... END REPEAT`.
    Loop,
    /// `WHILE ... DO ... END WHILE`.
    While,
}

/// What may start a statement inside a body: data statements only.
const BODY_STATEMENTS: &[&str] =
    &["SELECT", "INSERT", "UPDATE", "DELETE", "REPLACE", "WITH", "VALUES", "MERGE", "TABLE", "RETURN", "END"];

/// What may start a statement inside a MySQL body: data statements, and
/// the statements of stored programs. No DDL: see the module's doc.
const MYSQL_BODY_STATEMENTS: &[&str] = &[
    "SELECT",
    "INSERT",
    "UPDATE",
    "DELETE",
    "REPLACE",
    "WITH",
    "VALUES",
    "TABLE",
    "RETURN",
    "END",
    "BEGIN",
    "DECLARE",
    "SET",
    "IF",
    "ELSEIF",
    "ELSE",
    "CASE",
    "WHEN",
    "LOOP",
    "WHILE",
    "REPEAT",
    "UNTIL",
    "LEAVE",
    "ITERATE",
    "SIGNAL",
    "RESIGNAL",
    "GET",
    "OPEN",
    "FETCH",
    "CLOSE",
    "CALL",
    "PREPARE",
    "EXECUTE",
    "DEALLOCATE",
    "DO",
    "START",
    "COMMIT",
    "ROLLBACK",
    "SAVEPOINT",
    "RELEASE",
];

impl Body {
    fn new(mysql: bool) -> Self {
        Body { mysql, ..Body::default() }
    }

    /// A MySQL body's `BEGIN`: the body opens.
    fn open_mysql(&mut self) {
        self.open = true;
        self.at_statement = true;
        self.statement_start = true;
        self.blocks = vec![Block::Begin];
    }

    /// What looked like a body was none, or the body has ended: the
    /// statement ends at its next `;`.
    fn close_mysql(&mut self) {
        self.open = false;
        self.kind = Kind::Plain;
        self.words = 6;
        self.blocks.clear();
    }

    fn step(&mut self, sql: &str, token: &Token, prev: Option<&Token>, next: Option<&Token>) -> Next {
        let text = &sql[token.range.clone()];
        let is_word = token.kind == TokenKind::Word;
        // Compared in place, in any case: no allocation per token.
        let is = |keyword: &str| is_word && text.eq_ignore_ascii_case(keyword);
        if self.mysql && self.open {
            return self.step_mysql_body(sql, token, prev, next);
        }
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
                // Once the kind is read, the next word is the name, however
                // it is spelled (`CREATE TRIGGER function ...`).
                _ if self.kind != Kind::Plain => self.words = 6,
                _ if is("TRIGGER") => self.kind = Kind::Trigger,
                _ if is("FUNCTION") || is("PROCEDURE") => self.kind = Kind::Routine,
                _ if self.mysql && is("EVENT") => self.kind = Kind::Routine,
                _ if ["OR", "REPLACE", "TEMP", "TEMPORARY", "CONSTRAINT"].iter().any(|k| is(k)) => {}
                // DEFINER = user@host (a word or two), AGGREGATE FUNCTION.
                _ if self.mysql && ["DEFINER", "AGGREGATE", "CURRENT_USER"].iter().any(|k| is(k)) => {}
                _ if self.mysql
                    && prev.is_some_and(|p| matches!(&sql[p.range.clone()], "=" | "@"))
                    && next.is_none_or(|n| &sql[n.range.clone()] != "(") =>
                {
                    // The user and host of a DEFINER.
                }
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
        // MySQL: the routine's, event's or trigger's name, and what a
        // trigger follows or precedes, are names too.
        let identifier = identifier
            || (self.mysql
                && (next.is_some_and(|n| &sql[n.range.clone()] == ".")
                    || prev_text.is_some_and(|p| {
                        ["FUNCTION", "PROCEDURE", "EVENT", "TRIGGER", "EXISTS", "FOLLOWS", "PRECEDES"]
                            .iter()
                            .any(|k| p.eq_ignore_ascii_case(k))
                    })));
        match self.kind {
            Kind::Trigger => match self.on {
                0 if is("ON") && self.depth == 0 && !qualified => self.on = 1,
                1 => self.on = 2,
                2 if is("BEGIN") && self.depth == 0 && !identifier => {
                    if self.mysql {
                        self.open_mysql();
                    } else {
                        self.open = true;
                        self.at_statement = true;
                    }
                }
                _ => {}
            },
            // MySQL's routines have no ATOMIC: BEGIN opens the body.
            Kind::Routine if is("BEGIN") && self.depth == 0 && !identifier && self.mysql => self.open_mysql(),
            Kind::Routine if is("BEGIN") && self.depth == 0 && !identifier => self.begin = true,
            _ => {}
        }
        Next::Continue
    }

    /// One token of an open MySQL body.
    fn step_mysql_body(&mut self, sql: &str, token: &Token, prev: Option<&Token>, next: Option<&Token>) -> Next {
        let text = &sql[token.range.clone()];
        let is_word = token.kind == TokenKind::Word;
        let is = |keyword: &str| is_word && text.eq_ignore_ascii_case(keyword);
        let next_text = next.map(|n| &sql[n.range.clone()]);
        if std::mem::take(&mut self.at_statement) {
            let label = matches!(token.kind, TokenKind::Word | TokenKind::QuotedIdent) && next_text == Some(":");
            let starts = token.kind == TokenKind::Semicolon || label || MYSQL_BODY_STATEMENTS.iter().any(|k| is(k));
            if !starts {
                if self.semicolon != 0 {
                    return Next::EndBefore(self.semicolon);
                }
                // Right after the BEGIN: that was no body's BEGIN.
                self.close_mysql();
                return match token.kind {
                    TokenKind::Semicolon => Next::End,
                    _ => Next::Continue,
                };
            }
        }
        match token.kind {
            TokenKind::Semicolon => {
                self.semicolon = token.range.end;
                self.at_statement = true;
                self.statement_start = true;
                self.handler = false;
                self.after_end = false;
                // No CASE expression spans statements: one still open was
                // a name (`case`), and must not hide the body's END.
                while self.blocks.last() == Some(&Block::CaseExpression) {
                    self.blocks.pop();
                }
                return Next::Continue;
            }
            // A label: `name: BEGIN`, `name: LOOP`.
            TokenKind::Punct if text == ":" => {
                self.statement_start = true;
                return Next::Continue;
            }
            TokenKind::Word => {}
            _ => {
                self.statement_start = false;
                self.after_end = false;
                return Next::Continue;
            }
        }
        let at_start = std::mem::take(&mut self.statement_start);
        let after_end = std::mem::take(&mut self.after_end);
        let prev_text = prev.map(|p| &sql[p.range.clone()]);
        // A name: `NEW.end`, `x.case`, `AS begin`.
        if prev_text.is_some_and(|p| p == "." || p.eq_ignore_ascii_case("AS")) || next_text == Some(".") {
            return Next::Continue;
        }
        // END IF, END CASE, END LOOP, END WHILE, END REPEAT.
        if after_end && ["IF", "CASE", "LOOP", "WHILE", "REPEAT"].iter().any(|k| is(k)) {
            return Next::Continue;
        }
        let top = self.blocks.last().copied();
        match () {
            _ if is("END") => {
                self.blocks.pop();
                if self.blocks.is_empty() {
                    // The body's END: the statement ends at the next `;`.
                    self.close_mysql();
                } else {
                    self.after_end = true;
                }
            }
            _ if is("BEGIN") && (at_start || self.handler) => {
                self.blocks.push(Block::Begin);
                self.statement_start = true;
                self.handler = false;
            }
            _ if is("CASE") => {
                self.blocks.push(if at_start { Block::CaseStatement } else { Block::CaseExpression });
            }
            _ if at_start && is("IF") => self.blocks.push(Block::If),
            _ if at_start && (is("LOOP") || is("REPEAT")) => {
                self.blocks.push(Block::Loop);
                self.statement_start = true;
            }
            _ if at_start && is("WHILE") => self.blocks.push(Block::While),
            _ if is("HANDLER") => self.handler = true,
            _ if (is("THEN") || is("ELSE")) && matches!(top, Some(Block::If | Block::CaseStatement)) => {
                self.statement_start = true;
            }
            _ if is("DO") && top == Some(Block::While) => self.statement_start = true,
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
    fn a_mysql_compound_statement_is_one_statement() {
        let sql = "CREATE DEFINER = `app`@`%` TRIGGER users_sync BEFORE INSERT ON users FOR EACH ROW\n\
                   BEGIN\n\
                     DECLARE n INT DEFAULT 0;\n\
                     IF NEW.full_name IS NULL THEN\n\
                       SET NEW.full_name = CASE WHEN NEW.name = '' THEN NULL ELSE NEW.name END;\n\
                     ELSEIF NEW.end = 1 THEN\n\
                       SET n = 1;\n\
                     END IF;\n\
                   END;\n\
                   CREATE PROCEDURE tidy(IN lim INT)\n\
                   body: BEGIN\n\
                     DECLARE done INT DEFAULT 0;\n\
                     DECLARE EXIT HANDLER FOR SQLEXCEPTION BEGIN ROLLBACK; RESIGNAL; END;\n\
                     scan: LOOP\n\
                       CASE lim WHEN 0 THEN LEAVE scan; ELSE SET lim = lim - 1; END CASE;\n\
                       WHILE done < 3 DO SET done = done + 1; END WHILE;\n\
                       REPEAT DELETE FROM logs LIMIT 100; UNTIL ROW_COUNT() = 0 END REPEAT;\n\
                     END LOOP scan;\n\
                   END body;\n\
                   CREATE FUNCTION half(x INT) RETURNS INT DETERMINISTIC BEGIN RETURN x / 2; END;\n\
                   DROP TABLE users;";
        let s = mysql_statements(sql);
        assert_eq!(s.len(), 4, "{s:#?}");
        assert!(s[0].starts_with("CREATE DEFINER") && s[0].ends_with("END IF;\nEND;"), "{s:#?}");
        assert!(s[1].starts_with("CREATE PROCEDURE") && s[1].ends_with("END body;"), "{s:#?}");
        assert!(s[2].starts_with("CREATE FUNCTION") && s[2].ends_with("END;"), "{s:#?}");
        assert_eq!(s[3], "DROP TABLE users;");
        // Read as portable SQL, the same text splits at every `;`.
        assert!(statements(sql).len() > 4);
    }

    #[test]
    fn a_mysql_body_never_hides_ddl() {
        // A body statement that no stored program starts with ends the body:
        // the DROP is a statement of its own, seen by the rules.
        let sql = "CREATE PROCEDURE p() BEGIN SELECT 1; DROP TABLE users; END;";
        let s = mysql_statements(sql);
        assert!(s.contains(&"DROP TABLE users;"), "{s:#?}");
        // An IF missing its END IF leaves the body open; the DDL after it
        // still comes out.
        let sql = "CREATE TRIGGER t BEFORE INSERT ON a FOR EACH ROW BEGIN IF 1 THEN SET NEW.x = 1; END;\nALTER TABLE users DROP COLUMN name;";
        let s = mysql_statements(sql);
        assert_eq!(s.last(), Some(&"ALTER TABLE users DROP COLUMN name;"), "{s:#?}");
        // A single-statement body has no BEGIN: it ends at its `;`.
        let sql = "CREATE TRIGGER t BEFORE INSERT ON a FOR EACH ROW SET NEW.x = 1;\nDELETE FROM users;";
        assert_eq!(mysql_statements(sql).len(), 2);
        // A trigger named like a routine is a trigger.
        let sql = "CREATE TRIGGER function BEFORE DELETE ON begin FOR EACH ROW BEGIN DELETE FROM t WHERE a = OLD.a; END;\nINSERT INTO t VALUES (1);";
        assert_eq!(mysql_statements(sql).len(), 2, "{:#?}", mysql_statements(sql));
        // Names spelled like block words, and a CASE expression used as a name.
        let sql = "CREATE TRIGGER begin BEFORE UPDATE ON `end` FOR EACH ROW BEGIN UPDATE case SET x = NEW.begin; SET NEW.end = 1; END;\nDELETE FROM users;";
        let s = mysql_statements(sql);
        assert_eq!(s.len(), 2, "{s:#?}");
        assert_eq!(s[1], "DELETE FROM users;");
    }

    #[test]
    fn pieces_cover_the_script() {
        let sql = "  -- head\nSELECT 1 ;  \nSELECT 2 -- tail";
        let joined: String = split(sql).unwrap().iter().map(|p| &sql[p.range.clone()]).collect();
        assert_eq!(joined, sql);
    }
}

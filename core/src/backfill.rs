//! Batched backfills: `-- ebbtide: backfill <table>.<key> <batch-size>`.
//!
//! A backfill migration's up script is one `UPDATE` of `<table>` whose
//! `WHERE` holds two placeholders, `:after` and `:upto`, the bounds of a
//! batch of its integer key (`WHERE id > :after AND id <= :upto`). ebbtide
//! runs it batch by batch, each batch in a transaction of its own with its
//! progress, instead of once in the migration's transaction: rows are
//! locked for one batch, never for the whole backfill.
//!
//! The placeholders are `:` and a word, which both SQLite and PostgreSQL
//! read as a named parameter (SQLite) or a psql variable, never as SQL a
//! migration could mean otherwise: ebbtide runs scripts without
//! parameters, so no other script can hold one. `x::after` is a cast, not
//! a placeholder.

use std::borrow::Cow;
use std::ops::Range;

use crate::lexer::{self, Token, TokenKind};

/// The largest batch a backfill takes, in rows.
pub const MAX_BATCH: u32 = 10_000_000;

/// `-- ebbtide: backfill <table>.<key> <batch-size>`: the script runs in
/// batches of `batch_size` rows by `key`, an integer column of `table`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backfill {
    /// The table, as written (optionally `schema.table`).
    pub table: Cow<'static, str>,
    /// Its integer key column (a primary key or another unique, indexed column).
    pub key: Cow<'static, str>,
    /// Rows per batch, from 1 to [`MAX_BATCH`].
    pub batch_size: u32,
}

/// A bound of a batch, as a placeholder names it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Bound {
    /// `:after`: the batch takes keys above it (the last key of the batch before).
    After,
    /// `:upto`: the batch takes keys up to it, included.
    Upto,
}

impl Bound {
    /// The placeholder as written: `:after`, `:upto`.
    pub fn placeholder(self) -> &'static str {
        match self {
            Bound::After => ":after",
            Bound::Upto => ":upto",
        }
    }
}

/// Reads the arguments of a `backfill` directive: `users.id 10000`.
pub fn parse(args: &[&str]) -> Result<Backfill, String> {
    let [target, size] = args else {
        return Err(format!(
            "`backfill {}`: write `backfill <table>.<key> <batch-size>`, e.g. `backfill users.id 10000`",
            args.join(" ")
        ));
    };
    let plain = |part: &str| {
        part.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    };
    let (table, key) = target
        .rsplit_once('.')
        .filter(|(table, key)| plain(key) && table.split('.').count() <= 2 && table.split('.').all(plain))
        .ok_or_else(|| {
            format!(
                "`backfill {target} {size}`: `{target}` is not `<table>.<key>` (plain identifiers, the table optionally as schema.table)"
            )
        })?;
    let batch_size = size.parse::<u32>().ok().filter(|n| (1..=MAX_BATCH).contains(n)).ok_or_else(|| {
        format!(
            "`backfill {target} {size}`: the batch size `{size}` is not a whole number of rows from 1 to {MAX_BATCH}"
        )
    })?;
    Ok(Backfill { table: Cow::Owned(table.to_string()), key: Cow::Owned(key.to_string()), batch_size })
}

/// The placeholders among `tokens`: `:` right before the word `after` or
/// `upto` (in any case), not part of a `::` cast.
pub fn placeholders(sql: &str, tokens: &[Token]) -> Vec<(Range<usize>, Bound)> {
    let mut found = Vec::new();
    for (i, pair) in tokens.windows(2).enumerate() {
        let (colon, word) = (&pair[0], &pair[1]);
        if colon.kind != TokenKind::Punct || &sql[colon.range.clone()] != ":" || word.kind != TokenKind::Word {
            continue;
        }
        if colon.range.end != word.range.start || (i > 0 && &sql[tokens[i - 1].range.clone()] == ":") {
            continue;
        }
        let bound = match sql[word.range.clone()].to_ascii_lowercase().as_str() {
            "after" => Bound::After,
            "upto" => Bound::Upto,
            _ => continue,
        };
        found.push((colon.range.start..word.range.end, bound));
    }
    found
}

/// `statement` with its placeholders replaced by the batch's bounds, as
/// integer literals (a negative one in parentheses, so that `-:after`
/// never becomes a comment).
pub fn bind(statement: &str, after: i64, upto: i64) -> String {
    let tokens = lexer::tokenize(statement).unwrap_or_default();
    let literal = |n: i64| if n < 0 { format!("({n})") } else { n.to_string() };
    let mut out = String::with_capacity(statement.len() + 16);
    let mut at = 0;
    for (range, bound) in placeholders(statement, &tokens) {
        out.push_str(&statement[at..range.start]);
        out.push_str(&literal(match bound {
            Bound::After => after,
            Bound::Upto => upto,
        }));
        at = range.end;
    }
    out.push_str(&statement[at..]);
    out
}

/// A table name as the classifier writes it: lowercase, without the
/// default schema.
pub fn same_table(directive: &str, classified: &str) -> bool {
    let normal = |name: &str| {
        let name = name.to_ascii_lowercase();
        match name.split_once('.') {
            Some(("public" | "main", table)) => table.to_string(),
            _ => name,
        }
    };
    normal(directive) == normal(classified)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_directive() {
        assert_eq!(
            parse(&["users.id", "10000"]),
            Ok(Backfill { table: "users".into(), key: "id".into(), batch_size: 10_000 })
        );
        assert_eq!(parse(&["app.users.id", "1"]).unwrap().table, "app.users");
        for bad in [&["users", "10"][..], &["users.id", "10k"], &["users.id", "0"], &["users.id"], &["a.b.c.d", "1"]] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        assert!(parse(&["users.id", "1.5"]).unwrap_err().contains("whole number of rows"));
    }

    #[test]
    fn binds_both_placeholders_and_nothing_else() {
        let sql = "UPDATE t SET b = ':after', c = x::after WHERE id > :after AND id <= :UPTO -- :after\n;";
        assert_eq!(
            bind(sql, -1, 1000),
            "UPDATE t SET b = ':after', c = x::after WHERE id > (-1) AND id <= 1000 -- :after\n;"
        );
        let tokens = lexer::tokenize(sql).unwrap();
        assert_eq!(placeholders(sql, &tokens).len(), 2);
        assert!(placeholders("SELECT : after", &lexer::tokenize("SELECT : after").unwrap()).is_empty());
    }

    #[test]
    fn tables_compare_as_the_classifier_names_them() {
        assert!(same_table("Users", "users"));
        assert!(same_table("public.users", "users"));
        assert!(!same_table("app.users", "users"));
    }
}

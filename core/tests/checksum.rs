//! The statement checksum, as a property: a script rewritten with other
//! comments and other whitespace between its tokens keeps its checksum, in
//! every dialect; a script with one token changed does not.

use ebbtide_core::Dialect;
use ebbtide_core::checksum::of_script;
use proptest::prelude::*;

/// Tokens that read the same in both dialects, alone or side by side with
/// a space between them.
fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "CREATE", "TABLE", "users", "INSERT", "INTO", "VALUES", "ALTER", "ADD", "COLUMN", "text", "int", "NOT",
            "NULL", "DEFAULT", "(", ")", ",", ".", "=", "<>", "<=", "+", "*", "::", ";", "'it''s'", "'a  b'", "''",
            "42", "3.5", "`x`",
        ])
        .prop_map(str::to_string),
        "[a-z_][a-z0-9_]{0,6}",
        "'[a-z ;]{0,5}'",
    ]
}

/// What may stand between two tokens without changing what runs.
fn gap(dialect: Dialect) -> impl Strategy<Value = String> {
    let mut gaps = vec![" ", "\n", "  \t", "\r\n", " /* a; note */ ", " -- note; here\n", "\n\n  -- two\n  -- lines\n"];
    if dialect == Dialect::Mysql {
        gaps.push(" # a MySQL note\n");
    }
    prop::sample::select(gaps).prop_map(str::to_string)
}

fn join(tokens: &[String], gaps: &[String]) -> String {
    let mut sql = String::new();
    for (token, gap) in tokens.iter().zip(gaps) {
        sql.push_str(token);
        sql.push_str(gap);
    }
    sql
}

fn dialect() -> impl Strategy<Value = Dialect> {
    prop_oneof![Just(Dialect::Portable), Just(Dialect::Mysql)]
}

/// A script in a dialect, and two ways of laying out its tokens.
fn laid_out() -> impl Strategy<Value = (Dialect, Vec<String>, Vec<String>, Vec<String>)> {
    dialect().prop_flat_map(|dialect| {
        prop::collection::vec(token(), 1..25).prop_flat_map(move |tokens| {
            let n = tokens.len();
            (
                Just(dialect),
                Just(tokens),
                prop::collection::vec(gap(dialect), n),
                prop::collection::vec(gap(dialect), n),
            )
        })
    })
}

proptest! {
    #[test]
    fn comments_and_whitespace_keep_the_checksum((dialect, tokens, a, b) in laid_out()) {
        let first = join(&tokens, &a);
        let second = join(&tokens, &b);
        // A leading comment, as most migrations have.
        let second = format!("-- Why this migration exists.\n{second}");
        prop_assert_eq!(of_script(&first, dialect).unwrap(), of_script(&second, dialect).unwrap(), "{:?} vs {:?}", first, second);
    }

    #[test]
    fn one_changed_token_changes_it(
        (dialect, tokens, gaps) in laid_out().prop_map(|(d, t, g, _)| (d, t, g)),
        index in any::<prop::sample::Index>(),
        replacement in token(),
    ) {
        let i = index.index(tokens.len());
        prop_assume!(tokens[i] != replacement);
        let mut edited = tokens.clone();
        edited[i] = replacement;
        let before = join(&tokens, &gaps);
        let after = join(&edited, &gaps);
        prop_assert_ne!(of_script(&before, dialect).unwrap(), of_script(&after, dialect).unwrap(), "{:?} vs {:?}", before, after);
    }
}

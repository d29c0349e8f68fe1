//! The file-name grammar: `NNNN_snake_case_name.sql` for an up script and
//! `NNNN_snake_case_name.down.sql` for the down script beside it.

use crate::migration::Version;

/// Up or down.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Direction {
    /// `NNNN_name.sql`
    Up,
    /// `NNNN_name.down.sql`
    Down,
}

/// A parsed migration file name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileName {
    /// The number before the first `_`.
    pub version: Version,
    /// The snake_case name after it.
    pub name: String,
    /// Up or down script.
    pub direction: Direction,
}

/// Why a `.sql` file name is not a migration name, and a name that would be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadName {
    /// What is wrong.
    pub reason: String,
    /// A corrected file name, when one can be guessed.
    pub suggestion: Option<String>,
}

/// Whether a file name is meant as a migration: it ends in `.sql`, in any
/// case (`.SQL` is one too, refused by [`parse`] with the fix).
pub fn is_sql_file(file: &str) -> bool {
    file.len() >= 4 && file.is_char_boundary(file.len() - 4) && file[file.len() - 4..].eq_ignore_ascii_case(".sql")
}

/// Parses `0003_add_users_email.sql` or `0003_add_users_email.down.sql`.
///
/// Two habits of other tools are refused with the name to use: an upper
/// case extension (`.SQL`: ebbtide reads exactly `.sql`, so that a file is
/// a migration or not the same way on every file system), and sqlx's and
/// diesel's `.up.sql` (an up script is plain `.sql` here).
pub fn parse(file: &str) -> Result<FileName, BadName> {
    if is_sql_file(file) && !file.ends_with(".sql") {
        let extension = &file[file.len() - 4..];
        return Err(bad(
            file,
            &format!("the extension `{extension}` is not lower case; ebbtide reads `.sql` files only"),
        ));
    }
    if file.strip_suffix(".sql").is_some_and(|stem| stem.ends_with(".up")) {
        return Err(bad(
            file,
            "`.up.sql` is sqlx's and diesel's spelling; ebbtide's up script is plain `.sql`, beside its optional `.down.sql`",
        ));
    }
    let (stem, direction) = if let Some(stem) = file.strip_suffix(".down.sql") {
        (stem, Direction::Down)
    } else if let Some(stem) = file.strip_suffix(".sql") {
        (stem, Direction::Up)
    } else {
        return Err(bad(file, "the file name does not end in `.sql`"));
    };
    let digits = stem.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(bad(file, "the file name does not start with a version number"));
    }
    let (number, rest) = stem.split_at(digits);
    let Some(name) = rest.strip_prefix('_') else {
        return Err(bad(file, "the version number must be followed by `_` and a name"));
    };
    let version = match number.parse::<u32>() {
        Ok(0) => return Err(bad(file, "versions start at 1; 0 means an empty database")),
        Ok(v) => Version(v),
        Err(_) => return Err(bad(file, "the version number is too large (at most 4294967295)")),
    };
    if name.is_empty() {
        return Err(bad(file, "the name after the version is empty"));
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        || !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(bad(file, "the name must be snake_case: lowercase ASCII letters, digits and `_`"));
    }
    Ok(FileName { version, name: name.to_string(), direction })
}

fn bad(file: &str, reason: &str) -> BadName {
    BadName { reason: reason.to_string(), suggestion: suggest(file) }
}

/// Guesses the migration name a malformed file name meant:
/// `3-Add Email.SQL` becomes `0003_add_email.sql`, `0002_add_x.up.sql`
/// becomes `0002_add_x.sql`.
fn suggest(file: &str) -> Option<String> {
    let lower = file.to_ascii_lowercase();
    let (stem, suffix) = if let Some(stem) = lower.strip_suffix(".down.sql") {
        (stem, ".down.sql")
    } else if let Some(stem) = lower.strip_suffix(".up.sql") {
        (stem, ".sql")
    } else if let Some(stem) = lower.strip_suffix(".sql") {
        (stem, ".sql")
    } else {
        return None;
    };
    let digits: String = stem.chars().take_while(char::is_ascii_digit).collect();
    let number: u32 = digits.parse().ok().filter(|&n| n > 0)?;
    let mut name = String::new();
    for c in stem[digits.len()..].chars() {
        if c.is_ascii_alphanumeric() {
            name.push(c);
        } else if !name.is_empty() && !name.ends_with('_') {
            name.push('_');
        }
    }
    let name = name.trim_end_matches('_');
    if name.is_empty() {
        return None;
    }
    let fixed = format!("{number:04}_{name}{suffix}");
    (fixed != file).then_some(fixed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_up_and_down_scripts() {
        assert_eq!(
            parse("0003_add_users_email.sql").unwrap(),
            FileName { version: Version(3), name: "add_users_email".into(), direction: Direction::Up }
        );
        let down = parse("0003_add_users_email.down.sql").unwrap();
        assert_eq!(down.direction, Direction::Down);
        assert_eq!(down.name, "add_users_email");
    }

    #[test]
    fn accepts_any_number_of_digits() {
        assert_eq!(parse("12_x.sql").unwrap().version, Version(12));
        assert_eq!(parse("000000123_x2.sql").unwrap().version, Version(123));
    }

    #[test]
    fn rejects_names_that_are_not_snake_case_and_suggests_one() {
        let err = parse("0004_Add-Email.sql").unwrap_err();
        assert!(err.reason.contains("snake_case"));
        assert_eq!(err.suggestion.as_deref(), Some("0004_add_email.sql"));
    }

    #[test]
    fn rejects_missing_versions_and_separators() {
        assert!(parse("create_users.sql").unwrap_err().reason.contains("version number"));
        assert!(parse("0004-create.sql").unwrap_err().reason.contains("followed by `_`"));
        assert_eq!(parse("4-create.sql").unwrap_err().suggestion.as_deref(), Some("0004_create.sql"));
        assert!(parse("0004_.sql").unwrap_err().reason.contains("empty"));
    }

    #[test]
    fn an_upper_case_extension_is_refused_with_the_name_to_use() {
        assert!(is_sql_file("0002_add_email.SQL") && is_sql_file("0002_add_email.Sql"));
        let err = parse("0002_add_email.SQL").unwrap_err();
        assert!(err.reason.contains("`.SQL` is not lower case"), "{}", err.reason);
        assert_eq!(err.suggestion.as_deref(), Some("0002_add_email.sql"));
        assert_eq!(
            parse("0002_add_email.down.SQL").unwrap_err().suggestion.as_deref(),
            Some("0002_add_email.down.sql")
        );
        assert!(!is_sql_file("notes.txt") && !is_sql_file("sql") && !is_sql_file("é.sq"));
    }

    #[test]
    fn an_up_sql_extension_is_refused_with_the_name_to_use() {
        let err = parse("0002_add_x.up.sql").unwrap_err();
        assert!(err.reason.contains("plain `.sql`"), "{}", err.reason);
        assert_eq!(err.suggestion.as_deref(), Some("0002_add_x.sql"));
        // sqlx's numbering is kept: only the extension is wrong.
        assert_eq!(parse("20240101_add_x.up.sql").unwrap_err().suggestion.as_deref(), Some("20240101_add_x.sql"));
        assert_eq!(parse("0002_add_x.UP.SQL").unwrap_err().suggestion.as_deref(), Some("0002_add_x.sql"));
    }

    #[test]
    fn rejects_version_zero_and_overflow() {
        assert!(parse("0000_x.sql").unwrap_err().reason.contains("start at 1"));
        assert!(parse("99999999999_x.sql").unwrap_err().reason.contains("too large"));
    }
}

//! Reading the macro's arguments: the migrations directory, a string
//! literal, then optionally `engine = "NAME"`. Parsed by hand: two literals
//! and a key do not need `syn`, which would add a heavy crate to every
//! build.

use ebbtide_core::Dialect;
use proc_macro2::{Delimiter, Span, TokenStream, TokenTree};

use crate::expand::compile_error;

/// What `embed_migrations!` was asked to embed.
pub struct Input {
    /// The migrations directory, relative to Cargo.toml.
    pub path: String,
    /// The path literal: where messages about the directory point.
    pub span: Span,
    /// How the scripts are read, from `engine = "..."`.
    pub dialect: Dialect,
}

/// Arguments that do not parse: the errors, and the migrations directory
/// when it was read, so that a fallback module can stand in for it.
pub struct Invalid {
    pub errors: TokenStream,
    pub path: Option<(String, Span)>,
}

const EXPECTED_PATH: &str = "expected the migrations directory as a string literal, relative to Cargo.toml: `embed_migrations!(\"migrations\")`";

/// Reads `"dir"` or `"dir", engine = "NAME"` (a trailing comma allowed).
pub fn parse(input: TokenStream) -> Result<Input, Invalid> {
    let tokens = flatten(input);
    let (path, span) = match tokens.first() {
        Some(TokenTree::Literal(lit)) => match unquote(&lit.to_string()) {
            Some(path) => (path, lit.span()),
            None => return Err(Invalid { errors: compile_error(EXPECTED_PATH, lit.span()), path: None }),
        },
        Some(first) => return Err(Invalid { errors: compile_error(EXPECTED_PATH, first.span()), path: None }),
        None => return Err(Invalid { errors: compile_error(EXPECTED_PATH, Span::call_site()), path: None }),
    };
    match options(&tokens[1..]) {
        Ok(dialect) => Ok(Input { path, span, dialect }),
        Err((message, at)) => Err(Invalid { errors: compile_error(&message, at), path: Some((path, span)) }),
    }
}

/// The options after the path: `, engine = "NAME"`, at most once.
fn options(mut rest: &[TokenTree]) -> Result<Dialect, (String, Span)> {
    let help =
        || format!("\n  help: the only option is `engine = \"NAME\"`, NAME one of {}", Dialect::ENGINES.join(", "));
    let mut engine = None;
    while let Some((comma, tail)) = rest.split_first() {
        if !matches!(comma, TokenTree::Punct(p) if p.as_char() == ',') {
            return Err((format!("expected `,` after the migrations directory{}", help()), comma.span()));
        }
        let value = match tail {
            // A trailing comma.
            [] => break,
            [TokenTree::Ident(key), TokenTree::Punct(eq), TokenTree::Literal(value), tail @ ..]
                if key == "engine" && eq.as_char() == '=' =>
            {
                if engine.is_some() {
                    return Err(("`engine` is given twice".into(), key.span()));
                }
                rest = tail;
                value
            }
            [TokenTree::Ident(key), ..] if key == "engine" => {
                return Err((format!("expected `engine = \"NAME\"`{}", help()), key.span()));
            }
            [TokenTree::Ident(key), ..] => return Err((format!("unknown option `{key}`{}", help()), key.span())),
            [other, ..] => return Err((format!("expected an option{}", help()), other.span())),
        };
        let Some(name) = unquote(&value.to_string()) else {
            return Err((format!("the engine must be a string literal{}", help()), value.span()));
        };
        match Dialect::parse(&name) {
            Ok(dialect) => engine = Some(dialect),
            Err(_) => {
                let engines = Dialect::ENGINES.map(|e| format!("`{e}`")).join(", ");
                return Err((format!("unknown engine `{name}`\n  help: the engines are {engines}"), value.span()));
            }
        }
    }
    Ok(engine.unwrap_or_default())
}

/// The tokens of `input`, with the invisible groups that `macro_rules!`
/// forwarding wraps fragments in opened.
fn flatten(input: TokenStream) -> Vec<TokenTree> {
    let mut out = Vec::new();
    for token in input {
        match token {
            TokenTree::Group(g) if g.delimiter() == Delimiter::None => out.extend(flatten(g.stream())),
            other => out.push(other),
        }
    }
    out
}

/// The value of a Rust string literal (`"..."` or `r#"..."#`).
fn unquote(literal: &str) -> Option<String> {
    if let Some(raw) = literal.strip_prefix('r') {
        let hashes = raw.len() - raw.trim_start_matches('#').len();
        let body = raw.get(hashes..raw.len().checked_sub(hashes)?)?;
        return body.strip_prefix('"')?.strip_suffix('"').map(str::to_string);
    }
    let body = literal.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            '0' => out.push('\0'),
            '\\' => out.push('\\'),
            '"' => out.push('"'),
            '\'' => out.push('\''),
            'x' => {
                let hex: String = chars.by_ref().take(2).collect();
                out.push(char::from(u8::from_str_radix(&hex, 16).ok().filter(|b| b.is_ascii())?));
            }
            'u' => {
                chars.next().filter(|&c| c == '{')?;
                let hex: String = chars.by_ref().take_while(|&c| c != '}').filter(|&c| c != '_').collect();
                out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
            }
            '\n' => {
                while chars.peek().is_some_and(|c| c.is_whitespace()) {
                    chars.next();
                }
            }
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dialect(input: &str) -> Result<Dialect, String> {
        match parse(input.parse().unwrap()) {
            Ok(input) => Ok(input.dialect),
            Err(invalid) => Err(invalid.errors.to_string()),
        }
    }

    #[test]
    fn reads_the_engine_after_the_path() {
        assert_eq!(dialect(r#""migrations""#), Ok(Dialect::Portable));
        assert_eq!(dialect(r#""migrations","#), Ok(Dialect::Portable));
        assert_eq!(dialect(r#""migrations", engine = "mysql""#), Ok(Dialect::Mysql));
        assert_eq!(dialect(r#""migrations", engine = "MariaDB","#), Ok(Dialect::Mysql));
        assert_eq!(dialect(r#""migrations", engine = "postgres""#), Ok(Dialect::Portable));
    }

    #[test]
    fn refuses_what_it_cannot_read_and_keeps_the_path() {
        for (input, message) in [
            (r#""migrations", engine = "oracle""#, "unknown engine `oracle`"),
            (r#""migrations", dialect = "mysql""#, "unknown option `dialect`"),
            (r#""migrations", engine = mysql"#, "expected `engine = \\\"NAME\\\"`"),
            (r#""migrations", engine = "mysql", engine = "mysql""#, "given twice"),
            (r#""migrations" engine"#, "expected `,`"),
            (r#""migrations", engine = 'm'"#, "must be a string literal"),
        ] {
            let Err(invalid) = parse(input.parse().unwrap()) else { panic!("{input} parsed") };
            let errors = invalid.errors.to_string();
            assert!(errors.contains(message), "{input}: {errors}");
            assert_eq!(invalid.path.map(|(path, _)| path).as_deref(), Some("migrations"), "{input}");
        }
        assert!(parse("migrations".parse().unwrap()).is_err_and(|invalid| invalid.path.is_none()));
    }

    #[test]
    fn reads_plain_raw_and_escaped_literals() {
        assert_eq!(unquote("\"migrations\"").as_deref(), Some("migrations"));
        assert_eq!(unquote("r#\"a\"b\"#").as_deref(), Some("a\"b"));
        assert_eq!(unquote("r\"x\\y\"").as_deref(), Some("x\\y"));
        assert_eq!(unquote("\"a\\\\b\\u{e9}\\x41\"").as_deref(), Some("a\\béA"));
        assert_eq!(unquote("b\"bytes\""), None);
        assert_eq!(unquote("42"), None);
    }
}

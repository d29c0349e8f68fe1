//! Reading the macro's one argument, a string literal.

use proc_macro2::{Delimiter, Span, TokenStream, TokenTree};

/// The string value of the single literal in `input`, with its span; the
/// span of the offending tokens otherwise.
pub fn path(input: TokenStream) -> Result<(String, Span), Span> {
    let mut tokens: Vec<TokenTree> = input.into_iter().collect();
    // macro_rules! forwarding may wrap the literal in an invisible group.
    while let [TokenTree::Group(g)] = tokens.as_slice() {
        if g.delimiter() != Delimiter::None {
            break;
        }
        tokens = g.stream().into_iter().collect();
    }
    match tokens.as_slice() {
        [TokenTree::Literal(lit)] => unquote(&lit.to_string()).map(|s| (s, lit.span())).ok_or(lit.span()),
        [] => Err(Span::call_site()),
        [first, ..] => Err(first.span()),
    }
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
    use super::unquote;

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

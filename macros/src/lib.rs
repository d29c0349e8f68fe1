//! The `embed_migrations!` macro of [ebbtide](https://docs.rs/ebbtide).
//!
//! Use it through `ebbtide::embed_migrations!`, not from this crate. It
//! reads the migrations directory while the crate compiles, applies every
//! rule of `ebbtide-core` (turning each problem into a compile error), and
//! emits a module holding the static, typed list of migrations.
//!
//! The macro's only input is a string literal, so it parses it by hand
//! instead of pulling in `syn`: one fewer heavy crate in every build.

mod cache;
mod expand;
mod input;

use proc_macro::TokenStream;

/// Embeds a migrations directory; see `ebbtide::embed_migrations!`.
#[proc_macro]
pub fn embed_migrations(input: TokenStream) -> TokenStream {
    match input::path(input.into()) {
        Ok((path, span)) => expand::embed(&path, span).into(),
        Err(span) => expand::compile_error(
            "expected the migrations directory as a string literal, relative to Cargo.toml: `embed_migrations!(\"migrations\")`",
            span,
        )
        .into(),
    }
}

//! The `embed_migrations!` macro of [ebbtide](https://docs.rs/ebbtide).
//!
//! Use it through `ebbtide::embed_migrations!`, not from this crate. It
//! reads the migrations directory while the crate compiles, applies every
//! rule of `ebbtide-core` (turning each problem into a compile error), and
//! emits a module holding the static, typed list of migrations.
//!
//! Its input is a string literal and an optional `engine = "NAME"`, which
//! it parses by hand instead of pulling in `syn`: one fewer heavy crate in
//! every build.

mod cache;
mod expand;
mod input;

use proc_macro::TokenStream;

/// Embeds a migrations directory; see `ebbtide::embed_migrations!`.
#[proc_macro]
pub fn embed_migrations(input: TokenStream) -> TokenStream {
    match input::parse(input.into()) {
        Ok(input) => expand::embed(&input).into(),
        Err(invalid) => expand::refused(invalid).into(),
    }
}

//! The `embed_migrations!` macro of [ebbtide](https://docs.rs/ebbtide).
//!
//! Use it through `ebbtide::embed_migrations!`, not from this crate. It
//! reads the migrations directory while the crate compiles, applies every
//! rule of `ebbtide-core` (turning each problem into a compile error), and
//! emits a module holding the static, typed list of migrations.

mod expand;

use proc_macro::TokenStream;

/// Embeds a migrations directory; see `ebbtide::embed_migrations!`.
#[proc_macro]
pub fn embed_migrations(input: TokenStream) -> TokenStream {
    let path = syn::parse_macro_input!(input as syn::LitStr);
    expand::embed(&path).into()
}

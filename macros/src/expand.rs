//! Code generation: core's diagnostics become `compile_error!`s, a valid
//! directory becomes `mod migrations { ... }`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use ebbtide_core::{Diagnostics, Dialect, load_with, packed};
use proc_macro2::{Literal, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};

use crate::cache;
use crate::input::{Input, Invalid};

/// `compile_error!(message)`, pointing at `span`.
pub fn compile_error(message: &str, span: Span) -> TokenStream {
    quote_spanned!(span=> ::core::compile_error! { #message })
}

/// Arguments that do not parse: their errors, and beside them, when the
/// directory was named, the module its file names give (see `fallback`).
pub fn refused(invalid: Invalid) -> TokenStream {
    let Invalid { errors, path } = invalid;
    let fallback = match (path, std::env::var_os("CARGO_MANIFEST_DIR")) {
        (Some((relative, span)), Some(manifest_dir)) => {
            let display = relative.trim_start_matches("./").trim_end_matches('/');
            fallback(&Path::new(&manifest_dir).join(&relative), display, span)
        }
        _ => TokenStream::new(),
    };
    quote! { #errors #fallback }
}

pub fn embed(input: &Input) -> TokenStream {
    let Input { path: relative, span, dialect } = input;
    let (span, dialect) = (*span, *dialect);
    let Some(manifest_dir) = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from) else {
        return compile_error("CARGO_MANIFEST_DIR is not set: build this crate with cargo", span);
    };
    let display = relative.trim_start_matches("./").trim_end_matches('/');
    let dir = manifest_dir.join(relative);

    // Cargo sets OUT_DIR exactly when the package has a build script.
    let out_dir = std::env::var_os("OUT_DIR").map(PathBuf::from);
    let build_script = std::fs::read_to_string(manifest_dir.join("build.rs")).ok();
    let warning = missing_build_script(out_dir.is_some(), build_script.as_deref(), display, span);
    let tracked_by_build_script = out_dir.is_some()
        && build_script.is_some_and(|text| {
            text.contains(&format!("rerun-if-changed={display}\""))
                || text.contains(&format!("rerun-if-changed={display}/\""))
        });
    // An unchanged directory expands as it did last time (see `cache`).
    let (cache_name, extra) = cache_slot(display, tracked_by_build_script, dialect);
    let cache = match (&out_dir, &warning) {
        (Some(out_dir), None) => cache::key(&dir, &extra).map(|key| (out_dir, key)),
        _ => None,
    };
    if let Some((out_dir, key)) = &cache
        && let Some(expansion) = cache::load(out_dir, &cache_name, key)
    {
        return expansion;
    }

    let loaded = match load_with(&dir, display, dialect) {
        Ok(loaded) => loaded,
        Err(diags) => {
            // Every problem at once, each as its own error.
            let errors: TokenStream = diags.errors().map(|d| compile_error(&d.to_string(), span)).collect();
            let fallback = fallback(&dir, display, span);
            return quote! { #errors #fallback };
        }
    };

    // Every embedded file, so that editing one rebuilds the crate. A build
    // script watching the directory already does that for every file in it,
    // new ones included, and costs the build nothing here.
    let includes = match tracked_by_build_script {
        true => TokenStream::new(),
        false => {
            let files = loaded.files.iter().map(|f| Literal::string(&f.to_string_lossy()));
            quote! { const _: &[&[u8]] = &[#(::core::include_bytes!(#files)),*]; }
        }
    };
    let names: Vec<(u32, String)> = loaded.migrations.iter().map(|m| (m.version.get(), m.name.to_string())).collect();
    let (text, table) = packed::pack(&loaded.migrations);
    let warnings = migration_warnings(&loaded.warnings, span);
    let warnings = match warning {
        Some(warning) => quote! { #warning #warnings },
        None => warnings,
    };
    let expansion = module(&module_doc(display), &names, &text, &table, includes, Some(warnings), span);
    if let Some((out_dir, key)) = &cache {
        cache::store(out_dir, &cache_name, key, &expansion);
    }
    expansion
}

/// The name an expansion is kept under, and what besides the directory
/// its key holds. Read in another dialect, the same files may split
/// otherwise: the dialect is part of the key, and of the name, so that a
/// crate embedding one directory for two engines keeps both.
fn cache_slot(display: &str, tracked_by_build_script: bool, dialect: Dialect) -> (String, String) {
    let name = match dialect {
        Dialect::Portable => display.to_string(),
        other => format!("{display}\n{}", other.as_str()),
    };
    (name, format!("{display}\n{tracked_by_build_script}\n{}", dialect.as_str()))
}

fn module_doc(display: &str) -> String {
    format!("The migrations embedded from `{display}/` at build time.")
}

/// What stands beside the errors of a directory that cannot be embedded: a
/// module with every version the file names give, so that the crate's uses
/// of `migrations::...` add no error of their own.
fn fallback(dir: &Path, display: &str, span: Span) -> TokenStream {
    let mut versions = ebbtide_core::versions_named(dir);
    versions.dedup_by_key(|(version, _)| *version);
    let names: Vec<(u32, String)> = versions.into_iter().map(|(v, name)| (v.get(), name)).collect();
    module(&module_doc(display), &names, "", &packed::pack(&[]).1, TokenStream::new(), None, span)
}

/// `mod migrations`: the `Versions` enum, one variant per `(version,
/// name)`, and `MIGRATIONS`, the packed list.
fn module(
    doc: &str,
    names: &[(u32, String)],
    text: &str,
    table: &[u8],
    includes: TokenStream,
    warning: Option<TokenStream>,
    span: Span,
) -> TokenStream {
    // The variants are written as source text and parsed once, two tokens
    // each where versions run from 1 without gaps: every token crossing the
    // compiler's proc-macro bridge costs, and at thousands of migrations
    // they were most of the build time of the expansion.
    let mut variants = String::with_capacity(names.len() * 24);
    let contiguous = names.iter().enumerate().all(|(i, (version, _))| *version as usize == i + 1);
    for (version, name) in names {
        let _ = write!(variants, "V{version:04}_{}", name.to_ascii_uppercase());
        if !contiguous || *version == 1 {
            let _ = write!(variants, " = {version}");
        }
        variants.push_str(",\n");
    }
    let variants: TokenStream = match variants.parse() {
        Ok(variants) => variants,
        Err(e) => return compile_error(&format!("ebbtide: generated code does not parse: {e}"), span),
    };
    let (repr, version) = match names.is_empty() {
        true => (TokenStream::new(), quote!(match self {})),
        false => (quote!(#[repr(u32)]), quote!(::ebbtide::Version::new(self as u32))),
    };
    let text = Literal::string(text);
    let table = Literal::byte_string(table);
    quote! {
        #[doc = #doc]
        #[allow(dead_code)]
        pub mod migrations {
            #includes
            /// The version of each embedded migration, named after its file
            /// (`V0003_ADD_USERS_EMAIL` is `migrations/*/0003_add_users_email.sql`): a target for
            /// `upgrade`, `downgrade` and `goto`, and anything else that takes an `ebbtide::Version`.
            #[allow(non_camel_case_types)]
            #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
            #repr
            pub enum Versions {
                #variants
            }
            pub use self::Versions::*;
            impl Versions {
                /// The version, as every operation takes it.
                pub const fn version(self) -> ::ebbtide::Version {
                    #version
                }
            }
            impl ::core::convert::From<Versions> for ::ebbtide::Version {
                fn from(v: Versions) -> Self {
                    v.version()
                }
            }
            impl ::core::fmt::Debug for Versions {
                fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    MIGRATIONS.fmt_constant(self.version(), f)
                }
            }
            static PACKED: ::ebbtide::Packed = ::ebbtide::Packed::new(#text, #table);
            /// Every embedded migration, in version order.
            pub static MIGRATIONS: ::ebbtide::Migrations = ::ebbtide::Migrations::from_packed(&PACKED);
            #warning
        }
    }
}

/// Cargo cannot know that a new file in the migrations directory matters,
/// unless a build script says so. Without one, warn at build time.
fn missing_build_script(
    has_build_script: bool,
    build_rs: Option<&str>,
    display: &str,
    span: Span,
) -> Option<TokenStream> {
    let warn = match build_rs {
        // A build script that lists what it watches must list the directory;
        // one that lists nothing reruns on any change in the package.
        Some(text) => has_build_script && text.contains("rerun-if-changed") && !text.contains(display),
        // No build.rs: fine only if the package names another build script.
        None => !has_build_script,
    };
    if !warn {
        return None;
    }
    let note = format!(
        "migrations added to or removed from `{display}/` will not rebuild this crate: \
         add a build.rs beside Cargo.toml containing \
         `fn main() {{ println!(\"cargo:rerun-if-changed={display}\"); }}`"
    );
    // Stable Rust has no warning API for proc macros; using a deprecated
    // item is the established way to make rustc print one. A `u8`, not
    // `()`: clippy would add a warning of its own about a unit binding.
    let use_it = quote_spanned!(span=> let _ = ebbtide_needs_build_rs;);
    Some(quote! {
        #[allow(non_snake_case)]
        fn __ebbtide_build_rs_warning() {
            #[deprecated(note = #note)]
            #[allow(non_upper_case_globals)]
            const ebbtide_needs_build_rs: u8 = 0;
            #use_it
        }
    })
}

/// core's warnings about the migrations (a MySQL migration that can fail
/// half-way), each printed by rustc at build time, as the missing build
/// script's warning is: the use of a deprecated item whose note is the
/// warning, with its file and line.
fn migration_warnings(diagnostics: &Diagnostics, span: Span) -> TokenStream {
    diagnostics
        .warnings()
        .enumerate()
        .map(|(i, warning)| {
            let note = warning.to_string();
            let function = format_ident!("__ebbtide_migration_warning_{}", i);
            let use_it = quote_spanned!(span=> let _ = ebbtide_migration_warning;);
            quote! {
                #[allow(non_snake_case)]
                fn #function() {
                    #[deprecated(note = #note)]
                    #[allow(non_upper_case_globals)]
                    const ebbtide_migration_warning: u8 = 0;
                    #use_it
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mysql_expansion_is_kept_apart_from_a_portable_one() {
        let (portable_name, portable_key) = cache_slot("migrations", true, Dialect::Portable);
        let (mysql_name, mysql_key) = cache_slot("migrations", true, Dialect::Mysql);
        assert_ne!(portable_name, mysql_name);
        assert_ne!(portable_key, mysql_key);
        assert_eq!(portable_name, "migrations", "the portable expansion keeps its file");
    }
}

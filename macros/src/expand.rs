//! Code generation: core's diagnostics become `compile_error!`s, a valid
//! directory becomes `mod migrations { ... }`.

use std::path::{Path, PathBuf};

use ebbtide_core::{Branch, Migration, Script, load};
use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};

/// `compile_error!(message)`, pointing at `span`.
pub fn compile_error(message: &str, span: Span) -> TokenStream {
    quote_spanned!(span=> ::core::compile_error! { #message })
}

pub fn embed(relative: &str, span: Span) -> TokenStream {
    let Some(manifest_dir) = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from) else {
        return compile_error("CARGO_MANIFEST_DIR is not set: build this crate with cargo", span);
    };
    let display = relative.trim_start_matches("./").trim_end_matches('/');
    let dir = manifest_dir.join(relative);
    let loaded = match load(&dir, display) {
        Ok(loaded) => loaded,
        // Every problem at once, each as its own error.
        Err(diags) => return diags.errors().map(|d| compile_error(&d.to_string(), span)).collect(),
    };

    let tracked = loaded.files.iter().map(|f| {
        let f = f.to_string_lossy();
        quote! { ::core::include_bytes!(#f) }
    });
    let constants = loaded.migrations.iter().map(|m| {
        let ident = format_ident!("V{}_{}", m.version.to_string(), m.name.to_ascii_uppercase());
        let number = m.version.get();
        let doc = format!(
            "Version {} ({} migration `{}`), a target for `upgrade`, `downgrade` and `goto`.",
            m.version, m.branch, m.up.path
        );
        quote! {
            #[doc = #doc]
            pub const #ident: ::ebbtide::Version = ::ebbtide::Version::new(#number);
        }
    });
    let list = loaded.migrations.iter().map(migration);
    let warning = missing_build_script(&manifest_dir, display, span);
    let module_doc = format!("The migrations embedded from `{display}/` at build time.");
    let count = loaded.migrations.len();

    quote! {
        #[doc = #module_doc]
        #[allow(dead_code)]
        pub mod migrations {
            // Every embedded file, so that editing one rebuilds the crate.
            const _: &[&[u8]] = &[#(#tracked),*];

            #(#constants)*

            /// Every embedded migration, in version order.
            pub static MIGRATIONS: ::ebbtide::Migrations = ::ebbtide::Migrations::from_static(&MIGRATION_LIST);

            static MIGRATION_LIST: [::ebbtide::Migration; #count] = [#(#list),*];

            #warning
        }
    }
}

fn migration(m: &Migration) -> TokenStream {
    let number = m.version.get();
    let branch = match m.branch {
        Branch::Initial => quote!(Initial),
        Branch::Expand => quote!(Expand),
        Branch::Contract => quote!(Contract),
    };
    let name = m.name.as_ref();
    let checksum = m.checksum.as_ref();
    let fingerprint = m.fingerprint.as_ref();
    let up = script(&m.up);
    let down = match &m.down {
        Some(down) => {
            let down = script(down);
            quote!(::core::option::Option::Some(#down))
        }
        None => quote!(::core::option::Option::None),
    };
    quote! {
        ::ebbtide::Migration {
            version: ::ebbtide::Version::new(#number),
            branch: ::ebbtide::Branch::#branch,
            name: ::std::borrow::Cow::Borrowed(#name),
            checksum: ::std::borrow::Cow::Borrowed(#checksum),
            fingerprint: ::std::borrow::Cow::Borrowed(#fingerprint),
            up: #up,
            down: #down,
        }
    }
}

fn script(s: &Script) -> TokenStream {
    let path = s.path.as_ref();
    let sql = s.sql.as_ref();
    let statements = s.statements.iter().map(|st| {
        let (start, end, line) = (st.start, st.end, st.line);
        quote!(::ebbtide::Statement { start: #start, end: #end, line: #line })
    });
    let no_transaction = s.no_transaction;
    let lock_timeout = match s.lock_timeout_ms {
        Some(ms) => quote!(::core::option::Option::Some(#ms)),
        None => quote!(::core::option::Option::None),
    };
    quote! {
        ::ebbtide::Script {
            path: ::std::borrow::Cow::Borrowed(#path),
            sql: ::std::borrow::Cow::Borrowed(#sql),
            statements: ::std::borrow::Cow::Borrowed(&[#(#statements),*]),
            no_transaction: #no_transaction,
            lock_timeout_ms: #lock_timeout,
        }
    }
}

/// Cargo cannot know that a new file in the migrations directory matters,
/// unless a build script says so. Without one, warn at build time.
fn missing_build_script(manifest_dir: &Path, display: &str, span: Span) -> Option<TokenStream> {
    // Cargo sets OUT_DIR exactly when the package has a build script.
    let has_build_script = std::env::var_os("OUT_DIR").is_some();
    let warn = match std::fs::read_to_string(manifest_dir.join("build.rs")) {
        // A build script that lists what it watches must list the directory;
        // one that lists nothing reruns on any change in the package.
        Ok(text) => has_build_script && text.contains("rerun-if-changed") && !text.contains(display),
        // No build.rs: fine only if the package names another build script.
        Err(_) => !has_build_script,
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
    // item is the established way to make rustc print one.
    let use_it = quote_spanned!(span=> let _ = ebbtide_needs_build_rs;);
    Some(quote! {
        #[allow(non_snake_case)]
        fn __ebbtide_build_rs_warning() {
            #[deprecated(note = #note)]
            #[allow(non_upper_case_globals)]
            const ebbtide_needs_build_rs: () = ();
            #use_it
        }
    })
}

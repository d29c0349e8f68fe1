//! Code generation: core's diagnostics become `compile_error!`s, a valid
//! directory becomes `mod migrations { ... }`.

use std::fmt::Write as _;
use std::path::PathBuf;

use ebbtide_core::{Migration, load, packed};
use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};

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

    // Cargo sets OUT_DIR exactly when the package has a build script.
    let has_build_script = std::env::var_os("OUT_DIR").is_some();
    let build_script = std::fs::read_to_string(manifest_dir.join("build.rs")).ok();
    let warning = missing_build_script(has_build_script, build_script.as_deref(), display, span);
    let tracked_by_build_script = has_build_script
        && build_script.is_some_and(|text| {
            text.contains(&format!("rerun-if-changed={display}\""))
                || text.contains(&format!("rerun-if-changed={display}/\""))
        });
    let module_doc = format!("The migrations embedded from `{display}/` at build time.");
    // Written as source text and parsed once: tens of thousands of tokens
    // built one by one through the compiler's proc-macro bridge are most of
    // a large directory's build time.
    let body: TokenStream = match module_body(&loaded.files, &loaded.migrations, tracked_by_build_script).parse() {
        Ok(body) => body,
        Err(e) => return compile_error(&format!("ebbtide: generated code does not parse: {e}"), span),
    };
    quote! {
        #[doc = #module_doc]
        #[allow(dead_code)]
        pub mod migrations {
            #body
            #warning
        }
    }
}

fn module_body(files: &[PathBuf], migrations: &[Migration], tracked_by_build_script: bool) -> String {
    let (text, table) = packed::pack(migrations);
    let mut code = String::with_capacity(text.len() * 2 + table.len() * 4 + migrations.len() * 150);
    if !tracked_by_build_script {
        // Every embedded file, so that editing one rebuilds the crate. A
        // build script watching the directory already does that for every
        // file in it, new ones included, and costs the build nothing here.
        code.push_str("const _: &[&[u8]] = &[");
        for file in files {
            let _ = write!(code, "::core::include_bytes!({:?}),", file.to_string_lossy());
        }
        code.push_str("];\n");
    }
    // The versions as one enum, re-exported variant by variant: a `const`
    // per migration costs the compiler a body to check for each, which for
    // thousands of migrations was most of the build time of the expansion.
    code.push_str(
        "/// The version of each embedded migration, named after its file: a target for `upgrade`, \
         `downgrade` and `goto`, and anything else that takes an `ebbtide::Version`.\n\
         #[allow(non_camel_case_types)]\n\
         #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]\n\
         #[repr(u32)]\n\
         pub enum Versions {\n",
    );
    for m in migrations {
        let _ = writeln!(
            code,
            "    #[doc = \"Version {} ({} migration `{}`).\"] V{}_{}{},",
            m.version,
            m.branch,
            m.up.path.escape_default(),
            m.version,
            m.name.to_ascii_uppercase(),
            if m.version.get() == 1 { " = 1" } else { "" },
        );
    }
    let version = if migrations.is_empty() { "match self {}" } else { "::ebbtide::Version::new(self as u32)" };
    let _ = write!(
        code,
        "}}\n\
         pub use self::Versions::*;\n\
         impl Versions {{\n\
             /// The version, as every operation takes it.\n\
             pub const fn version(self) -> ::ebbtide::Version {{ {version} }}\n\
         }}\n\
         impl ::core::convert::From<Versions> for ::ebbtide::Version {{\n\
             fn from(v: Versions) -> Self {{ v.version() }}\n\
         }}\n\
         impl ::core::fmt::Debug for Versions {{\n\
             fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {{ ::core::fmt::Debug::fmt(&self.version(), f) }}\n\
         }}\n\
         static PACKED: ::ebbtide::Packed = ::ebbtide::Packed::new({text:?}, {});\n\
         /// Every embedded migration, in version order.\n\
         pub static MIGRATIONS: ::ebbtide::Migrations = ::ebbtide::Migrations::from_packed(&PACKED);\n",
        byte_string(&table)
    );
    code
}

/// `b"..."`: printable ASCII as itself, every other byte escaped.
fn byte_string(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2 + 3);
    out.push_str("b\"");
    for &b in bytes {
        match b {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(b as char);
            }
            0x20..=0x7e => out.push(b as char),
            _ => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
    out.push('"');
    out
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

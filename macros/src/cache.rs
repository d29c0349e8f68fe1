//! The expansion, kept for the next build of the same crate.
//!
//! Cargo recompiles a crate, and so expands `embed_migrations!` again,
//! whenever any of its source files changes, while its migrations seldom
//! do. Checking thousands of migrations in a debug-built macro takes a
//! good part of a second; so a valid directory's expansion is kept in the
//! crate's `OUT_DIR` (there when it has a build script, as README asks),
//! under a key that changes with anything that could change it: every
//! entry of the directory (path, size, modification time), what else the
//! expansion reads (the engine's SQL dialect among it), and the macro's own
//! build (the shared object rustc
//! loaded it from, which every change of ebbtide-macros or ebbtide-core
//! rebuilds). Where the platform does not say which file the macro was
//! loaded from, nothing is kept.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use proc_macro2::TokenStream;

/// The key of an expansion of `dir`, with `extra` (what else the
/// expansion depends on); `None` when it cannot be known for sure.
pub fn key(dir: &Path, extra: &str) -> Option<String> {
    let mut key = format!("{}\n{extra}\n{}\n", env!("CARGO_PKG_VERSION"), this_build()?);
    let mut entries = listing(dir, Path::new(""))?;
    entries.sort();
    for (relative, is_dir) in entries {
        let path = dir.join(&relative);
        let stamp = stamp_of(&path)?;
        let _ = writeln!(key, "{}\t{stamp}", relative.display());
        if is_dir {
            let mut inner = listing(&path, &relative)?;
            inner.sort();
            for (file, _) in inner {
                let _ = writeln!(key, "{}\t{}", file.display(), stamp_of(&dir.join(&file))?);
            }
        }
    }
    Some(key)
}

/// The expansion kept under `key`, if any.
pub fn load(out_dir: &Path, name: &str, key: &str) -> Option<TokenStream> {
    let text = std::fs::read_to_string(file(out_dir, name)).ok()?;
    let (kept, expansion) = text.split_once(SEPARATOR)?;
    if kept != key {
        return None;
    }
    expansion.parse().ok()
}

/// Keeps an expansion under `key`; a failure only costs the next build.
pub fn store(out_dir: &Path, name: &str, key: &str, expansion: &TokenStream) {
    let path = file(out_dir, name);
    let temporary = path.with_extension("tmp");
    let text = format!("{key}{SEPARATOR}{expansion}");
    if std::fs::write(&temporary, text).is_ok() {
        let _ = std::fs::rename(&temporary, &path);
    }
}

const SEPARATOR: &str = "\n--- expansion ---\n";

/// The entries of `dir`, as paths under `prefix`, with whether each is a
/// directory.
fn listing(dir: &Path, prefix: &Path) -> Option<Vec<(PathBuf, bool)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).ok()? {
        let entry = entry.ok()?;
        let is_dir = entry.file_type().ok()?.is_dir();
        out.push((prefix.join(entry.file_name()), is_dir));
    }
    Some(out)
}

/// Size and modification time of `path`, following symbolic links.
fn stamp_of(path: &Path) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    let modified = meta.modified().ok()?.duration_since(UNIX_EPOCH).ok()?;
    Some(format!("{}\t{}", meta.len(), modified.as_nanos()))
}

/// The file that keeps the expansion of the directory named `name`.
fn file(out_dir: &Path, name: &str) -> PathBuf {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    out_dir.join(format!("ebbtide-migrations-{hash:016x}.expansion"))
}

/// The shared object this macro was loaded from, with its size and
/// modification time: read from the process's memory map, where the code
/// of this very function lies.
#[cfg(target_os = "linux")]
fn this_build() -> Option<String> {
    let here = this_build as *const () as usize;
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    for line in maps.lines() {
        let mut fields = line.split_whitespace();
        let (range, path) = (fields.next()?, fields.nth(4));
        let (start, end) = range.split_once('-')?;
        let (start, end) = (usize::from_str_radix(start, 16).ok()?, usize::from_str_radix(end, 16).ok()?);
        if (start..end).contains(&here) {
            let path = path?;
            return Some(format!("{path}\t{}", stamp_of(Path::new(path))?));
        }
    }
    None
}

#[cfg(not(target_os = "linux"))]
fn this_build() -> Option<String> {
    None
}

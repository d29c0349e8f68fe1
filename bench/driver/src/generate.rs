//! The generator: N synthetic migrations, `CREATE TABLE tN (...)` plus an
//! index, written in every tool's layout.

use std::io;
use std::path::{Path, PathBuf};

/// The layouts, by directory name.
pub const LAYOUTS: &[&str] = &["ebbtide", "refinery", "flat", "diesel"];

/// The SQL of migration `i` (1-based). Valid on SQLite, PostgreSQL and
/// MySQL (MariaDB) alike: `INTEGER PRIMARY KEY`, `TEXT` and a plain
/// `CREATE INDEX` mean a table and an index on each, and nothing in it is
/// one engine's dialect, so one set of files serves all three.
pub fn sql(i: usize) -> String {
    format!(
        "CREATE TABLE t{i:05} (id INTEGER PRIMARY KEY, a INTEGER NOT NULL, b TEXT);\n\
         CREATE INDEX t{i:05}_a ON t{i:05} (a);\n"
    )
}

/// The name after the version: `create_t00001`.
pub fn name(i: usize) -> String {
    format!("create_t{i:05}")
}

/// Writes migration `i` of one layout under `dir` (the layout's own root).
pub fn write_one(layout: &str, dir: &Path, i: usize) -> io::Result<()> {
    let (path, body) = match layout {
        // ebbtide: one global sequence; every synthetic migration is additive,
        // so it belongs to expand/.
        "ebbtide" => (dir.join("expand").join(format!("{i:05}_{}.sql", name(i))), sql(i)),
        // refinery: V{version}__{name}.sql
        "refinery" => (dir.join(format!("V{i}__{}.sql", name(i))), sql(i)),
        // sqlx and the raw floors: {version}_{description}.sql
        "flat" => (dir.join(format!("{i:05}_{}.sql", name(i))), sql(i)),
        // diesel: {version}_{name}/up.sql
        "diesel" => (dir.join(format!("{i:05}_{}", name(i))).join("up.sql"), sql(i)),
        other => return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("unknown layout {other}"))),
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, body)
}

/// Writes `n` migrations in `layout` under `dir`, replacing what was there.
pub fn write_layout(layout: &str, dir: &Path, n: usize) -> io::Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    std::fs::create_dir_all(dir)?;
    if layout == "ebbtide" {
        std::fs::create_dir_all(dir.join("expand"))?;
        std::fs::create_dir_all(dir.join("contract"))?;
    }
    for i in 1..=n {
        write_one(layout, dir, i)?;
    }
    Ok(())
}

/// `root/n{N}/{layout}` for every layout, written once and reused (a
/// `complete` file marks a finished set).
pub fn ensure(root: &Path, n: usize) -> io::Result<PathBuf> {
    let set = root.join(format!("n{n}"));
    let done = set.join("complete");
    if done.exists() {
        return Ok(set);
    }
    for layout in LAYOUTS {
        write_layout(layout, &set.join(layout), n)?;
    }
    std::fs::write(done, format!("{n}\n"))?;
    Ok(set)
}

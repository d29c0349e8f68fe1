//! `ebbtide revision`: the next migration file of a branch.

use std::path::{Path, PathBuf};

use crate::Branch;

/// Creates `NNNN_slug.sql` (and `.down.sql`) in the branch directory, with
/// the next version after every file of every branch; `body`, when given,
/// is the up script after its first line.
pub fn revision(
    dir: &Path,
    branch: Branch,
    message: &str,
    reversible: bool,
    release: Option<&str>,
    body: Option<&str>,
) -> Result<Vec<PathBuf>, String> {
    if let Some(name) = release
        && !name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
    {
        return Err(format!("the release name {name:?} is not letters, digits, `.`, `-` and `_`"));
    }
    let mut slug = String::new();
    for c in message.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('_') {
            slug.push('_');
        }
    }
    let slug = slug.trim_end_matches('_');
    if slug.is_empty() {
        return Err(format!("the message {message:?} gives no name: use letters or digits"));
    }
    let mut latest = 0;
    for b in Branch::ALL {
        let Ok(entries) = std::fs::read_dir(dir.join(b.as_str())) else { continue };
        for entry in entries.flatten() {
            if let Ok(parsed) = ebbtide_core::name::parse(&entry.file_name().to_string_lossy()) {
                latest = latest.max(parsed.version.get());
            }
        }
    }
    let branch_dir = dir.join(branch.as_str());
    std::fs::create_dir_all(&branch_dir).map_err(|e| format!("cannot create {}: {e}", branch_dir.display()))?;
    let stem = format!("{:04}_{slug}", latest + 1);
    let rules = match branch {
        Branch::Contract => {
            "-- Contract migration: runs once no instance of the previous release is left.\n\
             -- Only destructive changes: DROP, SET NOT NULL, type changes, UPDATE/DELETE of old data.\n\
             -- Nothing the new release needs may be created here: that belongs in expand/.\n"
        }
        _ => {
            "-- Expand migration: runs while the previous release still serves.\n\
             -- Only additive changes: CREATE, ADD COLUMN (nullable or with a DEFAULT), INSERT,\n\
             -- and backfills of columns or tables that expand migrations added.\n\
             -- Drops, renames and type changes belong in contract/.\n"
        }
    };
    let up = branch_dir.join(format!("{stem}.sql"));
    let mut created = vec![up.clone()];
    let body = match body {
        Some(body) => body.to_string(),
        None => format!("{rules}{}\n", ebbtide_core::TEMPLATE_MARK),
    };
    let release = release.map(|name| format!("-- ebbtide: release {name}\n")).unwrap_or_default();
    write_new(&up, &format!("-- {message}\n{release}{body}\n"))?;
    if reversible {
        let down = branch_dir.join(format!("{stem}.down.sql"));
        write_new(&down, &format!("-- Reverts {stem}: {message}\n\n"))?;
        created.push(down);
    }
    Ok(created)
}

fn write_new(path: &Path, text: &str) -> Result<(), String> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    file.write_all(text.as_bytes()).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

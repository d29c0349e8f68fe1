//! Reading a migrations directory: the scan, every file-level and
//! sequence-level rule, and the branch rules applied statement by statement.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use crate::backfill::{self, Backfill};
use crate::checksum;
use crate::classify;
use crate::classify::{Change, Restriction};
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::directive;
use crate::lexer::{self, Dialect, TokenKind, line_of};
use crate::lint;
use crate::migration::{Branch, Migration, Script, Statement, Version};
use crate::name::{self, Direction};
use crate::rules::{self, Catalog, Current};
use crate::split;

/// The last line of the template `ebbtide revision` writes: a migration
/// that still holds it and no statement was never filled in.
pub const TEMPLATE_MARK: &str = "-- Write the SQL of this migration below.";

/// The largest script ebbtide reads (16 MiB). A bigger file is almost
/// certainly data that belongs in a load job, not in a binary.
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// A successfully read migrations directory.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The migrations, in version order.
    pub migrations: Vec<Migration>,
    /// Every file read, as a path on disk (for rebuild tracking).
    pub files: Vec<PathBuf>,
    /// Advice that does not stop a build.
    pub warnings: Diagnostics,
}

/// What the scan of the branch directories found, before the sequence rules.
#[derive(Default)]
struct Scanned {
    ups: BTreeMap<Version, Vec<Found>>,
    downs: BTreeMap<Version, Vec<Found>>,
    /// Files refused for their name alone, as the name they meant parses:
    /// their versions are taken and their down scripts have a partner, so
    /// that one mistake is one error.
    meant: Vec<(Version, Branch, String)>,
}

/// One file found by the scan, before the sequence rules.
struct Found {
    version: Version,
    branch: Branch,
    name: String,
    display: String,
    disk: PathBuf,
    text: String,
}

/// Reads, checks and splits every migration under `dir`, as portable
/// (PostgreSQL and SQLite) SQL. `display` is how messages name `dir` (e.g.
/// `migrations`, relative to the crate root).
///
/// Every problem is collected; the result is an error when any of them is.
pub fn load(dir: &Path, display: &str) -> Result<Loaded, Diagnostics> {
    load_with(dir, display, Dialect::Portable)
}

/// [`load`], reading the scripts in `dialect`: which quotes and comments
/// hide a `;` depends on the engine (a MySQL `'it\'s;'` is one string).
pub fn load_with(dir: &Path, display: &str, dialect: Dialect) -> Result<Loaded, Diagnostics> {
    let mut diags = Diagnostics::default();
    let mut scanned = Scanned::default();
    let display = display.trim_end_matches('/');

    match fs::metadata(dir) {
        Err(_) => {
            diags.push(
                Diagnostic::error(display, "the migrations directory does not exist").help(
                    "create it with `expand/` and `contract/` subdirectories, or fix the path (embed_migrations! reads it relative to Cargo.toml)",
                ),
            );
            return Err(diags);
        }
        Ok(m) if !m.is_dir() => {
            diags.push(
                Diagnostic::error(display, "this path is a file, not a migrations directory")
                    .help("point at the directory that holds `expand/` and `contract/`"),
            );
            return Err(diags);
        }
        Ok(_) => {}
    }
    let root = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());

    for (entry_name, path) in read_sorted(dir, display, &mut diags) {
        let shown = format!("{display}/{entry_name}");
        let Some(meta) = checked_metadata(&root, &path, &shown, &mut diags) else {
            continue;
        };
        if meta.is_dir() {
            match Branch::parse(&entry_name) {
                Some(branch) => scan_branch(&root, &path, &shown, branch, &mut scanned, &mut diags),
                None => diags.push(Diagnostic::error(&shown, "unknown subdirectory of the migrations directory").help(
                    format!(
                        "migrations live in `initial/`, `expand/` and `contract/`{}",
                        closest_branch(&entry_name).map(|b| format!("; did you mean `{b}/`?")).unwrap_or_default()
                    ),
                )),
            }
        } else if entry_name == IMPORT_MAPPING {
            // `ebbtide import`'s record of where `initial/` came from.
        } else if name::is_sql_file(&entry_name) {
            diags.push(Diagnostic::error(&shown, "a migration outside a branch directory").help(
                "move it into `expand/` (additive changes), `contract/` (destructive changes) or `initial/` (history)",
            ));
        } else {
            diags.push(stray(&shown));
        }
    }

    let migrations = assemble(scanned, &mut diags);
    let mut files = Vec::new();
    let mut out = Vec::new();
    // A project that declares one release declares them all: then the
    // declarations alone delimit releases.
    let declared = migrations.iter().any(|(up, _)| release_declared(&up.text, dialect).is_some());
    let mut catalog = Catalog::new(declared);
    for (up, down) in migrations {
        let (version, branch) = (up.version, up.branch);
        files.push(up.disk.clone());
        let up_script = script(&up, dialect, &mut diags, Some(&mut catalog));
        let down_script = match &down {
            None => Some(None),
            Some(d) => {
                files.push(d.disk.clone());
                script(d, dialect, &mut diags, None).map(|(down, _)| Some(down))
            }
        };
        if let (Some((up_script, sum)), Some(down_script)) = (up_script, down_script) {
            out.push(Migration {
                version,
                branch,
                release: release_declared(&up.text, dialect).map(Cow::Owned),
                fingerprint: Cow::Owned(checksum::fingerprint(branch.as_str(), &up.name, &sum)),
                checksum: Cow::Owned(sum),
                name: Cow::Owned(up.name),
                up: up_script,
                down: down_script,
            });
        }
    }
    if diags.has_errors() {
        return Err(diags);
    }
    Ok(Loaded { migrations: out, files, warnings: diags })
}

/// The one file besides the branch directories that a migrations directory
/// may hold: what `ebbtide import` writes to record which migration of
/// another tool each `initial/` migration is.
pub const IMPORT_MAPPING: &str = "imported.json";

fn stray(shown: &str) -> Diagnostic {
    Diagnostic::error(shown, "a file that is not a migration").help(
        "migrations are `NNNN_snake_case_name.sql` (and `.down.sql`) files; move other files out of the migrations directory",
    )
}

/// Entries of a directory as (UTF-8 name, path), sorted, hidden files skipped.
fn read_sorted(dir: &Path, display: &str, diags: &mut Diagnostics) -> Vec<(String, PathBuf)> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            diags.push(Diagnostic::error(display, format!("cannot read the directory: {e}")));
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                diags.push(Diagnostic::error(display, format!("cannot read the directory: {e}")));
                continue;
            }
        };
        match entry.file_name().into_string() {
            Ok(name) if name.starts_with('.') => {}
            Ok(name) => out.push((name, entry.path())),
            Err(raw) => diags.push(
                Diagnostic::error(format!("{display}/{}", raw.to_string_lossy()), "the file name is not valid UTF-8")
                    .help("rename it to `NNNN_snake_case_name.sql`"),
            ),
        }
    }
    out.sort();
    out
}

/// Metadata of `path`, following symlinks, refusing links that lead
/// outside the migrations directory.
fn checked_metadata(root: &Path, path: &Path, shown: &str, diags: &mut Diagnostics) -> Option<fs::Metadata> {
    let link = fs::symlink_metadata(path).map(|m| m.file_type().is_symlink()).unwrap_or(false);
    if link {
        match fs::canonicalize(path) {
            Ok(target) if target.starts_with(root) => {}
            Ok(target) => {
                diags.push(
                    Diagnostic::error(
                        shown,
                        format!("a symbolic link to `{}`, outside the migrations directory", target.display()),
                    )
                    .help("copy the file into the migrations directory: a build must not depend on files elsewhere"),
                );
                return None;
            }
            Err(_) => {
                diags.push(Diagnostic::error(shown, "a broken symbolic link").help("remove it or point it at a file"));
                return None;
            }
        }
    }
    match fs::metadata(path) {
        Ok(m) => Some(m),
        Err(e) => {
            diags.push(Diagnostic::error(shown, format!("cannot read: {e}")));
            None
        }
    }
}

fn scan_branch(root: &Path, dir: &Path, display: &str, branch: Branch, scanned: &mut Scanned, diags: &mut Diagnostics) {
    for (file, path) in read_sorted(dir, display, diags) {
        let shown = format!("{display}/{file}");
        let Some(meta) = checked_metadata(root, &path, &shown, diags) else {
            continue;
        };
        if meta.is_dir() {
            diags.push(
                Diagnostic::error(&shown, "a directory inside a branch directory")
                    .help(format!("`{}/` holds migration files only; move its files up a level", branch)),
            );
            continue;
        }
        if !name::is_sql_file(&file) {
            diags.push(stray(&shown));
            continue;
        }
        let parsed = match name::parse(&file) {
            Ok(parsed) => parsed,
            Err(bad) => {
                if let Some(meant) = bad.suggestion.as_deref().and_then(|s| name::parse(s).ok())
                    && meant.direction == Direction::Up
                {
                    scanned.meant.push((meant.version, branch, meant.name));
                }
                let help = match bad.suggestion {
                    Some(s) => format!("rename it to `{s}`"),
                    None => "name it `NNNN_snake_case_name.sql` (or `.down.sql` for its down script)".into(),
                };
                diags.push(Diagnostic::error(&shown, format!("bad migration file name: {}", bad.reason)).help(help));
                continue;
            }
        };
        if meta.len() > MAX_FILE_BYTES {
            diags.push(
                Diagnostic::error(&shown, format!("the file is {} MiB; ebbtide reads scripts up to {} MiB", meta.len() >> 20, MAX_FILE_BYTES >> 20))
                    .help("load bulk data with a separate job (COPY, a seed tool) and keep migrations to schema and small data"),
            );
            continue;
        }
        let text = match fs::read(&path) {
            Err(e) => {
                diags.push(Diagnostic::error(&shown, format!("cannot read: {e}")));
                continue;
            }
            Ok(bytes) => match String::from_utf8(bytes) {
                // A byte-order mark some editors write: not part of the SQL.
                Ok(text) => match text.strip_prefix('\u{feff}') {
                    Some(rest) => rest.to_string(),
                    None => text,
                },
                Err(e) => {
                    let valid = e.utf8_error().valid_up_to();
                    let line = 1 + e.as_bytes()[..valid].iter().filter(|&&b| b == b'\n').count() as u32;
                    diags.push(
                        Diagnostic::error(&shown, format!("the file is not valid UTF-8 (byte {valid})"))
                            .at_line(line)
                            .help("save it as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)"),
                    );
                    continue;
                }
            },
        };
        let found = Found { version: parsed.version, branch, name: parsed.name, display: shown, disk: path, text };
        match parsed.direction {
            Direction::Up => scanned.ups.entry(parsed.version).or_default().push(found),
            Direction::Down => scanned.downs.entry(parsed.version).or_default().push(found),
        }
    }
}

/// Applies the sequence rules and pairs every up script with its down script.
fn assemble(scanned: Scanned, diags: &mut Diagnostics) -> Vec<(Found, Option<Found>)> {
    let Scanned { mut ups, mut downs, meant } = scanned;
    let meant_version = |v: Version| meant.iter().any(|(version, _, _)| *version == v);
    // Down scripts need an up script of the same version, name and branch.
    for (version, found) in &downs {
        for down in found {
            let partner =
                ups.get(version).and_then(|u| u.iter().find(|u| u.branch == down.branch && u.name == down.name));
            let meant = meant.iter().any(|(v, b, n)| v == version && *b == down.branch && *n == down.name);
            if partner.is_none() && !meant {
                let expected = down.display.replace(".down.sql", ".sql");
                diags.push(Diagnostic::error(&down.display, "a down script without its up script").help(format!(
                    "add `{expected}` beside it, or fix the down script's name so it matches its up script"
                )));
            }
        }
    }

    // The version a renumbered migration takes: the one after every version in use.
    let last = ups.keys().copied().chain(meant.iter().map(|(v, _, _)| *v)).max().unwrap_or(Version::ZERO);
    let mut next_free = u64::from(last.0) + 1;
    let mut out = Vec::new();
    let mut expected = 1u64;
    let mut last_initial: Option<(Version, String)> = None;
    let mut first_branched: Option<(Version, String)> = None;
    let versions: Vec<Version> = ups.keys().copied().collect();
    for (i, version) in versions.iter().copied().enumerate() {
        let mut found = ups.remove(&version).unwrap_or_default();
        while expected < u64::from(version.0) && meant_version(Version(expected as u32)) {
            expected += 1;
        }
        if u64::from(version.0) != expected {
            let missing = if u64::from(version.0) == expected + 1 {
                format!("version {:04} is missing", expected)
            } else {
                format!("versions {:04} to {:04} are missing", expected, version.0 - 1)
            };
            let after = if i + 1 < versions.len() { ", and renumber the files after it" } else { "" };
            let first = &found[0];
            diags.push(Diagnostic::error(&first.display, format!("a gap in the version sequence: {missing}")).help(
                format!(
                    "versions start at 1 and have no gaps across initial/, expand/ and contract/: rename it to {}{after}",
                    renamed(first, expected, &downs)
                ),
            ));
        }
        expected = u64::from(version.0) + 1;
        if found.len() > 1 {
            let others: Vec<&str> = found[1..].iter().map(|f| f.display.as_str()).collect();
            let extra = found.len() as u64 - 1;
            let free = match extra {
                1 => format!("the next free version, {:04}", next_free),
                _ => format!("the next free versions, {:04} to {:04}", next_free, next_free + extra - 1),
            };
            let which = if extra == 1 { "one of them" } else { "all but one of them" };
            diags.push(
                Diagnostic::error(&found[0].display, format!("version {version} is used more than once, also by {}", others.join(", ")))
                    .help(format!(
                        "every version belongs to exactly one migration, across all branches; give {which} {free} (e.g. rename this file to {})",
                        renamed(&found[0], next_free, &downs)
                    )),
            );
            next_free += extra;
        }
        let up = found.swap_remove(0);
        if up.branch == Branch::Initial {
            last_initial = Some((version, up.display.clone()));
        } else if first_branched.is_none() {
            first_branched = Some((version, up.display.clone()));
        }
        let down = downs
            .get_mut(&version)
            .and_then(|d| d.iter().position(|d| d.branch == up.branch && d.name == up.name).map(|i| d.swap_remove(i)));
        out.push((up, down));
    }
    if let (Some((li, li_path)), Some((fb, fb_path))) = (&last_initial, &first_branched)
        && li > fb
    {
        diags.push(
            Diagnostic::error(li_path, format!("initial migration {li} comes after {fb_path}"))
                .help("initial/ holds the history before expand/contract: every initial version must be lower than every expand and contract version"),
        );
    }
    out
}

/// `found`'s file name with `version`, and its down script's, for a help.
fn renamed(found: &Found, version: u64, downs: &BTreeMap<Version, Vec<Found>>) -> String {
    let up = format!("`{version:04}_{}.sql`", found.name);
    let has_down =
        downs.get(&found.version).is_some_and(|d| d.iter().any(|d| d.branch == found.branch && d.name == found.name));
    match has_down {
        true => format!("{up} (and its down script to `{version:04}_{}.down.sql`)", found.name),
        false => up,
    }
}

/// Lexes, splits and checks one script, and checksums what it runs. For an
/// up script, `rules` carries the catalog, branch and version to check its
/// statements against.
fn script(
    found: &Found,
    dialect: Dialect,
    diags: &mut Diagnostics,
    rules: Option<&mut Catalog>,
) -> Option<(Script, String)> {
    let sql = &found.text;
    let tokens = match lexer::tokenize_with(sql, dialect) {
        Ok(tokens) => tokens,
        Err(open) => {
            diags.push(
                Diagnostic::error(
                    &found.display,
                    format!("unterminated {}: `{}` is never closed", open.what, open.opening),
                )
                .at_line(line_of(sql, open.offset))
                .help(format!("close the {} that starts here", open.what)),
            );
            return None;
        }
    };
    let (directives, bad) = directive::parse(sql, &tokens);
    for b in bad {
        diags.push(Diagnostic::error(&found.display, b.message).at_line(b.line).help(b.help));
    }
    let read = read_statements(sql, &tokens, dialect);
    let mut ok = true;
    for meta in &read.meta_inside {
        ok = false;
        diags.push(
            Diagnostic::error(&found.display, format!("`{}` is a psql meta-command inside a statement", sql[meta.clone()].trim()))
                .at_line(line_of(sql, meta.start))
                .help("end the statement with `;` before it, or delete the line: the database does not understand psql's commands"),
        );
    }
    let Read { statements, changes, sets_session, foreign_keys_off, meta_inside, restrictions, new_enum_values } = read;
    // The mysql client's DELIMITER lines: one error for them all, and none
    // from the rules for the statements they are in.
    let delimiters: Vec<usize> = match dialect {
        Dialect::Mysql => tokens
            .iter()
            .filter(|t| {
                t.kind == TokenKind::Word
                    && sql[t.range.clone()].eq_ignore_ascii_case("DELIMITER")
                    && sql[..t.range.start].rsplit('\n').next().is_some_and(|before| before.trim().is_empty())
            })
            .map(|t| t.range.start)
            .collect(),
        _ => Vec::new(),
    };
    let delimiter: Vec<bool> = statements
        .iter()
        .map(|st| delimiters.iter().any(|at| (st.start as usize..st.end as usize).contains(at)))
        .collect();
    if let Some(&first) = delimiters.first() {
        ok = false;
        let lines: Vec<String> = delimiters.iter().map(|&at| line_of(sql, at).to_string()).collect();
        let message = match lines.split_last() {
            Some((last, init)) if !init.is_empty() => {
                format!("`DELIMITER` (lines {} and {last}) is a command of the mysql client, not SQL", init.join(", "))
            }
            _ => "`DELIMITER` is a command of the mysql client, not SQL".to_string(),
        };
        diags.push(Diagnostic::error(&found.display, message).at_line(line_of(sql, first)).help(
            "remove the DELIMITER lines and end the statement with `;` after its END: ebbtide keeps a \
             BEGIN ... END body whole and sends it to the server as one statement",
        ));
    }
    // MySQL's implicit commits. The initial history is left as it ran.
    if dialect == Dialect::Mysql && found.branch != Branch::Initial {
        let texts = statements.iter().map(|st| (st.line, &sql[st.start as usize..st.end as usize]));
        if let Some(warning) = lint::mysql_partial_failure(&found.display, texts) {
            diags.push(warning);
        }
    }
    let foreign_keys_off = foreign_keys_off || directives.foreign_keys_off;
    for meta in tokens.iter().filter(|t| t.kind == TokenKind::MetaCommand) {
        let text = sql[meta.range.clone()].trim();
        let command = text.split_whitespace().next().unwrap_or(text);
        let inside = meta_inside.contains(&meta.range);
        // pg_dump (since 13.22, 14.19, 15.14, 16.10 and 17.6) fences its
        // output with these two; they only protect a psql restore.
        if inside || matches!(command, "\\restrict" | "\\unrestrict") {
            continue;
        }
        ok = false;
        diags.push(
            Diagnostic::error(&found.display, format!("`{text}` is a psql meta-command, not SQL"))
                .at_line(line_of(sql, meta.range.start))
                .help("delete the line: ebbtide sends each statement to the database, which does not understand psql's commands (pg_dump's `\\restrict` and `\\unrestrict` lines may stay; ebbtide skips them)"),
        );
    }
    for (statement, restriction) in statements.iter().zip(&restrictions) {
        if let Restriction::Never(why) = restriction {
            ok = false;
            diags.push(
                Diagnostic::error(&found.display, *why)
                    .at_line(statement.line)
                    .help("load the data with INSERT statements (pg_dump --inserts), or with a separate job; dump the schema alone with pg_dump --schema-only"),
            );
        }
    }
    let mut used = vec![false; directives.allows.len()];
    let is_up = rules.is_some();
    let branch = found.branch;
    if let Some(catalog) = rules {
        let current =
            Current { branch, version: found.version, name: &found.name, release: directives.release.as_deref() };
        let mut broken = catalog.migration(current, &changes, directives.no_transaction);
        if !directives.no_transaction {
            for ((violations, restriction), uses) in broken.iter_mut().zip(&restrictions).zip(&new_enum_values) {
                if let Restriction::OutsideTransaction(what) = restriction {
                    violations.push(rules::outside_transaction(what));
                }
                if let Some(value) = uses {
                    violations.push(rules::new_enum_value_used(value));
                }
            }
        }
        for ((statement, violations), _) in statements.iter().zip(broken).zip(&delimiter).filter(|(_, d)| !**d) {
            for v in violations {
                match directives.allows.iter().position(|(rule, _)| *rule == v.rule) {
                    Some(i) => used[i] = true,
                    None => {
                        ok = false;
                        diags.push(
                            Diagnostic::error(
                                &found.display,
                                format!("{branch} migration: {} [rule: {}]", v.message, v.rule),
                            )
                            .at_line(statement.line)
                            .help(v.help),
                        );
                    }
                }
            }
        }
    }
    if let (false, Some(release)) = (is_up, &directives.release) {
        ok = false;
        diags.push(
            Diagnostic::error(&found.display, format!("`release {release}` in a down script"))
                .help("declare the release in the up script of the release's first migration"),
        );
    }
    if !is_up {
        // Down scripts answer to no branch rule, but the engine's refusals hold.
        for (statement, restriction) in statements.iter().zip(&restrictions) {
            if let (Restriction::OutsideTransaction(what), false) = (restriction, directives.no_transaction) {
                ok = false;
                let v = rules::outside_transaction(what);
                diags.push(Diagnostic::error(&found.display, v.message).at_line(statement.line).help(v.help));
            }
        }
        for (rule, line) in &directives.allows {
            diags.push(
                Diagnostic::error(
                    &found.display,
                    format!("`allow {rule}` in a down script, whose statements are not checked"),
                )
                .at_line(*line)
                .help("remove the directive"),
            );
        }
    } else {
        for ((rule, line), used) in directives.allows.iter().zip(used) {
            if !used {
                diags.push(
                    Diagnostic::error(
                        &found.display,
                        format!("`allow {rule}`, but no statement of this migration breaks that rule"),
                    )
                    .at_line(*line)
                    .help("remove the directive, so it cannot hide a future mistake"),
                );
            }
        }
    }
    // A migration without statements is a no-op when a comment says why
    // (histories kept in line across engines have them); an empty file and
    // an unfilled `revision` template are mistakes.
    let empty = is_up && statements.is_empty();
    let explained = empty && tokens.iter().any(|t| matches!(t.kind, TokenKind::LineComment | TokenKind::BlockComment));
    let unfinished = || ["TODO", "FIXME", "XXX"].iter().any(|mark| sql.contains(mark));
    let problem = match (empty, explained) {
        (false, _) => None,
        (true, false) => Some("the migration is empty: it holds no SQL statement"),
        (true, true) if sql.contains(TEMPLATE_MARK) => {
            Some("the migration is still the template `ebbtide revision` wrote: it holds no SQL statement")
        }
        (true, true) if unfinished() => {
            Some("the migration holds no SQL statement, only comments that say it is unfinished")
        }
        (true, true) => None,
    };
    if let Some(message) = problem {
        diags.push(Diagnostic::error(&found.display, message).help(
            "write its SQL; if it must do nothing (to keep versions in line with another engine's history), \
             leave only a comment that says why",
        ));
        ok = false;
    }
    if let Some((backfill, line)) = &directives.backfill {
        let problems = backfill_problems(sql, &tokens, backfill, *line, is_up, &directives, &statements, &changes);
        ok &= problems.is_empty();
        for (line, message, help) in problems {
            diags.push(Diagnostic::error(&found.display, message).at_line(line).help(help));
        }
    }
    let sum = checksum::of_statements(sql, &tokens, &directives);
    ok.then(|| Script {
        path: Cow::Owned(found.display.clone()),
        sql: Cow::Owned(sql.clone()),
        statements: Cow::Owned(statements),
        no_transaction: directives.no_transaction,
        lock_timeout_ms: directives.lock_timeout_ms,
        lock_retry_ms: directives.lock_retry_ms,
        foreign_keys_off,
        sets_session,
        backfill: directives.backfill.map(|(b, _)| b),
    })
    .map(|script| (script, sum))
}

/// What is wrong with a `backfill` script, as (line, message, help): it
/// must be an up script run by ebbtide's batches, of exactly one `UPDATE`
/// of the directive's table that bounds its batch with `:after` and `:upto`.
#[allow(clippy::too_many_arguments)]
fn backfill_problems(
    sql: &str,
    tokens: &[lexer::Token],
    backfill: &Backfill,
    line: u32,
    is_up: bool,
    directives: &directive::Directives,
    statements: &[Statement],
    changes: &[Vec<Change>],
) -> Vec<(u32, String, String)> {
    let table = &backfill.table;
    if !is_up {
        return vec![(
            line,
            "`backfill` in a down script".into(),
            "a down script runs in one transaction, as every other; declare the backfill in the up script".into(),
        )];
    }
    let mut problems = Vec::new();
    for (set, verb) in
        [(directives.no_transaction, "no-transaction"), (directives.foreign_keys_off, "foreign-keys-off")]
    {
        if set {
            problems.push((
                line,
                format!("`backfill` with `{verb}`: a backfill runs in transactions of its own, one per batch"),
                format!("remove `{verb}`"),
            ));
        }
    }
    let shape = format!(
        "write one `UPDATE {table} SET ... WHERE {key} > :after AND {key} <= :upto` (an integer key)",
        key = backfill.key
    );
    if statements.len() > 1 {
        problems.push((
            statements[1].line,
            format!(
                "a backfill migration holds exactly one statement, its `UPDATE`; this one holds {}",
                statements.len()
            ),
            format!(
                "move the other statements to migrations of their own (what the backfill needs, before it); {shape}"
            ),
        ));
    }
    let Some(first) = statements.first() else { return problems };
    let verb = tokens
        .iter()
        .find(|t| t.range.start >= first.start as usize && !t.kind.is_trivia())
        .map(|t| sql[t.range.clone()].to_ascii_uppercase())
        .unwrap_or_default();
    let updated = match changes.first().map(Vec::as_slice) {
        Some([Change::Update { table, .. }]) if verb == "UPDATE" => table.clone(),
        _ => {
            problems.push((
                first.line,
                format!("a backfill migration's statement is an `UPDATE` of {table}; this one is `{verb} ...`"),
                shape,
            ));
            return problems;
        }
    };
    match updated {
        Some(updated) if backfill::same_table(table, &updated) => {}
        other => problems.push((
            first.line,
            format!(
                "this `UPDATE` updates {}, but the directive backfills {table}",
                other.as_deref().unwrap_or("a table ebbtide cannot name")
            ),
            format!("name the same table in the directive and the statement; {shape}"),
        )),
    }
    let found = backfill::placeholders(sql, tokens);
    let missing: Vec<&str> = [backfill::Bound::After, backfill::Bound::Upto]
        .into_iter()
        .filter(|b| !found.iter().any(|(_, f)| f == b))
        .map(backfill::Bound::placeholder)
        .collect();
    if !missing.is_empty() {
        problems.push((
            first.line,
            format!(
                "the backfill's `UPDATE` does not use {}: without both bounds, each batch would update more than its rows",
                missing.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(" and ")
            ),
            shape,
        ));
    }
    problems
}

/// The release a migration's text declares (`-- ebbtide: release NAME`),
/// read as every directive is.
fn release_declared(text: &str, dialect: Dialect) -> Option<String> {
    let tokens = lexer::tokenize_with(text, dialect).ok()?;
    directive::parse(text, &tokens).0.release
}

/// The version and name of every up script the branch directories of
/// `dir` hold, by file name alone, in version order; what an invalid
/// directory's migrations would be called (the macro's fallback names them,
/// so that code using them adds no error to the real ones).
pub fn versions_named(dir: &Path) -> Vec<(Version, String)> {
    let mut out = Vec::new();
    for branch in Branch::ALL {
        let Ok(entries) = fs::read_dir(dir.join(branch.as_str())) else { continue };
        for entry in entries.flatten() {
            if let Some(parsed) = entry.file_name().to_str().and_then(|n| name::parse(n).ok())
                && parsed.direction == Direction::Up
            {
                out.push((parsed.version, parsed.name));
            }
        }
    }
    out.sort();
    out
}

/// A script's statements, each with its changes, and what the runtime
/// must know of them.
struct Read {
    statements: Vec<Statement>,
    changes: Vec<Vec<Change>>,
    sets_session: bool,
    /// A `PRAGMA foreign_keys` that turns them off.
    foreign_keys_off: bool,
    /// psql meta-commands inside a statement's text.
    meta_inside: Vec<std::ops::Range<usize>>,
    /// Where each statement can run.
    restrictions: Vec<Restriction>,
    /// For each statement, an enum value it uses that an earlier statement
    /// of the script added.
    new_enum_values: Vec<Option<String>>,
}

fn read_statements(sql: &str, tokens: &[lexer::Token], dialect: Dialect) -> Read {
    let mut read = Read {
        statements: Vec::new(),
        changes: Vec::new(),
        sets_session: false,
        foreign_keys_off: false,
        meta_inside: Vec::new(),
        restrictions: Vec::new(),
        new_enum_values: Vec::new(),
    };
    let mut added: Vec<&str> = Vec::new();
    // Statements, tokens and lines all run forward through the text: one walk.
    let mut next = 0;
    let (mut counted, mut line) = (0, 1);
    for piece in split::split_tokens_with(sql, tokens, dialect) {
        let Some(range) = piece.statement else { continue };
        line += sql.as_bytes()[counted..range.start].iter().filter(|&&b| b == b'\n').count() as u32;
        counted = range.start;
        read.statements.push(Statement { start: range.start as u32, end: range.end as u32, line });
        while next < tokens.len() && tokens[next].range.start < range.start {
            next += 1;
        }
        let first = next;
        while next < tokens.len() && tokens[next].range.end <= range.end {
            next += 1;
        }
        let tokens = &tokens[first..next];
        read.meta_inside.extend(tokens.iter().filter(|t| t.kind == TokenKind::MetaCommand).map(|t| t.range.clone()));
        let changes = classify::classify_with(sql, tokens, dialect);
        read.sets_session |= classify::changes_session(sql, tokens);
        read.foreign_keys_off |= changes.iter().any(
            |c| matches!(c, Change::Pragma { name, value: Some(value) } if name == "foreign_keys" && classify::is_off(value)),
        );
        read.changes.push(changes);
        read.restrictions.push(classify::restriction(sql, tokens));
        read.new_enum_values.push(
            tokens
                .iter()
                .filter(|t| t.kind == TokenKind::String)
                .map(|t| &sql[t.range.clone()])
                .find(|literal| added.contains(literal))
                .map(str::to_string),
        );
        added.extend(classify::enum_value_added(sql, tokens));
    }
    read
}

/// A script read from text at run time (a down script stored in the
/// version table): split, with its directives and what the runtime must
/// know of it, as [`load`] reads a file. Only an unterminated quote or
/// comment makes it unreadable; the branch rules are not applied.
pub fn parse_script(path: String, sql: String) -> Result<Script, lexer::Unterminated> {
    parse_script_with(path, sql, Dialect::Portable)
}

/// [`parse_script`], reading the script in `dialect`, as [`load_with`] does.
pub fn parse_script_with(path: String, sql: String, dialect: Dialect) -> Result<Script, lexer::Unterminated> {
    let tokens = lexer::tokenize_with(&sql, dialect)?;
    let (directives, _) = directive::parse(&sql, &tokens);
    let read = read_statements(&sql, &tokens, dialect);
    Ok(Script {
        path: Cow::Owned(path),
        statements: Cow::Owned(read.statements),
        sql: Cow::Owned(sql),
        no_transaction: directives.no_transaction,
        lock_timeout_ms: directives.lock_timeout_ms,
        lock_retry_ms: directives.lock_retry_ms,
        foreign_keys_off: read.foreign_keys_off || directives.foreign_keys_off,
        sets_session: read.sets_session,
        backfill: directives.backfill.map(|(b, _)| b),
    })
}

/// The branch name nearest to a mistyped directory name.
fn closest_branch(name: &str) -> Option<&'static str> {
    Branch::ALL
        .into_iter()
        .map(|b| (edit_distance(&name.to_ascii_lowercase(), b.as_str()), b.as_str()))
        .filter(|(d, _)| *d <= 3)
        .min()
        .map(|(_, b)| b)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            cur.push((prev[j] + usize::from(ca != *cb)).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_release_is_read_where_every_directive_is() {
        let release_declared = |text| release_declared(text, Dialect::Portable);
        assert_eq!(release_declared("-- ebbtide: release 2.0\nSELECT 1;").as_deref(), Some("2.0"));
        assert_eq!(release_declared("/* header */\n-- ebbtide:\trelease 2.0\nSELECT 1;").as_deref(), Some("2.0"));
        assert_eq!(release_declared("SELECT 1;\n-- ebbtide: release 2.0\n"), None);
        assert_eq!(release_declared("-- ebbtide: no-transaction\nSELECT 1;"), None);
    }

    /// A directory with one expand migration holding `sql`.
    fn directory(sql: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("expand")).unwrap();
        fs::write(dir.path().join("expand/0001_create_notes.sql"), sql).unwrap();
        dir
    }

    fn statements(loaded: &Loaded) -> Vec<&str> {
        loaded.migrations[0].up.statements().map(|(_, sql)| sql).collect()
    }

    #[test]
    fn a_mysql_directory_splits_where_mysql_does() {
        let sql = "-- ebbtide: allow opaque\n\
                   # notes; one table\n\
                   CREATE TABLE notes (`my;col` text DEFAULT 'it\\'s; x', b text DEFAULT \"a\\\"b;\");\n\
                   /*!40101 SET NAMES utf8mb4 */;\n\
                   INSERT INTO notes (b) VALUES ('x'); -- done; really\n";
        let dir = directory(sql);
        let loaded = load_with(dir.path(), "migrations", Dialect::Mysql).unwrap();
        assert_eq!(
            statements(&loaded),
            [
                "CREATE TABLE notes (`my;col` text DEFAULT 'it\\'s; x', b text DEFAULT \"a\\\"b;\");",
                "/*!40101 SET NAMES utf8mb4 */;",
                "INSERT INTO notes (b) VALUES ('x');",
            ]
        );
        assert_eq!(loaded.migrations[0].up.statements[0].line, 3);
        // Read as portable SQL, the same file has an unterminated string.
        let err = load(dir.path(), "migrations").unwrap_err();
        assert!(err.to_string().contains("unterminated"), "{err}");
    }

    #[test]
    fn duplicates_are_given_the_next_free_versions_in_turn() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("expand")).unwrap();
        for file in ["0001_a.sql", "0001_b.sql", "0001_c.sql", "0002_d.sql", "0002_e.sql", "0003_f.sql"] {
            fs::write(dir.path().join("expand").join(file), "CREATE TABLE t (x int);\n").unwrap();
        }
        let err = load(dir.path(), "migrations").unwrap_err().to_string();
        assert!(
            err.contains(
                "give all but one of them the next free versions, 0004 to 0005 (e.g. rename this file to `0004_a.sql`)"
            ),
            "{err}"
        );
        assert!(
            err.contains("give one of them the next free version, 0006 (e.g. rename this file to `0006_d.sql`)"),
            "{err}"
        );
    }

    #[test]
    fn a_misnamed_file_leaves_no_gap_and_no_orphaned_down_script() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("expand")).unwrap();
        for file in ["0001_a.sql", "0002_b.up.sql", "0002_b.down.sql", "0003_c.sql"] {
            fs::write(dir.path().join("expand").join(file), "CREATE TABLE t (x int);\n").unwrap();
        }
        let err = load(dir.path(), "migrations").unwrap_err();
        assert_eq!(err.0.len(), 1, "{err}");
        assert!(err.to_string().contains("rename it to `0002_b.sql`"), "{err}");
    }

    fn mysql_migrations(files: &[(&str, &str)]) -> Result<Loaded, Diagnostics> {
        let dir = tempfile::tempdir().unwrap();
        for (path, sql) in files {
            let full = dir.path().join(path);
            fs::create_dir_all(full.parent().unwrap()).unwrap();
            fs::write(full, sql).unwrap();
        }
        load_with(dir.path(), "migrations", Dialect::Mysql)
    }

    #[test]
    fn mysql_changes_answer_to_the_branch_rules() {
        let base = ("initial/0001_users.sql", "CREATE TABLE users (id INT PRIMARY KEY, name TEXT, age INT);");
        let err = |file: (&str, &str)| mysql_migrations(&[base, file]).unwrap_err().to_string();
        let ok = |file: (&str, &str)| mysql_migrations(&[base, file]).unwrap();
        let e = err(("contract/0002_rename.sql", "ALTER TABLE users CHANGE name full_name VARCHAR(200);"));
        assert!(e.contains("CHANGE renames and retypes") && e.contains("[rule: rename]"), "{e}");
        let e = err(("expand/0002_rename.sql", "ALTER TABLE users CHANGE COLUMN name full_name VARCHAR(200);"));
        assert!(e.contains("[rule: rename]") && e.contains("[rule: destructive]"), "{e}");
        let e = err((
            "expand/0002_modify.sql",
            "ALTER TABLE users MODIFY age BIGINT NOT NULL, ALGORITHM=INPLACE, LOCK=NONE;",
        ));
        assert!(e.contains("changes the type of column users.age") && e.contains("[rule: destructive]"), "{e}");
        ok(("contract/0002_modify.sql", "ALTER TABLE users MODIFY COLUMN age BIGINT NOT NULL;"));
        ok(("contract/0002_retype.sql", "ALTER TABLE users CHANGE age age BIGINT;"));
        let e = err(("contract/0002_rename.sql", "RENAME TABLE users TO people;"));
        assert!(e.contains("renames table users to people"), "{e}");
        ok((
            "expand/0002_index.sql",
            "ALTER TABLE users ADD UNIQUE KEY users_name (name), ALGORITHM=INPLACE, LOCK=NONE;",
        ));
        let e = err(("contract/0002_index.sql", "ALTER TABLE users ADD INDEX users_name (name);"));
        assert!(e.contains("creates index users_name") && e.contains("[rule: additive]"), "{e}");
        let e = err(("expand/0002_drop.sql", "DROP INDEX users_name ON users;"));
        assert!(e.contains("drops index users.users_name") && e.contains("[rule: destructive]"), "{e}");
        for drop in ["DROP INDEX users_name ON users;", "ALTER TABLE users DROP KEY users_name, DROP PRIMARY KEY;"] {
            ok(("contract/0002_drop.sql", drop));
        }
        let e = err(("expand/0002_fk.sql", "ALTER TABLE users DROP FOREIGN KEY users_org;"));
        assert!(e.contains("drops foreign key users.users_org"), "{e}");
        ok(("expand/0002_seed.sql", "INSERT IGNORE INTO users (id) VALUES (1);"));
        let e = err(("expand/0002_seed.sql", "INSERT INTO users (id) VALUES (1) ON DUPLICATE KEY UPDATE name = 'x';"));
        assert!(e.contains("[rule: data-modification]"), "{e}");
        let e = err(("expand/0002_seed.sql", "REPLACE INTO users (id) VALUES (1);"));
        assert!(e.contains("[rule: data-modification]"), "{e}");
        // An index this release added may go again in expand.
        mysql_migrations(&[
            base,
            ("expand/0002_index.sql", "ALTER TABLE users ADD INDEX users_age (age);"),
            ("expand/0003_unindex.sql", "ALTER TABLE users DROP INDEX users_age;"),
        ])
        .unwrap();
    }

    #[test]
    fn a_mysql_trigger_is_one_statement_and_additive() {
        let sql = "CREATE TRIGGER users_sync BEFORE INSERT ON users FOR EACH ROW\nBEGIN\n  IF NEW.full_name IS NULL THEN\n    SET NEW.full_name = NEW.name;\n  END IF;\nEND;\n";
        let loaded = mysql_migrations(&[
            ("initial/0001_users.sql", "CREATE TABLE users (id INT, name TEXT, full_name TEXT);"),
            ("expand/0002_sync.sql", sql),
        ])
        .unwrap();
        assert_eq!(loaded.migrations[1].up.statements.len(), 1);
        assert!(loaded.warnings.is_empty(), "{}", loaded.warnings);
    }

    #[test]
    fn delimiter_lines_are_refused_once() {
        let sql = "DELIMITER //\nCREATE PROCEDURE p() BEGIN SELECT 1; END //\nDELIMITER ;\n";
        let err = mysql_migrations(&[("expand/0001_p.sql", sql)]).unwrap_err();
        let errors: Vec<String> = err.errors().map(ToString::to_string).collect();
        assert_eq!(errors.len(), 1, "{errors:#?}");
        assert!(
            errors[0].contains("0001_p.sql:1: `DELIMITER` (lines 1 and 3) is a command of the mysql client"),
            "{errors:#?}"
        );
    }

    #[test]
    fn mysql_migrations_that_can_fail_half_way_are_warned_about() {
        let loaded = mysql_migrations(&[
            ("initial/0001_history.sql", "CREATE TABLE users (id INT);\nCREATE TABLE posts (id INT);\n"),
            ("expand/0002_two.sql", "ALTER TABLE users ADD COLUMN a INT;\n\nALTER TABLE users ADD COLUMN b INT;\n"),
            (
                "expand/0003_one.sql",
                "SET foreign_key_checks = 0;\nCREATE TEMPORARY TABLE t (a INT);\nCREATE TABLE notes (a INT);\n",
            ),
            ("expand/0004_seed.sql", "CREATE TABLE roles (id INT);\nINSERT INTO roles VALUES (1);\n"),
        ])
        .unwrap();
        let warnings: Vec<String> = loaded.warnings.warnings().map(ToString::to_string).collect();
        assert_eq!(warnings.len(), 2, "{warnings:#?}");
        assert!(
            warnings[0].starts_with(
                "migrations/expand/0002_two.sql:3: MySQL commits each DDL statement on its own, and this migration holds 2 DDL statements (lines 1 and 3)"
            ),
            "{warnings:#?}"
        );
        assert!(warnings[0].contains("help: split it into one migration per DDL statement"), "{warnings:#?}");
        assert!(
            warnings[1].contains("0004_seed.sql:2: ")
                && warnings[1].contains("a DDL statement (line 1) and data changes (line 2)"),
            "{warnings:#?}"
        );
        // Portable migrations are unaffected.
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("expand")).unwrap();
        fs::write(dir.path().join("expand/0001_two.sql"), "CREATE TABLE a (x int);\nCREATE TABLE b (x int);\n")
            .unwrap();
        assert!(load(dir.path(), "migrations").unwrap().warnings.is_empty());
    }

    #[test]
    fn a_mysql_directory_is_checked_with_the_branch_rules() {
        let dir = directory("CREATE TABLE notes (a int);\nALTER TABLE `notes` DROP COLUMN `a`; # later\n");
        let err = load_with(dir.path(), "migrations", Dialect::Mysql).unwrap_err();
        assert!(err.to_string().contains("drops column notes.a"), "{err}");
        // What a versioned comment runs is hidden from the rules: allowed only on purpose.
        let dir = directory("/*!40101 SET NAMES utf8mb4 */;\nCREATE TABLE notes (a int);\n");
        let err = load_with(dir.path(), "migrations", Dialect::Mysql).unwrap_err();
        assert!(err.to_string().contains("[rule: opaque]"), "{err}");
    }
}

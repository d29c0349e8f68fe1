//! `ebbtide`: the standalone command line, working on a migrations
//! directory at run time with the same rules `embed_migrations!` applies at
//! build time.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ebbtide::cli::{Command, Options};
use ebbtide::{Branch, Migrations};

/// Expand/contract SQL migrations for zero-downtime rolling upgrades.
///
/// A rolling upgrade: `ebbtide sync --expand`, deploy the new release
/// everywhere, `ebbtide sync --contract`.
#[derive(Parser)]
#[command(name = "ebbtide", version, about, long_about)]
struct Cli {
    /// The migrations directory (holding initial/, expand/ and contract/).
    #[arg(long, global = true, default_value = "migrations", value_name = "DIR")]
    dir: PathBuf,
    #[command(flatten)]
    options: Options,
    #[command(subcommand)]
    command: Standalone,
}

#[derive(Subcommand)]
enum Standalone {
    #[command(flatten)]
    Db(Command),
    /// Create the next migration file in a branch and print its path.
    Revision {
        /// An additive migration, safe while the old release runs.
        #[arg(long, required_unless_present = "contract", conflicts_with = "contract")]
        expand: bool,
        /// A destructive migration, run once the old release is gone.
        #[arg(long)]
        contract: bool,
        /// What the migration does, e.g. "add users email".
        #[arg(long, short)]
        message: String,
        /// Also create the down script.
        #[arg(long)]
        reversible: bool,
    },
    /// Check the migrations directory with every build-time rule, plus
    /// PostgreSQL lock-risk advice; exit 1 on any error.
    Lint,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    ebbtide::cli::init_tracing(&cli.options);
    let display = cli.dir.display().to_string();
    match &cli.command {
        Standalone::Revision { expand: _, contract, message, reversible } => {
            let branch = if *contract { Branch::Contract } else { Branch::Expand };
            match revision(&cli.dir, branch, message, *reversible) {
                Ok(paths) => {
                    for p in paths {
                        ebbtide::cli::out(p.display());
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Standalone::Lint => lint(&cli.dir, &display, cli.options.quiet),
        Standalone::Db(command) => match Migrations::from_dir(&cli.dir, &display) {
            Ok((migrations, _warnings)) => ebbtide::cli::execute(&cli.options, command, &migrations),
            Err(diagnostics) => {
                for d in diagnostics.errors() {
                    eprintln!("error: {d}");
                }
                ExitCode::from(1)
            }
        },
    }
}

fn lint(dir: &Path, display: &str, quiet: bool) -> ExitCode {
    match Migrations::from_dir(dir, display) {
        Ok((migrations, warnings)) => {
            let risks = ebbtide_core::lint::lock_risks(migrations.as_slice());
            for w in warnings.warnings().chain(&risks) {
                eprintln!("warning: {w}");
            }
            if !quiet {
                ebbtide::cli::out(format_args!(
                    "{display}: {} migrations, no errors, {} warning(s)",
                    migrations.len(),
                    risks.len() + warnings.warnings().count()
                ));
            }
            ExitCode::SUCCESS
        }
        Err(diagnostics) => {
            for d in diagnostics.0.iter() {
                let kind = if d.is_error() { "error" } else { "warning" };
                eprintln!("{kind}: {d}");
            }
            eprintln!("{display}: {} error(s)", diagnostics.errors().count());
            ExitCode::from(1)
        }
    }
}

/// Creates `NNNN_slug.sql` (and `.down.sql`) in the branch directory, with
/// the next version after every file of every branch.
fn revision(dir: &Path, branch: Branch, message: &str, reversible: bool) -> Result<Vec<PathBuf>, String> {
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
    write_new(&up, &format!("-- {message}\n{rules}\n"))?;
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

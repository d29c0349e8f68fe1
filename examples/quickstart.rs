//! The embedded default in one command: `cargo run --example quickstart`.
//!
//! Embeds the workspace's `migrations/` at build time, opens a SQLite file
//! (no server, no configuration), runs the startup check, syncs, and prints
//! the version and a status table. Run it again: nothing to do.
//! `cargo run --example quickstart -- --reset` starts from an empty file.

#![deny(warnings)]

use std::path::PathBuf;
use std::process::ExitCode;

use ebbtide::{Migrator, Scope};

ebbtide::embed_migrations!("../migrations");

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let path: PathBuf = std::env::temp_dir().join("ebbtide-quickstart.db");
    if std::env::args().any(|a| a == "--reset") && path.exists() {
        std::fs::remove_file(&path)?;
    }
    println!("database: {} (SQLite)", path.display());
    println!("embedded: {} migrations, latest {}", migrations::MIGRATIONS.len(), migrations::MIGRATIONS.latest());

    let conn = rusqlite::Connection::open(&path)?;
    let migrator = Migrator::new(&migrations::MIGRATIONS);
    let db = migrator.sqlite(&conn);

    // What a service does before serving: may this release run on this schema?
    let verdict = db.check()?;
    println!("\nstartup check: {verdict}");
    if !verdict.may_serve() && verdict.sync_to_serve().is_none() {
        return Err("refusing to touch a database this release cannot work with".into());
    }

    // The offline upgrade: expand and contract in one go.
    let report = db.sync(Scope::All)?;
    println!("\nsync:\n{report}");

    println!("\n{}", db.version()?);
    println!("\n{}", ebbtide::status::table(&db.status()?));
    println!("\nstartup check: {}", db.check()?);
    Ok(())
}

//! An application that nests ebbtide's commands into its own command line,
//! as keystone-manage does: `myapp db sync`, `myapp db check`, ...
//!
//! ```sh
//! cargo run --example embedded_cli -- db --database sqlite:/tmp/myapp.db sync --expand
//! cargo run --example embedded_cli -- db --database sqlite:/tmp/myapp.db check
//! cargo run --example embedded_cli -- serve --database sqlite:/tmp/myapp.db
//! ```

#![deny(warnings)]

use std::process::ExitCode;

use clap::Parser;

ebbtide::embed_migrations!("../migrations");

/// myapp: a service that ships its migrations inside its binary.
#[derive(Parser)]
#[command(name = "myapp")]
enum App {
    /// Serve requests, after checking the schema.
    Serve {
        /// The database: sqlite:PATH.
        #[arg(long, env = "DATABASE_URL")]
        database: String,
    },
    /// Manage the database schema (sync, check, upgrade, downgrade, ...).
    Db(ebbtide::cli::Db),
}

fn main() -> ExitCode {
    match App::parse() {
        App::Db(db) => db.run(&migrations::MIGRATIONS),
        App::Serve { database } => {
            let Some(path) = database.strip_prefix("sqlite:") else {
                eprintln!("error: this example serves from SQLite only");
                return ExitCode::FAILURE;
            };
            let verdict = rusqlite::Connection::open(path).map_err(|e| e.to_string()).and_then(|conn| {
                ebbtide::Migrator::new(&migrations::MIGRATIONS).sqlite(&conn).check().map_err(|e| e.to_string())
            });
            match verdict {
                Ok(verdict) if verdict.may_serve() => {
                    println!("schema check: {verdict}\nserving (not really: this is an example)");
                    ExitCode::SUCCESS
                }
                Ok(verdict) => {
                    eprintln!("refusing to serve: {verdict}");
                    ExitCode::from(2)
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

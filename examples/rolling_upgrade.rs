//! Two releases of a service sharing one PostgreSQL database during a
//! rolling upgrade: `cargo run --example rolling_upgrade`.
//!
//! Uses the server at DATABASE_URL (default
//! postgres://postgres@127.0.0.1:5432/postgres) to create a scratch
//! database, walks through expand -> deploy -> contract with both releases
//! writing, and drops the scratch database.

#![deny(warnings)]

use std::process::ExitCode;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let server = std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let scratch = format!("ebbtide_rolling_demo_{}", std::process::id());
    let admin = match ebbtide::postgres::connect(&server).await {
        Ok(client) => client,
        Err(e) => {
            eprintln!("error: {e}\nthe demo needs a PostgreSQL server: set DATABASE_URL");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = admin.batch_execute(&format!("CREATE DATABASE {scratch}")).await {
        eprintln!("error: cannot create the scratch database {scratch}: {e}");
        return ExitCode::FAILURE;
    }
    let url = ebbtide::postgres::with_database(&server, &scratch);
    let result = ebbtide_examples::rolling::scenario(&url).await;
    let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {scratch} WITH (FORCE)")).await;
    match result {
        Ok(transcript) => {
            print!("{transcript}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

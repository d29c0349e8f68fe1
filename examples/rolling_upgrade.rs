//! Two releases of a service sharing one database during a rolling
//! upgrade: `cargo run --example rolling_upgrade`.
//!
//! Uses the server at DATABASE_URL (default
//! postgres://postgres@127.0.0.1:5432/postgres) to create a scratch
//! database, walks through expand -> deploy -> contract with both releases
//! writing, and drops the scratch database.
//!
//! On MySQL or MariaDB, name the server with a `mysql://` (or `mariadb://`)
//! URL and any database the user may connect to; the scenario runs the
//! releases' MySQL migrations:
//! `DATABASE_URL=mysql://root@127.0.0.1:3306/mysql cargo run --example rolling_upgrade`.

#![deny(warnings)]

use std::process::ExitCode;

use ebbtide::mysql_async::prelude::Queryable;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let server = std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let scratch = format!("ebbtide_rolling_demo_{}", std::process::id());
    let mysql = server.starts_with("mysql://") || server.starts_with("mariadb://");
    let result = if mysql { on_mysql(&server, &scratch).await } else { on_postgres(&server, &scratch).await };
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

/// The scenario in the scratch database `scratch` of the PostgreSQL server
/// at `server`.
async fn on_postgres(server: &str, scratch: &str) -> Result<String, String> {
    let admin = ebbtide::postgres::connect(server)
        .await
        .map_err(|e| format!("{e}\nthe demo needs a PostgreSQL server: set DATABASE_URL"))?;
    admin
        .batch_execute(&format!("CREATE DATABASE {scratch}"))
        .await
        .map_err(|e| format!("cannot create the scratch database {scratch}: {e}"))?;
    let url = ebbtide::postgres::with_database(server, scratch);
    let result = ebbtide_examples::rolling::scenario(&url).await;
    let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {scratch} WITH (FORCE)")).await;
    result.map_err(|e| e.to_string())
}

/// The scenario in the scratch database `scratch` of the MySQL or MariaDB
/// server at `server`.
async fn on_mysql(server: &str, scratch: &str) -> Result<String, String> {
    let admin = ebbtide::mysql::connect(server)
        .await
        .map_err(|e| format!("{e}\nthe demo needs a MySQL or MariaDB server: set DATABASE_URL"))?;
    let create = async { admin.get_conn().await?.query_drop(format!("CREATE DATABASE {scratch}")).await };
    create.await.map_err(|e| format!("cannot create the scratch database {scratch}: {e}"))?;
    // A MySQL URL names its database as a PostgreSQL URL does.
    let url = ebbtide::postgres::with_database(server, scratch);
    let result = ebbtide_examples::rolling::scenario(&url).await;
    if let Ok(mut conn) = admin.get_conn().await {
        let _ = conn.query_drop(format!("DROP DATABASE IF EXISTS {scratch}")).await;
    }
    let _ = admin.disconnect().await;
    result.map_err(|e| e.to_string())
}

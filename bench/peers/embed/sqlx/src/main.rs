//! Syncs a SQLite database (the file given, or one in memory) with the
//! migrations `sqlx::migrate!` embeds. Without the `embed` feature: the same
//! calls with an empty list, the baseline of measurements 4 and 5.

use sqlx::Connection;
use sqlx::migrate::Migrator;

#[cfg(feature = "embed")]
static MIGRATOR: Migrator = sqlx::migrate!("./migrations");
#[cfg(not(feature = "embed"))]
static MIGRATOR: Migrator = Migrator::DEFAULT;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = match std::env::args().nth(1) {
        Some(path) => format!("sqlite://{path}?mode=rwc"),
        None => "sqlite::memory:".into(),
    };
    let mut conn = sqlx::SqliteConnection::connect(&url).await?;
    MIGRATOR.run(&mut conn).await?;
    println!("{} migrations", MIGRATOR.iter().count());
    Ok(())
}

//! Syncs a SQLite database (the file given, or one in memory) with the
//! migrations diesel embeds. Without the `embed` feature: the same calls
//! with an empty list, the baseline of measurements 4 and 5.

use diesel::{Connection, SqliteConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness};

#[cfg(feature = "embed")]
const MIGRATIONS: EmbeddedMigrations = diesel_migrations::embed_migrations!("migrations");
#[cfg(not(feature = "embed"))]
const MIGRATIONS: EmbeddedMigrations = EmbeddedMigrations::new(&[]);

fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let path = std::env::args().nth(1).unwrap_or_else(|| ":memory:".into());
    let mut conn = SqliteConnection::establish(&path)?;
    let applied = conn.run_pending_migrations(MIGRATIONS)?.len();
    let pending = conn.has_pending_migration(MIGRATIONS)?;
    println!("{applied} applied, pending: {pending}");
    Ok(())
}

//! Syncs a SQLite database (the file given, or one in memory) with the
//! embedded migrations. Without the `embed` feature: the same calls with an
//! empty list, the baseline that build time and size are measured against.

#[cfg(feature = "embed")]
ebbtide::embed_migrations!("migrations");

#[cfg(not(feature = "embed"))]
mod migrations {
    pub static MIGRATIONS: ebbtide::Migrations = ebbtide::Migrations::from_static(&[]);
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let conn = match std::env::args().nth(1) {
        Some(path) => rusqlite::Connection::open(path)?,
        None => rusqlite::Connection::open_in_memory()?,
    };
    let migrator = ebbtide::Migrator::new(&migrations::MIGRATIONS);
    let report = migrator.sqlite(&conn).sync(ebbtide::Scope::All)?;
    let verdict = migrator.sqlite(&conn).check()?;
    println!("{} migrations, {} steps, {verdict}", migrations::MIGRATIONS.len(), report.steps.len());
    Ok(())
}

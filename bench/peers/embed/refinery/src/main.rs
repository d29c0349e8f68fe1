//! Syncs a SQLite database (the file given, or one in memory) with the
//! migrations refinery embeds. Without the `embed` feature: the same calls
//! with an empty list, the baseline of measurements 4 and 5.

#[cfg(feature = "embed")]
mod embedded {
    refinery::embed_migrations!("migrations");
}

fn runner() -> refinery::Runner {
    #[cfg(feature = "embed")]
    return embedded::migrations::runner();
    #[cfg(not(feature = "embed"))]
    return refinery::Runner::new(&[]);
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut conn = match std::env::args().nth(1) {
        Some(path) => rusqlite::Connection::open(path)?,
        None => rusqlite::Connection::open_in_memory()?,
    };
    let report = runner().run(&mut conn)?;
    println!("{} applied", report.applied_migrations().len());
    Ok(())
}

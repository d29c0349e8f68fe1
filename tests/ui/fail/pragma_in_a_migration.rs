// A pragma that SQLite ignores inside a transaction, and one that changes
// the connection beyond the migration: both refused at build time.
ebbtide::embed_migrations!("ui/fixtures/pragma_in_a_migration");

fn main() {}

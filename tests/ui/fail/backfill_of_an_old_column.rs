// A backfill may set the column this release added, not one an earlier
// release added: that release reads it.
ebbtide::embed_migrations!("ui/fixtures/backfill_of_an_old_column");

fn main() {}

ebbtide::embed_migrations!("ui/fixtures/backfill_not_an_update");

fn main() {}

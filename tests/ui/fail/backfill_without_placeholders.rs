ebbtide::embed_migrations!("ui/fixtures/backfill_without_placeholders");

fn main() {}

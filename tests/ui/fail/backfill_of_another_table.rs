ebbtide::embed_migrations!("ui/fixtures/backfill_of_another_table");

fn main() {}

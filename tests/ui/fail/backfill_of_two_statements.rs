ebbtide::embed_migrations!("ui/fixtures/backfill_of_two_statements");

fn main() {}

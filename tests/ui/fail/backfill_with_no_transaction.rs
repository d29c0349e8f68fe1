ebbtide::embed_migrations!("ui/fixtures/backfill_with_no_transaction");

fn main() {}

ebbtide::embed_migrations!("ui/fixtures/backfill_batch_size_not_a_number");

fn main() {}

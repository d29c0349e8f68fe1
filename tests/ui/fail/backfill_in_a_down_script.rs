ebbtide::embed_migrations!("ui/fixtures/backfill_in_a_down_script");

fn main() {}

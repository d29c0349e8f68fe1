ebbtide::embed_migrations!("ui/fixtures/down_without_up");

fn main() {}

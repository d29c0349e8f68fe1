ebbtide::embed_migrations!("ui/fixtures/expand_drop_column");

fn main() {}

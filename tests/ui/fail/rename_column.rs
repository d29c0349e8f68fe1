ebbtide::embed_migrations!("ui/fixtures/rename_column");

fn main() {}

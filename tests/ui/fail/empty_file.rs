ebbtide::embed_migrations!("ui/fixtures/empty_file");

fn main() {}

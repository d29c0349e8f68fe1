ebbtide::embed_migrations!("ui/fixtures/duplicate_version");

fn main() {}

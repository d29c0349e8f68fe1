ebbtide::embed_migrations!("ui/fixtures/stray_file");

fn main() {}

ebbtide::embed_migrations!("ui/fixtures/non_utf8_file");

fn main() {}

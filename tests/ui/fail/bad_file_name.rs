ebbtide::embed_migrations!("ui/fixtures/bad_file_name");

fn main() {}

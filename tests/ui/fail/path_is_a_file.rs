ebbtide::embed_migrations!("ui/fixtures/not_a_directory.txt");

fn main() {}

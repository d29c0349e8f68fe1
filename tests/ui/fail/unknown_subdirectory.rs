ebbtide::embed_migrations!("ui/fixtures/unknown_subdirectory");

fn main() {}

ebbtide::embed_migrations!("ui/fixtures/does_not_exist");

fn main() {}

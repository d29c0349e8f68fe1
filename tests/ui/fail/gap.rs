ebbtide::embed_migrations!("ui/fixtures/gap");

fn main() {}

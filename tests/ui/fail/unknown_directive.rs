ebbtide::embed_migrations!("ui/fixtures/unknown_directive");

fn main() {}

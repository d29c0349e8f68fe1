ebbtide::embed_migrations!("ui/fixtures/unused_allow");

fn main() {}

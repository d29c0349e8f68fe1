ebbtide::embed_migrations!("ui/fixtures/initial_after_expand");

fn main() {}

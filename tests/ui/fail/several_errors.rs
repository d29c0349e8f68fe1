ebbtide::embed_migrations!("ui/fixtures/several_errors");

fn main() {}

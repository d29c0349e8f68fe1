ebbtide::embed_migrations!("ui/fixtures/not_null_without_default");

fn main() {}

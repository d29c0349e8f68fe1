ebbtide::embed_migrations!("ui/fixtures/autogenerate_fill_in_left");

fn main() {}

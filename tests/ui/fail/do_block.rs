ebbtide::embed_migrations!("ui/fixtures/do_block");

fn main() {}

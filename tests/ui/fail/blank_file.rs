// A file with nothing in it is a mistake, not a no-op.
ebbtide::embed_migrations!("ui/fixtures/blank_file");

fn main() {}

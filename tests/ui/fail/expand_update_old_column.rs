ebbtide::embed_migrations!("ui/fixtures/expand_update_old_column");

fn main() {}

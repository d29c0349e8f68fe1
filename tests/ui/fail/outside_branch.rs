ebbtide::embed_migrations!("ui/fixtures/outside_branch");

fn main() {}

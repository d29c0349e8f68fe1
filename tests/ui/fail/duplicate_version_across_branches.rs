ebbtide::embed_migrations!("ui/fixtures/duplicate_version_across_branches");

fn main() {}

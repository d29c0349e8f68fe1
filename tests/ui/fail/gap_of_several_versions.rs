ebbtide::embed_migrations!("ui/fixtures/gap_of_several_versions");

fn main() {}

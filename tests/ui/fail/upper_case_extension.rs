ebbtide::embed_migrations!("ui/fixtures/upper_case_extension");

fn main() {}

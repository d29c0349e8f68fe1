ebbtide::embed_migrations!("ui/fixtures/directive_after_statement");

fn main() {}

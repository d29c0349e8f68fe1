ebbtide::embed_migrations!("ui/fixtures/unterminated_quote");

fn main() {}

ebbtide::embed_migrations!("ui/fixtures/unterminated_dollar_quote");

fn main() {}

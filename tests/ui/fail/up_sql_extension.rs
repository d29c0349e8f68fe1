ebbtide::embed_migrations!("ui/fixtures/up_sql_extension");

fn main() {}

ebbtide::embed_migrations!("ui/fixtures/contract_create_table");

fn main() {}

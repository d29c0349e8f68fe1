// MySQL's `CHANGE old new type` renames and retypes a column at once: a
// rename, which no branch allows.
ebbtide::embed_migrations!("ui/fixtures/mysql_change_column", engine = "mysql");

fn main() {}

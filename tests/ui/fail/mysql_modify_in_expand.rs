// MySQL's MODIFY redefines a column (type, nullability, default): a change
// to what the old release uses, so not in expand.
ebbtide::embed_migrations!("ui/fixtures/mysql_modify_in_expand", engine = "mysql");

fn main() {}

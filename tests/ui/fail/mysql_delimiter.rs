// `DELIMITER` belongs to the mysql client: ebbtide keeps a BEGIN ... END
// body whole without it.
ebbtide::embed_migrations!("ui/fixtures/mysql_delimiter", engine = "mysql");

fn main() {}

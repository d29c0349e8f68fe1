// MySQL commits each DDL statement on its own, so a migration with two of
// them can fail half-way: a warning at build time, an error here where
// warnings are denied.
#![deny(deprecated)]

ebbtide::embed_migrations!("ui/fixtures/mysql_migration_can_fail_half_way", engine = "mysql");

fn main() {}

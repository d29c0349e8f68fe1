// SQLite's table rebuild (new table, copy, drop, rename) replaces the table
// the old release uses: one error, on the drop, and no rename error.
ebbtide::embed_migrations!("ui/fixtures/expand_table_rebuild");

fn main() {}

// pg_dump's `\restrict` and `\unrestrict` lines are skipped; any other
// psql meta-command is not SQL, and the build says so.
ebbtide::embed_migrations!("ui/fixtures/psql_meta_command");

fn main() {}

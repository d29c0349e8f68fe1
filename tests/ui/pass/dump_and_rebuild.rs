// A pg_dump with its `\restrict` fence imports as it is, and SQLite's table
// rebuild is one contract operation: both compile, and the runtime learns
// what each script does to its session.
ebbtide::embed_migrations!("ui/fixtures/dump_and_rebuild");

fn main() {
    let all = &migrations::MIGRATIONS;
    let dump = all.get(migrations::V0002_LEGACY_DUMP).unwrap();
    let statements: Vec<&str> = dump.up.statements().map(|(_, sql)| sql).collect();
    assert_eq!(statements.len(), 3, "{statements:?}");
    assert!(statements.iter().all(|s| !s.contains('\\')), "the meta-commands are not sent: {statements:?}");
    assert!(dump.up.sets_session && !dump.up.foreign_keys_off);
    let rebuild = all.get(migrations::V0003_REBUILD_PARENT).unwrap();
    assert!(rebuild.up.foreign_keys_off && rebuild.up.sets_session);
    assert!(!all.get(migrations::V0001_CREATE_PARENT).unwrap().up.sets_session);
}

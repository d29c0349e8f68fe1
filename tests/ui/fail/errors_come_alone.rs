// A mistake in the migrations is one error: the crate's uses of the
// migrations module and of its version names add none of their own.
ebbtide::embed_migrations!("ui/fixtures/expand_drop_column");

fn main() {
    let all = &migrations::MIGRATIONS;
    let target: ebbtide::Version = migrations::V0002_DROP_LEGACY_LOGIN.into();
    let _ = (all.len(), target, migrations::Versions::V0001_CREATE_USERS);
}

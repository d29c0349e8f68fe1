// Target versions are constants the compiler checks.
ebbtide::embed_migrations!("ui/fixtures/valid");

fn main() {
    let _target: ebbtide::Version = migrations::V0003_DROP_USERS;
}

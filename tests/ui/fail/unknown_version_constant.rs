// Target versions are names the compiler checks.
ebbtide::embed_migrations!("ui/fixtures/valid");

fn main() {
    let _target = migrations::V0003_DROP_USERS;
}

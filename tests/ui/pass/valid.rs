ebbtide::embed_migrations!("ui/fixtures/valid");

fn main() {
    let all = &migrations::MIGRATIONS;
    assert_eq!(all.len(), 2);
    assert_eq!(migrations::V0002_DROP_USERS, ebbtide::Version::new(2));
    let drop = all.get(migrations::V0002_DROP_USERS).unwrap();
    assert_eq!(drop.branch, ebbtide::Branch::Contract);
    assert_eq!(drop.up.statements().map(|(_, sql)| sql).collect::<Vec<_>>(), ["DROP TABLE users;"]);
}

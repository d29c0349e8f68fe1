ebbtide::embed_migrations!("ui/fixtures/valid");

fn main() {
    let all = &migrations::MIGRATIONS;
    assert_eq!(all.len(), 2);
    assert_eq!(migrations::V0002_DROP_USERS.version(), ebbtide::Version::new(2));
    assert_eq!(ebbtide::Version::from(migrations::V0001_CREATE_USERS), ebbtide::Version::new(1));
    assert_eq!(format!("{:?}", migrations::V0002_DROP_USERS), "V0002_DROP_USERS");
    assert_eq!(format!("{:?}", [migrations::V0001_CREATE_USERS]), "[V0001_CREATE_USERS]");
    assert_eq!(format!("{:?}", migrations::V0002_DROP_USERS.version()), "Version(2)");
    const TARGET: ebbtide::Version = migrations::V0002_DROP_USERS.version();
    assert!(migrations::V0001_CREATE_USERS < migrations::V0002_DROP_USERS && TARGET.get() == 2);
    let drop = all.get(migrations::V0002_DROP_USERS).unwrap();
    assert_eq!(drop.branch, ebbtide::Branch::Contract);
    assert_eq!(drop.up.statements().map(|(_, sql)| sql).collect::<Vec<_>>(), ["DROP TABLE users;"]);
}

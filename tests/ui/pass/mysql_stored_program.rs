// A MySQL expand/contract history: an added column, a trigger with a
// `BEGIN ... END` body (one statement, its `;`s inside), an index, and
// their removal in contract.
#![deny(deprecated)]

ebbtide::embed_migrations!("ui/fixtures/mysql_stored_program", engine = "mysql");

fn main() {
    let sync = migrations::MIGRATIONS.get(migrations::V0003_SYNC_FULL_NAME).unwrap();
    let statements: Vec<&str> = sync.up.statements().map(|(_, sql)| sql).collect();
    assert_eq!(statements.len(), 1, "{statements:#?}");
    assert!(statements[0].starts_with("CREATE TRIGGER") && statements[0].ends_with("END IF;\nEND;"));
}

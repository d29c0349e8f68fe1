// `engine = "mysql"` reads the scripts as MySQL does: a backslash escapes a
// quote, `#` starts a comment, backticks quote names, and none of them ends
// a statement at the `;` it holds.
ebbtide::embed_migrations!("ui/fixtures/mysql_engine", engine = "mysql");

fn main() {
    let notes = migrations::MIGRATIONS.get(migrations::V0001_CREATE_NOTES).unwrap();
    let statements: Vec<&str> = notes.up.statements().map(|(_, sql)| sql).collect();
    assert_eq!(statements.len(), 2, "{statements:#?}");
    assert!(statements[0].starts_with("CREATE TABLE `notes`") && statements[0].ends_with("'it\\'s; fine'\n);"));
    assert_eq!(statements[1], r#"INSERT INTO `notes` (`id`, body) VALUES (1, "say \"hi\"; bye");"#);
}

// A history kept in line with other engines' holds migrations that only
// say, in a comment, why they do nothing here: each is a no-op, in any
// branch, and keeps its version.
ebbtide::embed_migrations!("ui/fixtures/comment_only_history");

fn main() {
    let all = &migrations::MIGRATIONS;
    assert_eq!(all.len(), 5);
    for noop in [migrations::V0002_WIDEN_USER_IDS, migrations::V0004_FULLTEXT_INDEX, migrations::V0005_DROP_MYSQL_ONLY_COLUMN] {
        assert_eq!(all.get(noop).unwrap().up.statements().count(), 0);
    }
}

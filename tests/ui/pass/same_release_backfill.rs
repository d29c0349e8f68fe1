// Within one release (declared from 0003 on), expand migrations may
// backfill the columns and rewrite the tables that release added, also
// after a contract migration of the same release.
ebbtide::embed_migrations!("ui/fixtures/same_release_backfill");

fn main() {
    assert_eq!(migrations::MIGRATIONS.len(), 6);
}

// A batched backfill: one UPDATE of the directive's table, bounded by
// :after and :upto, which the runtime runs batch by batch.
ebbtide::embed_migrations!("ui/fixtures/batched_backfill");

fn main() {
    let m = migrations::MIGRATIONS.get(3u32).unwrap();
    let backfill = m.up.backfill.as_ref().unwrap();
    assert_eq!((&*backfill.table, &*backfill.key, backfill.batch_size), ("users", "id", 10_000));
}

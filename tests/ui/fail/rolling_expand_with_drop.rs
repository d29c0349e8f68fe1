// The rolling-upgrade demo's release 2, with the old column dropped in
// expand: the release still running would break, so the build does.
ebbtide::embed_migrations!("ui/fixtures/rolling_expand_with_drop");

fn main() {}

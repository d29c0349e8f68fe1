// In a project that declares its releases, the declarations are the
// boundaries: release 1.1 may not delete rows of a table release 1.0 made.
ebbtide::embed_migrations!("ui/fixtures/expand_across_a_declared_release");

fn main() {}

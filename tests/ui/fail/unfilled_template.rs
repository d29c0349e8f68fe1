// The template `ebbtide revision` wrote, never filled in: not a no-op but
// a forgotten migration.
ebbtide::embed_migrations!("ui/fixtures/unfilled_template");

fn main() {}

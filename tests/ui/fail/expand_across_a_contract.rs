// A contract migration ends a release: what an expand migration before it
// created is old for the next release, whose expand may not rewrite it.
ebbtide::embed_migrations!("ui/fixtures/expand_across_a_contract");

fn main() {}

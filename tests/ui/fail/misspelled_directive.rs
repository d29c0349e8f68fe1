// Comments that look like directives and are not would be silently
// ignored: a block comment, a space before the colon.
ebbtide::embed_migrations!("ui/fixtures/misspelled_directive");

fn main() {}

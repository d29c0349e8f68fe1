ebbtide::embed_migrations!(migrations);

fn main() {}

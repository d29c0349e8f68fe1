// An engine the macro does not know is one error, on its name: the crate's
// uses of the migrations module add none of their own.
ebbtide::embed_migrations!("ui/fixtures/valid", engine = "oracle");

fn main() {
    let _ = (migrations::MIGRATIONS.len(), migrations::V0002_DROP_USERS);
}

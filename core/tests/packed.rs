//! The packed form the macro embeds gives back exactly what `load` read,
//! on every real migrations directory of the project.

use std::path::Path;

use ebbtide_core::{Statement, load, packed};

#[test]
fn real_directories_survive_packing() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for dir in [
        "migrations",
        "tests/fixtures/real_history/migrations",
        "examples/rolling_upgrade/release1/migrations",
        "examples/rolling_upgrade/release2/migrations",
    ] {
        let loaded = load(&root.join(dir), dir).unwrap_or_else(|d| panic!("{dir}: {d}"));
        assert!(!loaded.migrations.is_empty(), "{dir} holds migrations");
        let (text, table) = packed::pack(&loaded.migrations);
        let text: &'static str = Box::leak(text.into_boxed_str());
        let statements: &'static [Statement] = Box::leak(packed::statements(&table).into_boxed_slice());
        assert_eq!(packed::unpack(text, &table, statements), loaded.migrations, "{dir}");
    }
}

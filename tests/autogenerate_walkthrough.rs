//! The walk-through of `cargo run --example autogenerate`, as a test: it
//! fails if any claim of its transcript stops holding (the refusal of a
//! possible rename, the files written, the build refusing the placeholder,
//! release 1 working through expand, the final diff).

#[test]
fn autogenerate_walks_from_release_one_to_contract_on_sqlite() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let transcript = match ebbtide_examples::autogenerate::walkthrough(dir.path()) {
        Ok(transcript) => transcript,
        Err(e) => panic!("the autogenerate walk-through broke a claim: {e}"),
    };
    print!("{transcript}");
    for line in [
        // The refusal names the rename, and nothing is written.
        "users.name is dropped and users.full_name of the same type added: if it is a rename, say --rename users.name=full_name; if not, say --drop users.name",
        "exit 1, nothing written",
        // The files of both releases.
        "migrations/expand/0001_create_users.sql",
        "migrations/expand/0002_users_full_name_and_email.sql",
        "$ ebbtide revision --autogenerate -m \"users full name and email\" --release 2 --rename users.name=full_name",
        // The placeholder, refused, then filled.
        "`revision --autogenerate` left this value for you to write: the value of users.email for existing rows",
        "migrations: 3 migrations, no errors",
        // Release 1 through expand, release 2 after contract.
        "SELECT full_name FROM users WHERE name = 'Alan Turing';  -- Alan Turing",
        "release 1, started again, refuses: the schema is incompatible with this release",
        // The final diff.
        "$ ebbtide diff",
        "no difference between what the migrations in migrations build and schema.sql",
        "no difference between the database and what its recorded migrations in migrations build",
    ] {
        assert!(transcript.contains(line), "missing {line:?} in:\n{transcript}");
    }
    let migrations = dir.path().join("migrations");
    for file in ["expand/0001_create_users.sql", "expand/0002_users_full_name_and_email.sql"] {
        assert!(migrations.join(file).is_file(), "{file} was not written");
    }
    let contract: Vec<_> = std::fs::read_dir(migrations.join("contract")).expect("a contract directory").collect();
    assert!(!contract.is_empty(), "no contract migration was written");
    let expand = std::fs::read_to_string(migrations.join("expand/0002_users_full_name_and_email.sql")).unwrap();
    assert!(expand.contains(ebbtide_examples::autogenerate::EMAIL), "the placeholder was not filled:\n{expand}");
    assert!(!expand.contains(ebbtide::autogenerate::FILL_IN), "a placeholder is left:\n{expand}");
}

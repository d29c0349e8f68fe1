//! The rolling upgrade of `cargo run --example rolling_upgrade`, as a test,
//! on PostgreSQL and on MySQL/MariaDB: it fails if any step's promise
//! breaks (release 2 starting on release 1's schema, a row one release
//! wrote read wrongly by the other, the old release accepting a contracted
//! schema, ...).

mod support;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_releases_share_one_postgres_database_through_expand_and_contract() {
    two_releases_share_one_database("postgres").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_releases_share_one_mysql_database_through_expand_and_contract() {
    two_releases_share_one_database("mysql").await;
}

/// The scenario on a database of its own on the server of `engine`, and
/// every promise its transcript must show.
async fn two_releases_share_one_database(engine: &str) {
    let Some(db) = support::ServerDatabase::create(engine).await else { return };
    let transcript = match ebbtide_examples::rolling::scenario(&db.url).await {
        Ok(transcript) => transcript,
        Err(e) => panic!("the rolling upgrade broke a promise on {engine}: {e}"),
    };
    print!("{transcript}");
    for step in [
        "1. release 1 started",
        "2. sync --expand",
        "3. release 2 started",
        "4. release 1 stopped",
        "5. release 2 still works",
    ] {
        assert!(transcript.contains(step), "missing step {step:?}:\n{transcript}");
    }
    assert!(transcript.contains("release 2 refuses to start: the schema is behind this release"), "{transcript}");
    assert!(
        transcript.contains("release 1 refuses to start: the schema is incompatible with this release: the database was contracted by a newer release"),
        "{transcript}"
    );
}

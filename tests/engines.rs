#![deny(warnings)]

//! One scenario suite, run against SQLite (file and in-memory) and
//! PostgreSQL: every operation, every verdict of the startup check,
//! divergence, failures and rollback, no-transaction migrations.

mod support;

use ebbtide::{Aftermath, Error, How, MigrationId, Migrator, Outcome, Refusal, Request, Scope, Verdict, Version};
use support::{Db, Dir};

ebbtide::embed_migrations!("../migrations");

use migrations::MIGRATIONS;

/// Migration `n` named `name`, as verdicts list it.
fn id(n: u32, name: &str) -> MigrationId {
    MigrationId { version: v(n), name: name.into() }
}

fn v(n: u32) -> Version {
    Version::new(n)
}

async fn sync_applies_everything_once(db: Db) {
    let m = Migrator::new(&MIGRATIONS);
    // A new database: nothing to serve on until a sync of every branch.
    let verdict = db.check(&m).await.unwrap();
    assert_eq!(verdict, Verdict::Empty);
    assert!(!verdict.may_serve());
    assert_eq!((verdict.exit_code(), verdict.sync_to_serve()), (2, Some(Scope::All)));
    let report = db.run(&m, Request::Sync(Scope::All)).await.unwrap();
    assert!(report.created_table);
    assert_eq!(report.steps.iter().map(|s| s.version.get()).collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
    let records = db.records(&m).await.unwrap();
    assert_eq!(records.len(), 5);
    assert!(records.iter().all(|r| r.how == Some(How::Applied)));
    assert_eq!(records[3].branch, ebbtide::Branch::Contract);
    assert_eq!(records[1].checksum, MIGRATIONS.get(v(2)).unwrap().checksum);
    assert_eq!(db.columns("users").await, ["email", "id", "name"]);
    assert_eq!(db.tables().await, ["sessions", "users"]);
    assert_eq!(db.check(&m).await.unwrap(), Verdict::Current);
    let again = db.run(&m, Request::Sync(Scope::All)).await.unwrap();
    assert!(again.is_empty(), "{again}");
    let version = db.version(&m).await.unwrap();
    assert_eq!((version.current, version.expand, version.contract), (v(5), Some(v(5)), Some(v(4))));
}

async fn expand_then_contract(db: Db) {
    let m = Migrator::new(&MIGRATIONS);
    let report = db.run(&m, Request::Sync(Scope::Expand)).await.unwrap();
    assert_eq!(report.steps.iter().map(|s| s.version.get()).collect::<Vec<_>>(), [1, 2, 3, 5]);
    assert_eq!(db.columns("users").await, ["email", "id", "legacy_login", "name"]);
    assert_eq!(
        db.check(&m).await.unwrap(),
        Verdict::ContractPending { pending: vec![id(4, "drop_users_legacy_login")] }
    );
    let version = db.version(&m).await.unwrap();
    assert_eq!((version.current, version.highest, version.contract), (v(3), v(5), None));
    let report = db.run(&m, Request::Sync(Scope::Contract)).await.unwrap();
    assert_eq!(report.steps.iter().map(|s| s.version.get()).collect::<Vec<_>>(), [4]);
    assert_eq!(db.columns("users").await, ["email", "id", "name"]);
    assert_eq!(db.check(&m).await.unwrap(), Verdict::Current);
}

async fn contract_waits_for_earlier_expand(db: Db) {
    let m = Migrator::new(&MIGRATIONS);
    let err = db.run(&m, Request::Sync(Scope::Contract)).await.unwrap_err();
    assert!(
        matches!(&err, Error::Refused(Refusal::ContractBeforeExpand { contract, missing })
            if contract == "0004_drop_users_legacy_login" && missing == "0001_create_users"),
        "{err}"
    );
    assert!(db.records(&m).await.is_none(), "a refusal executes nothing, not even the version table");
    db.run(&m, Request::Upgrade(v(2))).await.unwrap();
    let err = db.run(&m, Request::Sync(Scope::Contract)).await.unwrap_err();
    assert!(err.to_string().contains("needs expand migration 0003_add_users_email"), "{err}");
    assert_eq!(db.versions(&m).await, [1, 2]);
}

async fn upgrade_stops_at_the_target(db: Db) {
    let m = Migrator::new(&MIGRATIONS);
    db.run(&m, Request::Upgrade(migrations::V0003_ADD_USERS_EMAIL.into())).await.unwrap();
    assert_eq!(db.versions(&m).await, [1, 2, 3]);
    let err = db.run(&m, Request::Upgrade(v(9))).await.unwrap_err();
    assert!(
        matches!(err, Error::Refused(Refusal::UnknownTarget { target, latest }) if target == v(9) && latest == v(5))
    );
    assert_eq!(db.versions(&m).await, [1, 2, 3]);
    assert!(db.run(&m, Request::Upgrade(v(2))).await.unwrap().is_empty());
}

async fn downgrade_reverts_newest_first_and_refuses_irreversible(db: Db) {
    let m = Migrator::new(db.fixture().example());
    db.run(&m, Request::Sync(Scope::All)).await.unwrap();
    let report = db.run(&m, Request::Downgrade(v(1))).await.unwrap();
    assert_eq!(report.steps.iter().map(|s| s.version.get()).collect::<Vec<_>>(), [5, 4, 3, 2]);
    assert!(report.steps.iter().all(|s| s.verb == "revert"));
    assert_eq!(db.versions(&m).await, [1]);
    assert_eq!(db.tables().await, ["users"]);
    assert_eq!(db.columns("users").await, ["id", "legacy_login", "name"]);
    let err = db.run(&m, Request::Downgrade(Version::ZERO)).await.unwrap_err();
    assert_eq!(err.to_string(), "cannot downgrade: 0001_create_users has no down script; nothing was reverted");
    assert_eq!(db.versions(&m).await, [1]);
    // Downgrading to where the database already is does nothing.
    assert!(db.run(&m, Request::Downgrade(v(3))).await.unwrap().is_empty());
}

async fn downgrade_uses_stored_down_scripts_of_unknown_migrations(db: Db) {
    let newer = Dir::new(&[
        ("expand/0001_create_items.sql", "CREATE TABLE items (id INTEGER PRIMARY KEY);"),
        ("expand/0002_add_items_label.sql", "ALTER TABLE items ADD COLUMN label TEXT;"),
        ("expand/0002_add_items_label.down.sql", "ALTER TABLE items DROP COLUMN label;"),
        ("expand/0003_create_tags.sql", "CREATE TABLE tags (id INTEGER PRIMARY KEY);"),
        ("expand/0003_create_tags.down.sql", "DROP TABLE tags;"),
    ]);
    let newer_migrations = newer.migrations();
    db.run(&Migrator::new(&newer_migrations), Request::Sync(Scope::All)).await.unwrap();
    // The older release knows only 0001.
    newer.remove("expand/0002_add_items_label.sql");
    newer.remove("expand/0002_add_items_label.down.sql");
    newer.remove("expand/0003_create_tags.sql");
    newer.remove("expand/0003_create_tags.down.sql");
    let older_migrations = newer.migrations();
    let older = Migrator::new(&older_migrations);
    assert!(matches!(db.check(&older).await.unwrap(), Verdict::NewerExpand { .. }));
    let report = db.run(&older, Request::Downgrade(v(1))).await.unwrap();
    assert_eq!(report.steps.len(), 2);
    assert_eq!(db.versions(&older).await, [1]);
    assert_eq!(db.tables().await, ["items"]);
    assert_eq!(db.columns("items").await, ["id"]);
    assert_eq!(db.check(&older).await.unwrap(), Verdict::Current);
}

async fn goto_stamps_without_running(db: Db) {
    let m = Migrator::new(&MIGRATIONS);
    let report = db.run(&m, Request::Goto(v(3))).await.unwrap();
    assert_eq!(report.steps.iter().map(|s| s.verb).collect::<Vec<_>>(), ["stamp", "stamp", "stamp"]);
    assert!(db.tables().await.is_empty(), "goto runs no migration SQL");
    let records = db.records(&m).await.unwrap();
    assert!(records.iter().all(|r| r.how == Some(How::Stamped)));
    db.run(&m, Request::Goto(v(1))).await.unwrap();
    assert_eq!(db.versions(&m).await, [1]);
    let err = db.run(&m, Request::Goto(v(6))).await.unwrap_err();
    assert!(matches!(err, Error::Refused(Refusal::UnknownTarget { .. })));
}

async fn version_control_adopts_an_existing_database(db: Db) {
    let m = Migrator::new(&MIGRATIONS);
    db.exec("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, legacy_login TEXT)").await.unwrap();
    assert_eq!(db.check(&m).await.unwrap(), Verdict::Unmanaged);
    let report = db.run(&m, Request::VersionControl).await.unwrap();
    assert!(report.created_table && report.steps.is_empty());
    assert_eq!(db.version(&m).await.unwrap().current, Version::ZERO);
    assert!(matches!(db.check(&m).await.unwrap(), Verdict::Outdated { .. }));
    let err = db.run(&m, Request::VersionControl).await.unwrap_err();
    assert!(matches!(err, Error::Refused(Refusal::AlreadyUnderControl(v)) if v == Version::ZERO));
    // The existing table is the initial migration's: stamp it, then sync the rest.
    db.run(&m, Request::Goto(v(1))).await.unwrap();
    db.run(&m, Request::Sync(Scope::All)).await.unwrap();
    assert_eq!(db.check(&m).await.unwrap(), Verdict::Current);
}

async fn check_gives_every_verdict(db: Db) {
    let release1 = Dir::new(&[
        ("expand/0001_create_users.sql", "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);"),
        ("expand/0002_add_users_nick.sql", "ALTER TABLE users ADD COLUMN nick TEXT;"),
    ]);
    let r1 = release1.migrations();
    let release2 = Dir::new(&[
        ("expand/0001_create_users.sql", "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);"),
        ("expand/0002_add_users_nick.sql", "ALTER TABLE users ADD COLUMN nick TEXT;"),
        ("expand/0003_add_users_email.sql", "ALTER TABLE users ADD COLUMN email TEXT;"),
        ("contract/0004_drop_users_nick.sql", "ALTER TABLE users DROP COLUMN nick;"),
    ]);
    let r2 = release2.migrations();
    let (m1, m2) = (Migrator::new(&r1), Migrator::new(&r2));

    assert_eq!(db.check(&m1).await.unwrap(), Verdict::Empty);
    db.run(&m1, Request::Upgrade(v(1))).await.unwrap();
    assert_eq!(db.check(&m1).await.unwrap(), Verdict::Outdated { missing: vec![id(2, "add_users_nick")] });
    assert!(!db.check(&m1).await.unwrap().may_serve());
    db.run(&m1, Request::Sync(Scope::All)).await.unwrap();
    assert_eq!(db.check(&m1).await.unwrap(), Verdict::Current);
    assert!(matches!(db.check(&m2).await.unwrap(), Verdict::Outdated { .. }));
    db.run(&m2, Request::Sync(Scope::Expand)).await.unwrap();
    assert_eq!(db.check(&m1).await.unwrap(), Verdict::NewerExpand { unknown: vec![id(3, "add_users_email")] });
    assert!(db.check(&m1).await.unwrap().may_serve());
    assert_eq!(db.check(&m2).await.unwrap(), Verdict::ContractPending { pending: vec![id(4, "drop_users_nick")] });
    db.run(&m2, Request::Sync(Scope::Contract)).await.unwrap();
    assert_eq!(db.check(&m2).await.unwrap(), Verdict::Current);
    let old = db.check(&m1).await.unwrap();
    assert_eq!(old, Verdict::Incompatible { unknown_contract: vec![id(4, "drop_users_nick")], divergent: vec![] });
    assert!(!old.may_serve());
    assert!(old.to_string().contains("contracted by a newer release"), "{old}");
    // The old release cannot sync either: it would not know what it runs on.
    let err = db.run(&m1, Request::Sync(Scope::All)).await.unwrap_err();
    assert!(matches!(err, Error::Refused(Refusal::NewerContract(_))), "{err}");
}

async fn divergent_checksums_block_sync_but_not_line_endings(db: Db) {
    let dir = Dir::new(&[
        (
            "expand/0001_create_users.sql",
            "CREATE TABLE users (id INTEGER PRIMARY KEY);\nCREATE INDEX users_id ON users (id);\n",
        ),
        ("expand/0002_create_roles.sql", "CREATE TABLE roles (id INTEGER PRIMARY KEY);\n"),
    ]);
    let before = dir.migrations();
    db.run(&Migrator::new(&before), Request::Upgrade(v(1))).await.unwrap();

    dir.write(
        "expand/0001_create_users.sql",
        "CREATE TABLE users (id INTEGER PRIMARY KEY);\r\nCREATE INDEX users_id ON users (id);\r\n",
    );
    let crlf = dir.migrations();
    let m = Migrator::new(&crlf);
    assert!(matches!(db.check(&m).await.unwrap(), Verdict::Outdated { .. }), "CRLF is not divergence");

    dir.write("expand/0001_create_users.sql", "CREATE TABLE users (id BIGINT PRIMARY KEY);\n");
    let edited = dir.migrations();
    let m = Migrator::new(&edited);
    let verdict = db.check(&m).await.unwrap();
    assert!(matches!(&verdict, Verdict::Incompatible { divergent, .. } if divergent.len() == 1), "{verdict:?}");
    let err = db.run(&m, Request::Sync(Scope::All)).await.unwrap_err();
    assert!(err.to_string().contains("0001_create_users had its statements edited after it was applied"), "{err}");
    assert_eq!(db.versions(&m).await, [1]);
    let report = db.run(&m.clone().allow_divergent(true), Request::Sync(Scope::All)).await.unwrap();
    assert_eq!(report.steps.len(), 1);

    // Renaming an applied migration's file is divergence.
    dir.remove("expand/0001_create_users.sql");
    dir.write("expand/0001_make_users.sql", "CREATE TABLE users (id BIGINT PRIMARY KEY);\n");
    let renamed = dir.migrations();
    let verdict = db.check(&Migrator::new(&renamed)).await.unwrap();
    assert!(verdict.to_string().contains("0001_make_users (recorded as 0001_create_users) was renamed"), "{verdict}");

    // Moving a migration between branches is divergence too.
    dir.remove("expand/0002_create_roles.sql");
    dir.write(
        "contract/0002_create_roles.sql",
        "-- ebbtide: allow additive\nCREATE TABLE roles (id INTEGER PRIMARY KEY);\n",
    );
    let moved = dir.migrations();
    let verdict = db.check(&Migrator::new(&moved).allow_divergent(true)).await.unwrap();
    assert!(verdict.to_string().contains("moved from expand to contract"), "{verdict}");
}

async fn failing_migration_rolls_back_and_names_the_statement(db: Db) {
    let dir = Dir::new(&[
        ("expand/0001_create_users.sql", "CREATE TABLE users (id INTEGER PRIMARY KEY);\n"),
        (
            "expand/0002_create_more.sql",
            "CREATE TABLE audit (id INTEGER PRIMARY KEY);\nINSERT INTO audit (id) VALUES (1);\n\nINSERT INTO missing_table (id) VALUES (1);\n",
        ),
    ]);
    let migrations = dir.migrations();
    let m = Migrator::new(&migrations);
    let err = db.run(&m, Request::Sync(Scope::All)).await.unwrap_err();
    let Error::MigrationFailed(failure) = &err else { panic!("{err}") };
    assert_eq!(failure.version, v(2));
    assert_eq!(failure.path, "migrations/expand/0002_create_more.sql");
    assert_eq!(failure.line, 4);
    assert!(failure.statement.contains("missing_table"));
    assert!(failure.message.contains("missing_table"), "{}", failure.message);
    if !db.capabilities().transactional_ddl {
        // Committed statement by statement: where it stopped is recorded,
        // and nothing runs until an operator says how it ended.
        assert_eq!(failure.aftermath, Aftermath::StatementsApplied { applied: 2, of: 3 });
        assert!(err.to_string().contains("resolve 0002 forgotten"), "{err}");
        assert_eq!(db.check(&m).await.unwrap(), Verdict::Unfinished { started: vec![id(2, "create_more")] });
        let rows = db.status(&m).await;
        let stopped = rows[1].stopped.as_ref().expect("where it stopped").to_string();
        assert!(stopped.starts_with("failed at statement 3 of 3: ") && stopped.contains("missing_table"), "{stopped}");
        db.exec("DROP TABLE audit").await.unwrap();
        db.run(&m, Request::Resolve(v(2), Outcome::Forgotten)).await.unwrap();
        let err = db.run(&m, Request::Resolve(v(2), Outcome::Forgotten)).await.unwrap_err();
        assert!(matches!(err, Error::Refused(Refusal::NotStarted(_))), "{err}");
    } else {
        assert_eq!(failure.aftermath, Aftermath::RolledBack);
    }
    // A program reaches the engine's code and its driver's own error.
    assert_eq!(err.code(), Some(db.fixture().undefined_table_code()), "{err}");
    let source = std::error::Error::source(&err).expect("the driver's error");
    assert!(db.fixture().is_driver_error(source), "{source:?}");
    assert_eq!(db.versions(&m).await, [1], "the migration before it stays applied");
    assert!(!db.run_lock_held().await, "the failed run released its lock");
    assert_eq!(db.tables().await, ["users"], "nothing of the failed migration remains");
    // Fixed, it applies.
    dir.write("expand/0002_create_more.sql", "CREATE TABLE audit (id INTEGER PRIMARY KEY);\n");
    let fixed = dir.migrations();
    db.run(&Migrator::new(&fixed), Request::Sync(Scope::All)).await.unwrap();
    assert_eq!(db.tables().await, ["audit", "users"]);
}

/// Errors found while parsing (PostgreSQL parses a whole batch before it
/// runs any of it), while planning and while running each name their own
/// statement, past multi-byte text, in a step's own transaction and in the
/// all-or-nothing one.
async fn every_kind_of_failure_names_its_statement(db: Db) {
    let cases = [
        ("CREATE TABLE t (name TEXT DEFAULT 'été ✓');\nCREATE TABLE oops (id INTEGER PRIMARY KEY,);\n", 2, "oops"),
        ("CREATE TABLE t (a INTEGER);\n\n\nSELECT nope FROM t;\nCREATE TABLE u (b INTEGER);\n", 4, "nope"),
        ("CREATE TABLE t (a INTEGER);\nCREATE TABLE u (b INTEGER);\nCREATE TABLE t (c INTEGER);\n", 3, "(c INTEGER)"),
    ];
    let transactional = db.capabilities().transactional_ddl;
    for all_or_nothing in [false, true] {
        for (sql, line, needle) in cases {
            let db = db.sibling().await;
            let dir = Dir::new(&[
                ("expand/0001_create_users.sql", "CREATE TABLE users (id INTEGER PRIMARY KEY);\n"),
                ("expand/0002_fails.sql", sql),
            ]);
            let migrations = dir.migrations();
            let m = Migrator::new(&migrations).all_or_nothing(all_or_nothing);
            let err = db.run(&m, Request::Sync(Scope::All)).await.unwrap_err();
            if all_or_nothing && !transactional {
                assert!(matches!(err, Error::Refused(Refusal::AllOrNothingWithoutTransactionalDdl)), "{err}");
                assert!(db.records(&m).await.is_none(), "{sql}: nothing ran");
                continue;
            }
            let Error::MigrationFailed(failure) = &err else { panic!("{err}") };
            assert_eq!((failure.line, failure.version), (line, v(2)), "{sql}: {err}");
            assert!(failure.statement.contains(needle), "{sql}: {}", failure.statement);
            let expected: &[u32] = match (all_or_nothing, transactional) {
                (true, _) => &[],
                (false, true) => &[1],
                // Its first statement stayed, and so does its started mark.
                (false, false) => &[1, 2],
            };
            assert_eq!(db.versions(&m).await, expected, "{sql}");
            let tables = db.tables().await;
            match (all_or_nothing, transactional) {
                (true, _) => assert!(tables.is_empty(), "{sql}: {tables:?}"),
                (false, true) => assert_eq!(tables, ["users"], "{sql}"),
                (false, false) => assert!(tables.contains(&"t".to_string()), "{sql}: {tables:?}"),
            }
        }
    }
    if let Some(sleep) = db.fixture().sleep_sql(200) {
        // The duration recorded is the script's, also where it ran in the
        // same round trip as its version-table row.
        let dir = Dir::new(&[("expand/0001_wait.sql", &format!("{sleep}\n"))]);
        let migrations = dir.migrations();
        db.run(&Migrator::new(&migrations), Request::Sync(Scope::All)).await.unwrap();
        let ms = db.strings("SELECT duration_ms FROM ebbtide_migrations WHERE version = 1").await;
        let ms: i64 = ms[0].parse().unwrap();
        assert!((200..5_000).contains(&ms), "duration_ms = {ms}");
    }
}

async fn all_or_nothing_rolls_back_the_whole_run(db: Db) {
    let dir = Dir::new(&[
        ("expand/0001_create_users.sql", "CREATE TABLE users (id INTEGER PRIMARY KEY);\n"),
        (
            "expand/0002_create_broken.sql",
            "CREATE TABLE broken (id INTEGER PRIMARY KEY);\nINSERT INTO nowhere VALUES (1);\n",
        ),
    ]);
    let migrations = dir.migrations();
    let m = Migrator::new(&migrations).all_or_nothing(true);
    db.run(&m, Request::VersionControl).await.unwrap();
    let err = db.run(&m, Request::Sync(Scope::All)).await.unwrap_err();
    if !db.capabilities().transactional_ddl {
        // No transaction holds a schema change: refused, with the reason.
        assert!(matches!(err, Error::Refused(Refusal::AllOrNothingWithoutTransactionalDdl)), "{err}");
        assert!(err.to_string().contains("commits each one on its own"), "{err}");
        assert!(db.versions(&m).await.is_empty());
        assert!(db.tables().await.is_empty());
        return;
    }
    assert!(matches!(&err, Error::MigrationFailed(f) if f.aftermath == Aftermath::RunRolledBack), "{err}");
    assert!(db.versions(&m).await.is_empty());
    assert!(db.tables().await.is_empty());
    dir.write("expand/0002_create_broken.sql", "CREATE TABLE broken (id INTEGER PRIMARY KEY);\n");
    let fixed = dir.migrations();
    let report = db.run(&Migrator::new(&fixed).all_or_nothing(true), Request::Sync(Scope::All)).await.unwrap();
    assert_eq!(report.steps.len(), 2);
}

async fn no_transaction_migrations_run_outside_a_transaction(db: Db) {
    let (index, unindex) = db.index_without_transaction();
    let index = &format!("-- ebbtide: no-transaction\n{index}\n");
    let unindex = &format!("-- ebbtide: no-transaction\n{unindex}\n");
    let dir = Dir::new(&[
        ("expand/0001_create_users.sql", "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);\n"),
        ("expand/0002_index_users_name.sql", index),
        ("expand/0002_index_users_name.down.sql", unindex),
    ]);
    let migrations = dir.migrations();
    let m = Migrator::new(&migrations);
    db.run(&m, Request::Sync(Scope::All)).await.unwrap();
    assert!(db.schema().await.contains(&"index users_name".to_string()));
    // All-or-nothing cannot hold it, down or up: refused before anything runs.
    let err = db.run(&m.clone().all_or_nothing(true), Request::Downgrade(v(1))).await.unwrap_err();
    assert!(
        matches!(&err, Error::Refused(Refusal::NoTransactionInAllOrNothing(id)) if id == "0002_index_users_name"),
        "{err}"
    );
    assert!(db.schema().await.contains(&"index users_name".to_string()));

    // A failing one is reported as partially applied and recorded as
    // started: check and sync refuse until goto records its outcome.
    dir.write(
        "expand/0003_create_two.sql",
        "-- ebbtide: no-transaction\nCREATE TABLE first_half (id INTEGER);\nCREATE TABLE users (id INTEGER);\n",
    );
    let more = dir.migrations();
    let m = Migrator::new(&more);
    let err = db.run(&m, Request::Sync(Scope::All)).await.unwrap_err();
    let Error::MigrationFailed(failure) = &err else { panic!("{err}") };
    let partial = match db.capabilities().transactional_ddl {
        true => Aftermath::PartiallyApplied,
        false => Aftermath::StatementsApplied { applied: 1, of: 2 },
    };
    assert_eq!(failure.aftermath, partial);
    assert_eq!(failure.line, 3);
    assert!(err.to_string().contains("recorded as started"), "{err}");
    assert_eq!(db.versions(&m).await, [1, 2, 3]);
    assert!(db.tables().await.contains(&"first_half".to_string()));
    let started = vec![id(3, "create_two")];
    assert_eq!(db.check(&m).await.unwrap(), Verdict::Unfinished { started: started.clone() });
    assert!(!db.check(&m).await.unwrap().may_serve());
    let rows = match db.records(&m).await {
        Some(records) => ebbtide::status::rows(&more, Some(&records)),
        None => panic!("no version table"),
    };
    assert_eq!(rows[2].state, ebbtide::status::State::Started);
    for request in [Request::Sync(Scope::All), Request::Downgrade(v(1))] {
        let err = db.run(&m, request).await.unwrap_err();
        assert!(matches!(&err, Error::Refused(Refusal::Unfinished(s)) if *s == started), "{request}: {err}");
    }
    // Undone by hand and told so: the next sync runs it from the start.
    db.exec("DROP TABLE first_half").await.unwrap();
    db.run(&m, Request::Goto(v(2))).await.unwrap();
    assert_eq!(db.versions(&m).await, [1, 2]);
    assert_eq!(db.check(&m).await.unwrap(), Verdict::Outdated { missing: vec![id(3, "create_two")] });
    let err = db.run(&m.clone().all_or_nothing(true), Request::Sync(Scope::All)).await.unwrap_err();
    match db.capabilities().transactional_ddl {
        true => assert!(matches!(err, Error::Refused(Refusal::NoTransactionInAllOrNothing(_))), "{err}"),
        false => assert!(matches!(err, Error::Refused(Refusal::AllOrNothingWithoutTransactionalDdl)), "{err}"),
    }
    // Or finished by hand and told so.
    db.run(&m, Request::Sync(Scope::All)).await.unwrap_err();
    db.exec("DROP TABLE first_half").await.unwrap();
    db.run(&m, Request::Goto(v(3))).await.unwrap();
    assert_eq!(db.check(&m).await.unwrap(), Verdict::Current);
}

async fn custom_version_table_names_are_validated_and_used(db: Db) {
    assert!(Migrator::new(&MIGRATIONS).table("x\"; DROP TABLE users; --").is_err());
    let name = if db.capabilities().schemas { "ops.schema_versions" } else { "schema_versions" };
    let m = Migrator::new(&MIGRATIONS).table(name).unwrap();
    db.run(&m, Request::Sync(Scope::Expand)).await.unwrap();
    let count = db.strings(&format!("SELECT count(*) FROM {name}")).await;
    assert_eq!(count, ["4"]);
    assert_eq!(db.check(&Migrator::new(&MIGRATIONS)).await.unwrap(), Verdict::Unmanaged);
}

async fn script_matches_what_sync_does(db: Db) {
    let m = Migrator::new(db.fixture().example());
    let script = db.script(&m, Request::Sync(Scope::All)).await.unwrap();
    assert!(db.records(&m).await.is_none(), "--sql writes nothing");
    assert!(
        script.contains("-- apply expand migration 0002_create_sessions (")
            && script.contains("/expand/0002_create_sessions.sql)\n"),
        "{script}"
    );
    let inserts = script.lines().filter(|l| l.starts_with("INSERT INTO ") && l.contains("ebbtide_migrations"));
    assert_eq!(inserts.count(), 5, "{script}");
    let other = db.sibling().await;
    // Where a database is a schema (MySQL), the script names its own.
    let retarget = |script: String| match (&db.server, &other.server) {
        (Some(from), Some(to)) => script.replace(&from.name, &to.name),
        _ => script,
    };
    other.exec(&retarget(script)).await.unwrap();
    db.run(&m, Request::Sync(Scope::All)).await.unwrap();
    assert_eq!(other.schema().await, db.schema().await);
    assert_eq!(other.versions(&m).await, db.versions(&m).await);
    assert_eq!(other.check(&m).await.unwrap(), Verdict::Current);
    // And back down.
    let down = db.script(&m, Request::Downgrade(v(1))).await.unwrap();
    other.exec(&retarget(down)).await.unwrap();
    db.run(&m, Request::Downgrade(v(1))).await.unwrap();
    assert_eq!(other.schema().await, db.schema().await);
    assert_eq!(other.versions(&m).await, [1]);
}

/// A migration that holds only a comment saying why it does nothing (to
/// keep versions in line with another engine's history) is a no-op,
/// recorded like any other, in a transaction or not, and reverted too.
async fn comment_only_migrations_are_recorded_no_ops(db: Db) {
    let dir = Dir::new(&[
        ("initial/0001_create_users.sql", "CREATE TABLE users (id INTEGER PRIMARY KEY);\n"),
        ("initial/0002_widen_user_ids.sql", "-- Integer size here is already 64-bit, nothing to do.\n"),
        ("expand/0003_fulltext.sql", "-- ebbtide: no-transaction\n/* MySQL only: a FULLTEXT index. */\n"),
        ("expand/0003_fulltext.down.sql", "-- Nothing to undo on this engine.\n"),
        ("expand/0004_add_users_name.sql", "ALTER TABLE users ADD COLUMN name TEXT;\n"),
    ]);
    let m = dir.migrations();
    let migrator = Migrator::new(&m);
    let report = db.run(&migrator, Request::Sync(Scope::All)).await.unwrap();
    assert_eq!(report.steps.iter().map(|s| s.version.get()).collect::<Vec<_>>(), [1, 2, 3, 4]);
    assert_eq!(db.versions(&migrator).await, [1, 2, 3, 4]);
    assert_eq!(db.check(&migrator).await.unwrap(), Verdict::Current);
    dir.remove("expand/0004_add_users_name.sql");
    let m = dir.migrations();
    let migrator = Migrator::new(&m);
    db.exec("ALTER TABLE users DROP COLUMN name").await.unwrap();
    db.exec("DELETE FROM ebbtide_migrations WHERE version = 4").await.unwrap();
    db.run(&migrator, Request::Downgrade(v(2))).await.unwrap();
    assert_eq!(db.versions(&migrator).await, [1, 2]);
}

/// A no-transaction script that opens its own transaction and fails in it
/// leaves no transaction open: the session works afterwards, the run lock
/// is released, and the next run applies the fixed migration.
async fn a_script_failing_inside_its_own_transaction_leaves_none_open(db: Db) {
    let dir = Dir::new(&[
        ("expand/0001_create_a.sql", "CREATE TABLE a (id INTEGER);\n"),
        (
            "expand/0002_fill_a.sql",
            "-- ebbtide: no-transaction\n\
             BEGIN;\nINSERT INTO a VALUES (1);\nINSERT INTO missing_table VALUES (1);\nCOMMIT;\n",
        ),
    ]);
    let m = dir.migrations();
    let migrator = Migrator::new(&m);
    let err = db.run(&migrator, Request::Sync(Scope::All)).await.unwrap_err();
    assert!(err.to_string().contains("missing_table"), "{err}");
    assert_eq!(db.strings("SELECT count(*) FROM a").await, ["0"], "the script's transaction rolled back");
    // Marked unfinished (it may have run half-way); told, the run goes on.
    assert!(matches!(db.check(&migrator).await.unwrap(), Verdict::Unfinished { .. }));
    db.run(&migrator, Request::Goto(v(1))).await.unwrap();
    dir.write("expand/0002_fill_a.sql", "INSERT INTO a VALUES (1);\n");
    let m = dir.migrations();
    let migrator = Migrator::new(&m);
    db.run(&migrator, Request::Sync(Scope::All)).await.unwrap();
    assert_eq!(db.versions(&migrator).await, [1, 2]);
    assert_eq!(db.strings("SELECT count(*) FROM a").await, ["1"]);
}

on_every_engine!(
    a_script_failing_inside_its_own_transaction_leaves_none_open,
    comment_only_migrations_are_recorded_no_ops,
    sync_applies_everything_once,
    expand_then_contract,
    contract_waits_for_earlier_expand,
    upgrade_stops_at_the_target,
    downgrade_reverts_newest_first_and_refuses_irreversible,
    downgrade_uses_stored_down_scripts_of_unknown_migrations,
    goto_stamps_without_running,
    version_control_adopts_an_existing_database,
    check_gives_every_verdict,
    divergent_checksums_block_sync_but_not_line_endings,
    failing_migration_rolls_back_and_names_the_statement,
    every_kind_of_failure_names_its_statement,
    all_or_nothing_rolls_back_the_whole_run,
    no_transaction_migrations_run_outside_a_transaction,
    custom_version_table_names_are_validated_and_used,
    script_matches_what_sync_does,
);

/// Eight connections, each in a thread of its own, race to sync one
/// database: every migration is applied exactly once and every racer
/// succeeds.
async fn racing_syncs_apply_each_migration_once(db: Db) {
    let racers = 8;
    let url = db.url();
    let start = std::sync::Arc::new(std::sync::Barrier::new(racers));
    let handles: Vec<_> = (0..racers)
        .map(|_| {
            let (url, start) = (url.clone(), start.clone());
            std::thread::spawn(move || -> Result<usize, Error> {
                let m = Migrator::new(&MIGRATIONS);
                // As a library user opens it: the run lock on this connection.
                let (_, conn) = ebbtide::registry::open(&url, ebbtide::registry::Access::Read)?;
                start.wait();
                let report = conn.run(&m, Request::Sync(Scope::All))?;
                Ok(report.steps.iter().filter(|s| !s.skipped).count())
            })
        })
        .collect();
    let mut applied = 0;
    for h in handles {
        applied += h.join().unwrap().expect("every racer succeeds");
    }
    assert_eq!(applied, MIGRATIONS.len(), "each migration applied by exactly one racer");
    let m = Migrator::new(&MIGRATIONS);
    assert_eq!(db.versions(&m).await, [1, 2, 3, 4, 5]);
    assert_eq!(db.check(&m).await.unwrap(), Verdict::Current);
}

on_persistent_engines!(racing_syncs_apply_each_migration_once);

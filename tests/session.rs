#![deny(warnings)]

//! A migration cannot change how ebbtide works: whatever it sets for its
//! session ends with it (on every engine), a `pg_dump --schema-only`
//! imports as an initial migration, and SQLite's table rebuild keeps every
//! row its foreign keys protect.

mod support;

use ebbtide::{Error, Migrator, Request, Scope, Verdict};
use support::{Db, Dir};

/// Promise: each migration starts from the session state the run started
/// with, and ebbtide's own statements run under it, whether the migration
/// ran in a transaction or not.
async fn session_state_ends_with_its_migration(db: Db) {
    let session = db.fixture().session();
    let role = session.role(&db);
    // What the application set on its connection before handing it over.
    let baseline = session.baseline(&db);
    let meddling = session.meddling(role.as_deref());
    let observed = session.observed();
    // A moment between meddling and observing, for a server to mix sessions up in.
    let sleep = format!("{}\n", db.moment_sql());
    let dir = Dir::new(&[
        ("initial/0001_create_seen.sql", "CREATE TABLE seen (step int, session text);\n"),
        ("initial/0002_meddle.sql", &meddling),
        ("initial/0003_observe.sql", &format!("{sleep}INSERT INTO seen SELECT 3, ({observed});\n")),
        ("initial/0004_meddle_outside_a_transaction.sql", &format!("-- ebbtide: no-transaction\n{meddling}")),
        ("initial/0005_observe.sql", &format!("{sleep}INSERT INTO seen SELECT 5, ({observed});\n")),
    ]);
    let m = dir.migrations();
    // Without ebbtide's own lock timeout, which each migration runs under
    // by design: what is observed is then the run's session alone.
    let migrator = Migrator::new(&m).lock_timeout(std::time::Duration::ZERO);
    let report = db.run(&migrator, Request::Sync(Scope::All)).await.unwrap();
    assert_eq!(report.steps.len(), 5, "{report}");
    assert_eq!(db.versions(&migrator).await, [1, 2, 3, 4, 5], "every version-table write succeeded");
    assert_eq!(
        db.strings("SELECT session FROM seen ORDER BY step").await,
        [baseline.clone(), baseline.clone()],
        "each migration starts from the run's session"
    );
    // And the application gets its connection back as it handed it over.
    let after = db.strings(&format!("SELECT ({observed})")).await.remove(0);
    assert_eq!(after, baseline);
    assert_eq!(db.check(&migrator).await.unwrap(), Verdict::Current);
    if let Some(role) = role {
        db.exec(&format!("DROP ROLE {role}")).await.unwrap();
    }
}

/// Promise: a migration's failure after it changed its session leaves the
/// session as the run found it, and the database as it was.
async fn a_failed_migration_leaves_the_session_as_it_found_it(db: Db) {
    let (meddle, probe) = db.fixture().session().failing_meddle();
    let before = db.strings(probe).await;
    let dir = Dir::new(&[
        ("initial/0001_create_a.sql", "CREATE TABLE a (id int);\n"),
        ("initial/0002_fails.sql", &format!("CREATE TABLE b (id int);\n{meddle}INSERT INTO nowhere VALUES (1);\n")),
    ]);
    let m = dir.migrations();
    let migrator = Migrator::new(&m);
    let err = db.run(&migrator, Request::Sync(Scope::All)).await.unwrap_err();
    assert!(matches!(&err, Error::MigrationFailed(f) if f.statement.contains("nowhere")), "{err}");
    assert_eq!(db.strings(probe).await, before);
    if db.capabilities().transactional_ddl {
        assert_eq!(db.versions(&migrator).await, [1]);
        assert_eq!(db.tables().await, ["a"]);
    } else {
        // Its committed schema change stays, and it stays marked as started.
        assert_eq!(db.versions(&migrator).await, [1, 2]);
        assert_eq!(db.tables().await, ["a", "b"]);
    }
}

/// A SQLite connection with foreign keys on, as most applications open it,
/// holding parents and children that cascade on delete.
async fn parents_and_children(db: &Db) -> Dir {
    db.exec("PRAGMA foreign_keys = ON").await.unwrap();
    let dir = Dir::new(&[(
        "initial/0001_create_parent.sql",
        "CREATE TABLE parent (id INTEGER PRIMARY KEY, name TEXT);\n\
         CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent (id) ON DELETE CASCADE);\n",
    )]);
    let m = dir.migrations();
    db.run(&Migrator::new(&m), Request::Sync(Scope::All)).await.unwrap();
    db.exec(
        "INSERT INTO parent VALUES (1, 'a'), (2, NULL);\n\
         INSERT INTO child VALUES (10, 1), (20, 2);",
    )
    .await
    .unwrap();
    dir
}

/// The rebuild of SQLite's documentation, as users write it.
const REBUILD: &str = "PRAGMA foreign_keys = OFF;\n\
    CREATE TABLE parent_new (id INTEGER PRIMARY KEY, name TEXT NOT NULL DEFAULT '');\n\
    INSERT INTO parent_new (id, name) SELECT id, coalesce(name, '') FROM parent{filter};\n\
    DROP TABLE parent;\n\
    ALTER TABLE parent_new RENAME TO parent;\n\
    PRAGMA foreign_keys = ON;\n";

/// Promise: a table rebuild on a connection with foreign keys on keeps
/// every child row (inside a transaction `PRAGMA foreign_keys = OFF` does
/// nothing, and `DROP TABLE parent` would cascade), and the connection
/// keeps its setting.
async fn a_table_rebuild_keeps_every_child_row(db: Db) {
    let dir = parents_and_children(&db).await;
    dir.write("contract/0002_rebuild_parent.sql", &REBUILD.replace("{filter}", ""));
    let m = dir.migrations();
    let migrator = Migrator::new(&m);
    let report = db.run(&migrator, Request::Sync(Scope::All)).await.unwrap();
    assert_eq!(report.steps.len(), 1, "{report}");
    assert_eq!(db.strings("SELECT id FROM child ORDER BY id").await, ["10", "20"]);
    assert_eq!(db.strings("SELECT name FROM parent ORDER BY id").await, ["a", ""]);
    assert_eq!(db.strings("PRAGMA foreign_keys").await, ["1"], "the connection keeps foreign keys on");
    // They are enforced again.
    assert!(db.exec("INSERT INTO child VALUES (30, 99)").await.is_err());
}

/// Promise: a rebuild that leaves a foreign key pointing nowhere is rolled
/// back, names the violation, and changes nothing.
async fn a_rebuild_that_breaks_a_foreign_key_changes_nothing(db: Db) {
    let dir = parents_and_children(&db).await;
    dir.write("contract/0002_rebuild_parent.sql", &REBUILD.replace("{filter}", " WHERE id = 1"));
    let m = dir.migrations();
    let migrator = Migrator::new(&m);
    let err = db.run(&migrator, Request::Sync(Scope::All)).await.unwrap_err();
    let Error::MigrationFailed(failure) = &err else { panic!("{err}") };
    assert!(failure.statement.contains("foreign_key_check"), "{err}");
    assert!(failure.message.contains("child row 20 refers to a row of parent that does not exist"), "{err}");
    assert_eq!(db.versions(&migrator).await, [1]);
    assert_eq!(db.strings("SELECT id FROM parent ORDER BY id").await, ["1", "2"]);
    assert_eq!(db.strings("SELECT id FROM child ORDER BY id").await, ["10", "20"]);
    assert_eq!(db.strings("SELECT count(*) FROM sqlite_master WHERE name = 'parent_new'").await, ["0"]);
    assert_eq!(db.strings("PRAGMA foreign_keys").await, ["1"]);
    // The all-or-nothing transaction cannot turn foreign keys off: refused.
    let all = Migrator::new(&m).all_or_nothing(true);
    let err = db.run(&all, Request::Sync(Scope::All)).await.unwrap_err();
    assert!(err.to_string().contains("turns foreign keys off"), "{err}");
}

/// Promise: a foreign-key violation a migration defers to its commit
/// (`PRAGMA defer_foreign_keys`) fails the migration when ebbtide sets the
/// pragma back; nothing is applied.
async fn a_deferred_foreign_key_violation_still_fails(db: Db) {
    let dir = parents_and_children(&db).await;
    dir.write("expand/0002_orphan.sql", "PRAGMA defer_foreign_keys = ON;\nINSERT INTO child VALUES (30, 99);\n");
    let m = dir.migrations();
    let migrator = Migrator::new(&m);
    let err = db.run(&migrator, Request::Sync(Scope::All)).await.unwrap_err();
    assert!(err.to_string().contains("FOREIGN KEY constraint failed"), "{err}");
    assert_eq!(db.versions(&migrator).await, [1]);
    assert_eq!(db.strings("SELECT id FROM child ORDER BY id").await, ["10", "20"]);
    assert_eq!(db.strings("PRAGMA defer_foreign_keys").await, ["0"]);
}

on_every_engine!(session_state_ends_with_its_migration, a_failed_migration_leaves_the_session_as_it_found_it);

on_engine!(
    sqlite,
    a_table_rebuild_keeps_every_child_row,
    a_rebuild_that_breaks_a_foreign_key_changes_nothing,
    a_deferred_foreign_key_violation_still_fails
);

/// A schema with every kind of object a dump holds.
const LEGACY_SCHEMA: &str = "
CREATE TYPE mood AS ENUM ('happy', 'sad');
CREATE SEQUENCE invoice_no START 1000;
CREATE TABLE users (
    id bigserial PRIMARY KEY,
    name text NOT NULL,
    email text UNIQUE,
    feeling mood,
    touched_at timestamptz DEFAULT now()
);
CREATE INDEX users_lower_name ON users (lower(name));
CREATE INDEX users_sad ON users (id) WHERE feeling = 'sad';
CREATE TABLE orders (
    id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    total numeric(10, 2) CHECK (total >= 0)
);
CREATE VIEW big_orders AS SELECT id, user_id, total FROM orders WHERE total > 100;
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.touched_at := now(); RETURN NEW; END $$;
CREATE TRIGGER users_touch BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION touch();
COMMENT ON TABLE users IS 'people; and their moods';
";

/// The application's objects of a PostgreSQL database, one line each, sorted.
async fn catalog(db: &Db) -> Vec<String> {
    let mut lines = db
        .strings(
            "SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable \
                 || ' ' || coalesce(column_default, '') FROM information_schema.columns \
                 WHERE table_schema = 'public' AND table_name NOT LIKE 'ebbtide%' \
             UNION ALL SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename NOT LIKE 'ebbtide%' \
             UNION ALL SELECT 'constraint ' || conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint \
                 WHERE connamespace = 'public'::regnamespace AND conrelid::regclass::text NOT LIKE 'ebbtide%' \
             UNION ALL SELECT 'view ' || viewname || ' ' || definition FROM pg_views WHERE schemaname = 'public' \
             UNION ALL SELECT 'sequence ' || sequencename || ' ' || start_value FROM pg_sequences WHERE schemaname = 'public' \
             UNION ALL SELECT 'function ' || proname || ' ' || prosrc FROM pg_proc WHERE pronamespace = 'public'::regnamespace \
             UNION ALL SELECT 'trigger ' || tgname || ' ' || pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal \
             UNION ALL SELECT 'type ' || typname FROM pg_type WHERE typnamespace = 'public'::regnamespace AND typtype = 'e' \
             UNION ALL SELECT 'comment ' || obj_description('public.users'::regclass, 'pg_class')",
        )
        .await;
    lines.sort();
    lines
}

/// Promise: a real `pg_dump --schema-only` imports as `initial/0001`,
/// applies with `sync` (its `search_path = ''` and timeouts end with it, so
/// the version table and the next migration work), and `check` passes; in
/// both pg_dump styles, with and without the `\restrict` lines that
/// pg_dump writes since its August 2025 minor releases.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pg_dump_imports_as_the_initial_migration() {
    let Some(source) = Db::of("postgres").await else { return };
    source.exec(LEGACY_SCHEMA).await.unwrap();
    let out = std::process::Command::new("pg_dump")
        .args(["--schema-only", &source.url()])
        .output()
        .expect("pg_dump is installed beside the PostgreSQL server");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let dump = String::from_utf8(out.stdout).unwrap();
    assert!(dump.contains("set_config('search_path', '', false)"), "{dump}");
    let fence = |line: &str| line.starts_with("\\restrict") || line.starts_with("\\unrestrict");
    let classic: String = dump.lines().filter(|l| !fence(l)).map(|l| format!("{l}\n")).collect();
    let restricted = if dump.lines().any(fence) {
        dump.clone()
    } else {
        format!("\\restrict 5Ke7\n\n{classic}\n\\unrestrict 5Ke7\n")
    };
    let expected = catalog(&source).await;
    assert!(expected.iter().any(|l| l.starts_with("trigger users_touch")), "{expected:#?}");
    for text in [restricted, classic] {
        let dir = Dir::new(&[
            ("initial/0001_legacy_schema.sql", &text),
            // Unqualified, as migrations are: the dump's empty search_path must be gone.
            ("expand/0002_add_users_nickname.sql", "ALTER TABLE users ADD COLUMN nickname text;\n"),
        ]);
        let m = dir.migrations();
        let migrator = Migrator::new(&m);
        let target = Db::of("postgres").await.unwrap();
        let report = target.run(&migrator, Request::Sync(Scope::All)).await.unwrap();
        assert_eq!(report.steps.len(), 2, "{report}");
        assert_eq!(target.check(&migrator).await.unwrap(), Verdict::Current);
        let mut imported = catalog(&target).await;
        imported.retain(|l| !l.contains("nickname"));
        assert_eq!(imported, expected);
        assert_eq!(target.strings("SHOW search_path").await, ["\"$user\", public"]);
    }
}

on_engine!(
    mysql,
    connections_stay_on_the_urls_host_and_port,
    a_first_statement_that_failed_half_way_stays_started,
    a_migration_under_lock_tables_records_its_progress
);

/// MySQL's `DROP TABLE a, missing` drops `a`, then fails: a first
/// statement that failed may have changed something, so the migration
/// stays marked as started, with where it stopped.
async fn a_first_statement_that_failed_half_way_stays_started(db: Db) {
    let dir = Dir::new(&[
        ("initial/0001_create_a.sql", "CREATE TABLE a (id INTEGER);\n"),
        ("contract/0002_drop_a.sql", "DROP TABLE a, missing_b;\n"),
    ]);
    let m = dir.migrations();
    let migrator = ebbtide::Migrator::new(&m);
    let err = db.run(&migrator, ebbtide::Request::Sync(ebbtide::Scope::All)).await.unwrap_err();
    let ebbtide::Error::MigrationFailed(failure) = &err else { panic!("{err}") };
    assert_eq!(failure.aftermath, ebbtide::Aftermath::StatementsApplied { applied: 0, of: 1 });
    assert!(db.tables().await.is_empty(), "a is gone: {:?}", db.tables().await);
    assert_eq!(db.versions(&migrator).await, [1, 2]);
    let rows = db.status(&migrator).await;
    let stopped = rows[1].stopped.as_ref().expect("where it stopped").to_string();
    assert!(stopped.starts_with("failed at statement 1 of 1: ") && stopped.contains("missing_b"), "{stopped}");
}

/// Under `LOCK TABLES` the script's session may touch no other table: the
/// progress goes through another connection.
async fn a_migration_under_lock_tables_records_its_progress(db: Db) {
    let dir = Dir::new(&[
        ("initial/0001_create_a.sql", "CREATE TABLE a (id INTEGER);\n"),
        ("initial/0002_fill_a.sql", "LOCK TABLES a WRITE;\nINSERT INTO a VALUES (1);\nUNLOCK TABLES;\n"),
    ]);
    let m = dir.migrations();
    let migrator = ebbtide::Migrator::new(&m);
    db.run(&migrator, ebbtide::Request::Sync(ebbtide::Scope::All)).await.unwrap();
    assert_eq!(db.versions(&migrator).await, [1, 2]);
    assert_eq!(db.strings("SELECT count(*) FROM a").await, ["1"]);
}

/// mysql_async would move a connection to the Unix socket at the path the
/// server reports; on another machine that socket may be another server's.
/// The machine's own server has its socket there, so a connection that
/// moved would show as `localhost`, without a port.
async fn connections_stay_on_the_urls_host_and_port(db: Db) {
    let host = db.rows("SELECT HOST FROM information_schema.PROCESSLIST WHERE ID = CONNECTION_ID()");
    assert!(host[0].contains(':'), "a TCP connection shows its client port: {host:?}");
    let m = ebbtide::Migrator::new(db.fixture().example());
    db.run(&m, ebbtide::Request::Sync(ebbtide::Scope::All)).await.unwrap();
    assert_eq!(db.versions(&m).await, [1, 2, 3, 4, 5]);
}

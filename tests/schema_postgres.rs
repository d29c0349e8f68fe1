#![deny(warnings)]

//! Reading a PostgreSQL schema from its catalog, on scratch databases of
//! the test server (`EBBTIDE_TEST_POSTGRES_URL`): every kind of object
//! read as PostgreSQL writes it, one schema applied twice read equal, and
//! scratch databases gone once dropped.

mod support;

use ebbtide::schema::postgres::{Scratch, read};
use ebbtide::schema::{Column, ConstraintKind, Difference, Schema};
use ebbtide::tokio_postgres::Client;

/// One of every object the reader knows, and what it must leave out: the
/// version table, and what an extension owns.
const SCHEMA: &str = "
CREATE EXTENSION citext;
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE SEQUENCE invoice_numbers AS integer INCREMENT BY 5 START WITH 1000;
CREATE TABLE teams (
    id bigserial PRIMARY KEY,
    name text NOT NULL
);
CREATE TABLE users (
    id bigserial PRIMARY KEY,
    team_id bigint REFERENCES teams (id),
    email varchar(200) NOT NULL,
    status text NOT NULL DEFAULT 'active',
    age integer CHECK (age >= 0),
    feeling mood,
    ticket integer GENERATED ALWAYS AS IDENTITY,
    email_lower text GENERATED ALWAYS AS (lower(email)) STORED,
    updated_at timestamptz,
    CONSTRAINT users_email_key UNIQUE (email)
);
CREATE INDEX users_active_team ON users (team_id) WHERE status = 'active';
CREATE INDEX users_email_ci ON users (lower(email));
CREATE UNIQUE INDEX teams_name ON teams (name);
CREATE TABLE memberships (team_name text NOT NULL REFERENCES teams (name));
CREATE MATERIALIZED VIEW team_sizes AS SELECT team_id, count(*) AS members FROM users GROUP BY team_id;
CREATE VIEW active_users AS SELECT id, email FROM users WHERE status = 'active';
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.updated_at := now(); RETURN NEW; END $$;
CREATE TRIGGER users_touch BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION touch();
CREATE TABLE ebbtide_migrations (version bigserial PRIMARY KEY, name text NOT NULL);
CREATE INDEX ebbtide_migrations_name ON ebbtide_migrations (name);
";

/// The test server's URL, or `None` (after saying so) when it is not
/// reachable outside CI.
async fn server() -> Option<String> {
    let url = support::admin_url("postgres");
    match ebbtide::postgres::connect(&url).await {
        Ok(_) => Some(url),
        Err(e) if !support::in_ci() => {
            eprintln!("skipped: PostgreSQL is not reachable ({e}); set EBBTIDE_TEST_POSTGRES_URL");
            None
        }
        Err(e) => panic!("PostgreSQL is required under CI=true: {e}"),
    }
}

/// A scratch database with `sql` applied, and its schema.
async fn applied(url: &str, purpose: &str, sql: &str) -> (Scratch, Client, Schema) {
    let (scratch, client) = Scratch::create(url, purpose).await.unwrap();
    client.batch_execute(sql).await.unwrap();
    let schema = read(&client).await.unwrap();
    (scratch, client, schema)
}

fn column(schema: &Schema, table: &str, name: &str) -> Column {
    schema.tables[table].column(name).unwrap_or_else(|| panic!("{table}.{name}")).clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_object_is_read_as_postgres_writes_it() {
    let Some(url) = server().await else { return };
    let (scratch, client, schema) = applied(&url, "objects", SCHEMA).await;
    drop(client);
    scratch.drop().await.unwrap();

    assert_eq!(schema.tables.keys().collect::<Vec<_>>(), ["memberships", "teams", "users"]);
    let users = &schema.tables["users"];
    assert_eq!(users.definition, None);
    let names: Vec<&str> = users.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["id", "team_id", "email", "status", "age", "feeling", "ticket", "email_lower", "updated_at"]);
    let id = Column {
        name: "id".into(),
        data_type: "bigint".into(),
        not_null: true,
        default: None,
        generated: Some("serial".into()),
    };
    assert_eq!(column(&schema, "users", "id"), id);
    let email = column(&schema, "users", "email");
    assert_eq!((email.data_type.as_str(), email.not_null, email.default), ("character varying(200)", true, None));
    let status = column(&schema, "users", "status");
    assert_eq!((status.not_null, status.default.as_deref(), status.generated), (true, Some("'active'::text"), None));
    assert_eq!(column(&schema, "users", "feeling").data_type, "mood");
    let ticket = column(&schema, "users", "ticket");
    assert_eq!((ticket.default, ticket.generated.as_deref()), (None, Some("GENERATED ALWAYS AS IDENTITY")));
    let lower = column(&schema, "users", "email_lower");
    assert_eq!(
        (lower.default, lower.generated.as_deref()),
        (None, Some("GENERATED ALWAYS AS (lower((email)::text)) STORED"))
    );
    assert!(!column(&schema, "users", "updated_at").not_null);

    // No NOT NULL among the constraints, whatever the server's version.
    let constraints: Vec<(ConstraintKind, &str, &str)> =
        users.constraints.iter().map(|c| (c.kind, c.name.as_str(), c.definition.as_str())).collect();
    assert_eq!(
        constraints,
        [
            (ConstraintKind::PrimaryKey, "users_pkey", "PRIMARY KEY (id)"),
            (ConstraintKind::Unique, "users_email_key", "UNIQUE (email)"),
            (ConstraintKind::Check, "users_age_check", "CHECK ((age >= 0))"),
            (ConstraintKind::ForeignKey, "users_team_id_fkey", "FOREIGN KEY (team_id) REFERENCES teams(id)"),
        ]
    );

    // Only the indexes that back no constraint; a foreign key's referenced
    // index is one.
    assert_eq!(schema.indexes.keys().collect::<Vec<_>>(), ["teams_name", "users_active_team", "users_email_ci"]);
    assert_eq!(
        schema.tables["memberships"].constraints[0].definition,
        "FOREIGN KEY (team_name) REFERENCES teams(name)"
    );
    let partial = &schema.indexes["users_active_team"];
    assert_eq!(partial.table, "users");
    assert!(partial.definition.contains(" WHERE "), "{}", partial.definition);
    assert_eq!(
        schema.indexes["users_email_ci"].definition,
        "CREATE INDEX users_email_ci ON public.users USING btree (lower((email)::text))"
    );

    // pg_get_viewdef's own text (which qualifies columns before PostgreSQL
    // 16), without its ';'.
    let view = &schema.views["active_users"];
    assert!(view.starts_with("CREATE VIEW public.active_users AS SELECT "), "{view}");
    assert!(view.ends_with("WHERE users.status = 'active'::text") || view.ends_with("WHERE status = 'active'::text"));
    assert!(view.contains("\n   FROM users\n"), "{view}");
    assert!(schema.views["team_sizes"].starts_with("CREATE MATERIALIZED VIEW public.team_sizes AS SELECT "));
    // The serial and identity columns' sequences are the columns'.
    assert_eq!(
        schema.sequences.into_iter().collect::<Vec<_>>(),
        [(
            "invoice_numbers".to_string(),
            "CREATE SEQUENCE public.invoice_numbers AS integer INCREMENT BY 5 MINVALUE 1 MAXVALUE 2147483647 START WITH 1000"
                .to_string()
        )]
    );
    assert_eq!(schema.enums.keys().collect::<Vec<_>>(), ["mood"]);
    assert_eq!(schema.enums["mood"], ["sad", "ok", "happy"]);
    // citext's functions are the extension's.
    assert_eq!(schema.functions.keys().collect::<Vec<_>>(), ["touch()"]);
    assert!(schema.functions["touch()"].starts_with("CREATE OR REPLACE FUNCTION public.touch()"));
    let trigger = &schema.triggers["users.users_touch"];
    assert_eq!((trigger.name.as_str(), trigger.table.as_str()), ("users_touch", "users"));
    assert_eq!(
        trigger.definition,
        "CREATE TRIGGER users_touch BEFORE UPDATE ON public.users FOR EACH ROW EXECUTE FUNCTION touch()"
    );
    assert_eq!(schema.triggers.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_schema_applied_twice_reads_equal_and_one_column_is_one_difference() {
    let Some(url) = server().await else { return };
    let (first, first_client, current) = applied(&url, "current", SCHEMA).await;
    let (second, second_client, wanted) = applied(&url, "wanted", SCHEMA).await;
    assert_eq!(current, wanted);
    assert_eq!(current.diff(&wanted), []);

    second_client.batch_execute("ALTER TABLE teams ADD COLUMN motto text NOT NULL DEFAULT 'onward'").await.unwrap();
    let wanted = read(&second_client).await.unwrap();
    drop((first_client, second_client));
    first.drop().await.unwrap();
    second.drop().await.unwrap();

    let motto = Column {
        name: "motto".into(),
        data_type: "text".into(),
        not_null: true,
        default: Some("'onward'::text".into()),
        generated: None,
    };
    assert_eq!(current.diff(&wanted), [Difference::AddColumn { table: "teams".into(), column: motto }]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_scratch_database_is_gone_whoever_was_connected() {
    let Some(url) = server().await else { return };
    // The URL's parameters are the scratch database's too.
    let url = format!("{url}{}application_name=ebbtide_tests", if url.contains('?') { '&' } else { '?' });
    let (scratch, client) = Scratch::create(&url, "Drop Me!").await.unwrap();
    let name = scratch.name().to_string();
    assert!(name.starts_with("ebbtide_scratch_") && name.ends_with("_drop_me_"), "{name}");
    assert_eq!(scratch.url(), support::with_database(&url, &name));
    let here: String = client.query_one("SELECT current_database()::text", &[]).await.unwrap().get(0);
    assert_eq!(here, name);
    let application: String = client.query_one("SELECT current_setting('application_name')", &[]).await.unwrap().get(0);
    assert_eq!(application, "ebbtide_tests");

    let admin = ebbtide::postgres::connect(&url).await.unwrap();
    let exists = "SELECT count(*) FROM pg_database WHERE datname = $1";
    assert_eq!(admin.query_one(exists, &[&name]).await.unwrap().get::<_, i64>(0), 1);
    // The scratch's own client is still connected.
    scratch.drop().await.unwrap();
    assert_eq!(admin.query_one(exists, &[&name]).await.unwrap().get::<_, i64>(0), 0);
    assert!(client.query_one("SELECT 1", &[]).await.is_err());
}

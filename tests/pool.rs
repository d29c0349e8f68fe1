#![deny(warnings)]

//! A connection pool's clients, as applications hold them, handed to
//! ebbtide as they are: a pooled bb8-postgres client derefs to
//! `ebbtide::tokio_postgres::Client`, and `migrator.postgres(&client)`
//! takes it. Runs on a PostgreSQL database of the test's own.

mod support;

use bb8_postgres::PostgresConnectionManager;
use bb8_postgres::bb8::Pool;
use ebbtide::tokio_postgres::{Config, NoTls};
use ebbtide::{Migrator, Scope, Verdict};

ebbtide::embed_migrations!("../migrations");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_and_check_through_a_bb8_postgres_pool() {
    let Some(server) = support::ServerDatabase::create("postgres").await else { return };
    let config: Config = server.url.parse().expect("a PostgreSQL URL");
    let manager = PostgresConnectionManager::new(config, NoTls);
    let pool = Pool::builder().max_size(2).build(manager).await.expect("a pool");
    let migrator = Migrator::new(&migrations::MIGRATIONS);

    let client = pool.get().await.expect("a pooled client");
    assert_eq!(migrator.postgres(&client).check().await.unwrap(), Verdict::Empty);
    let report = migrator.postgres(&client).sync(Scope::All).await.unwrap();
    let applied: Vec<u32> = report.steps.iter().map(|s| s.version.get()).collect();
    assert_eq!(applied, (1..=migrations::MIGRATIONS.len() as u32).collect::<Vec<_>>());
    assert_eq!(migrator.postgres(&client).check().await.unwrap(), Verdict::Current);
    drop(client);

    // Both of the pool's clients at once, the second holding the run lock
    // (as through a pooler in transaction mode): one of them is the
    // connection the sync ran on, back in the pool.
    let (first, second) = (pool.get().await.unwrap(), pool.get().await.unwrap());
    assert_eq!(pool.state().connections, 2);
    let again = migrator.postgres(&first).lock_connection(&second).sync(Scope::All).await.unwrap();
    assert!(again.is_empty(), "{again}");
    assert_eq!(migrator.postgres(&second).check().await.unwrap(), Verdict::Current);
    let tables =
        first.query("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1", &[]).await.unwrap();
    let tables: Vec<String> = tables.iter().map(|row| row.get(0)).collect();
    assert_eq!(tables, ["ebbtide_migrations", "sessions", "users"]);
    // The pool and its connections go before the test's database.
    drop((first, second));
    drop(pool);
}

//! The scenario on PostgreSQL: every connection of its own, driven from a
//! thread of its own through a single-threaded tokio runtime.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

use ebbtide::{Migrator, Scope, Verdict};
use tokio::runtime::Runtime;
use tokio_postgres::Client;

use super::{BLOCKER, Backend, Blocked, Engine, Error, Name, Release, Service, migrations};

/// Release 1 of the service.
pub mod release1 {
    ebbtide::embed_migrations!("zero_downtime/postgres/release1/migrations");
}

/// Release 2 of the service.
pub mod release2 {
    ebbtide::embed_migrations!("zero_downtime/postgres/release2/migrations");
}

pub(crate) struct Postgres {
    pub url: String,
}

/// A connection and the runtime that drives it.
struct Connection {
    runtime: Runtime,
    client: Client,
}

impl Postgres {
    fn connect(&self) -> Result<Connection, Error> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let client = runtime.block_on(ebbtide::postgres::connect(&self.url))?;
        Ok(Connection { runtime, client })
    }

    fn count(&self, sql: &str) -> Result<u64, Error> {
        let c = self.connect()?;
        let row = c.runtime.block_on(c.client.query_one(sql, &[]))?;
        Ok(row.get::<_, i64>(0) as u64)
    }
}

impl Backend for Postgres {
    fn prepare(&self, rows: u64) -> Result<(), Error> {
        let c = self.connect()?;
        c.runtime.block_on(async {
            Migrator::new(migrations(Engine::Postgres, Release::One)).postgres(&c.client).sync(Scope::All).await?;
            c.client
                .batch_execute(&format!(
                    "INSERT INTO users (name) \
                     SELECT CASE WHEN i % 3 = 0 THEN 'Solo' || i ELSE 'First' || i || ' Last' || i END \
                     FROM generate_series(1, {rows}) AS i"
                ))
                .await?;
            c.client.batch_execute("VACUUM ANALYZE users").await?;
            Ok(())
        })
    }

    fn start(&self, release: Release, _node: usize) -> Result<Box<dyn Service>, Error> {
        let verdict = self.check(release)?;
        if !verdict.may_serve() {
            return Err(format!("{release} refuses to start: {verdict}").into());
        }
        let c = self.connect()?;
        let application = format!("zero-downtime-{}", release.to_string().replace(' ', "-"));
        c.runtime.block_on(c.client.batch_execute(&format!("SET application_name = '{application}'")))?;
        Ok(Box::new(Instance { release, c }))
    }

    fn check(&self, release: Release) -> Result<Verdict, Error> {
        let c = self.connect()?;
        Ok(c.runtime.block_on(Migrator::new(migrations(Engine::Postgres, release)).postgres(&c.client).check())?)
    }

    fn block(&self, hold: Duration, gap: Duration, stop: &AtomicBool, opened: &Sender<()>) -> Result<Blocked, Error> {
        let c = self.connect()?;
        let mut transactions = 0;
        c.runtime.block_on(async {
            c.client.batch_execute(&format!("SET application_name = '{BLOCKER}'")).await?;
            while !stop.load(Ordering::Relaxed) {
                c.client.batch_execute("BEGIN; SELECT count(*) FROM users WHERE id <= 100").await?;
                transactions += 1;
                let _ = opened.send(());
                let until = Instant::now() + hold;
                while Instant::now() < until && !stop.load(Ordering::Relaxed) {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                c.client.batch_execute("COMMIT").await?;
                tokio::time::sleep(gap).await;
            }
            Ok::<_, Error>(())
        })?;
        Ok(Blocked { transactions, aborted: 0 })
    }

    fn shapes_disagree(&self) -> Result<u64, Error> {
        self.count("SELECT count(*) FROM users WHERE name IS DISTINCT FROM concat_ws(' ', first_name, last_name)")
    }

    fn seeded_wrong(&self, rows: u64) -> Result<u64, Error> {
        self.count(&format!(
            "SELECT count(*) FROM users WHERE id <= {rows} AND (\
             first_name IS DISTINCT FROM CASE WHEN id % 3 = 0 THEN 'Solo' || id ELSE 'First' || id END \
             OR last_name IS DISTINCT FROM CASE WHEN id % 3 = 0 THEN NULL ELSE 'Last' || id END)"
        ))
    }

    fn users_above(&self, from: u64) -> Result<Vec<(i64, Name)>, Error> {
        let c = self.connect()?;
        let sql = "SELECT id, first_name, last_name FROM users WHERE id > $1";
        let rows = c.runtime.block_on(c.client.query(sql, &[&(from as i64)]))?;
        Ok(rows.iter().map(|r| (r.get(0), Name { first: r.get(1), last: r.get(2) })).collect())
    }

    fn sync(&self, migrator: Migrator<'_>, scope: Scope) -> Result<ebbtide::Report, Error> {
        let c = self.connect()?;
        Ok(c.runtime.block_on(migrator.postgres(&c.client).sync(scope))?)
    }
}

/// An instance of a release.
struct Instance {
    release: Release,
    c: Connection,
}

impl Service for Instance {
    fn insert(&mut self, name: &Name) -> Result<i64, Error> {
        let c = &self.c;
        let row = match self.release {
            Release::One => c
                .runtime
                .block_on(c.client.query_one("INSERT INTO users (name) VALUES ($1) RETURNING id", &[&name.full()])),
            Release::Two => c.runtime.block_on(c.client.query_one(
                "INSERT INTO users (first_name, last_name) VALUES ($1, $2) RETURNING id",
                &[&name.first, &name.last],
            )),
        }?;
        Ok(row.get(0))
    }

    fn rename(&mut self, id: i64, name: &Name) -> Result<(), Error> {
        let c = &self.c;
        match self.release {
            Release::One => {
                c.runtime.block_on(c.client.execute("UPDATE users SET name = $2 WHERE id = $1", &[&id, &name.full()]))
            }
            Release::Two => c.runtime.block_on(c.client.execute(
                "UPDATE users SET first_name = $2, last_name = $3 WHERE id = $1",
                &[&id, &name.first, &name.last],
            )),
        }?;
        Ok(())
    }

    fn read(&mut self, id: i64) -> Result<Name, Error> {
        let c = &self.c;
        Ok(match self.release {
            Release::One => {
                let row = c.runtime.block_on(c.client.query_one("SELECT name FROM users WHERE id = $1", &[&id]))?;
                Name::split(row.get(0))
            }
            Release::Two => {
                let sql = "SELECT first_name, last_name FROM users WHERE id = $1";
                let row = c.runtime.block_on(c.client.query_one(sql, &[&id]))?;
                Name { first: row.get(0), last: row.get(1) }
            }
        })
    }
}

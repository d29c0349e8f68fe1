//! A service in two releases sharing one database during a rolling
//! upgrade, on PostgreSQL or on MySQL/MariaDB.
//!
//! Release 1 stores `users(name)`. Release 2 stores `first_name` and
//! `last_name`: its expand migrations add them, backfill them and keep
//! them in sync with `name` in both directions through triggers; its
//! contract migrations drop the triggers and `name`. [`scenario`] walks
//! through the upgrade and checks every promise on the way.
//!
//! On PostgreSQL release 2's expand is one migration, one transaction. On
//! MySQL, which commits every schema change on its own, it is one
//! migration per statement ([`mysql::release2`]), each safe for release 1
//! on its own: the new columns, `name` made nullable, the insert and the
//! update trigger, and only then the backfill, so that no row release 1
//! writes in between is missed.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ebbtide::mysql_async::Pool;
use ebbtide::mysql_async::prelude::Queryable;
use ebbtide::{Migrations, Migrator, Report, Scope, Verdict};
use tokio_postgres::Client;

/// Release 1 of the service.
pub mod release1 {
    ebbtide::embed_migrations!("rolling_upgrade/release1/migrations");
}

/// Release 2 of the service.
pub mod release2 {
    ebbtide::embed_migrations!("rolling_upgrade/release2/migrations");
}

/// The same two releases in MySQL's SQL, for MySQL and MariaDB.
pub mod mysql {
    /// Release 1 of the service.
    pub mod release1 {
        ebbtide::embed_migrations!("rolling_upgrade/mysql/release1/migrations", engine = "mysql");
    }

    /// Release 2 of the service.
    pub mod release2 {
        ebbtide::embed_migrations!("rolling_upgrade/mysql/release2/migrations", engine = "mysql");
    }
}

/// Why a release refuses to start, or a database error.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// A connection to the service's database: a PostgreSQL client, or a
/// MySQL/MariaDB pool. The releases and the scenario do the same on both;
/// only the SQL's dialect and the driver's calls differ.
enum Connection {
    Postgres(Client),
    Mysql(Pool),
}

impl Connection {
    /// Connects to `url` with the driver of the engine it names
    /// (`postgres://...`, `mysql://...` or `mariadb://...`).
    async fn open(url: &str) -> Result<Connection, Error> {
        match ebbtide::registry::engine(url)?.name {
            "postgres" => Ok(Connection::Postgres(ebbtide::postgres::connect(url).await?)),
            "mysql" => Ok(Connection::Mysql(ebbtide::mysql::connect(url).await?)),
            other => Err(format!("the rolling upgrade runs on PostgreSQL or MySQL/MariaDB, not {other}").into()),
        }
    }

    /// Release 1's migrations, in the SQL of this connection's engine.
    fn release1(&self) -> &'static Migrations {
        match self {
            Connection::Postgres(_) => &release1::migrations::MIGRATIONS,
            Connection::Mysql(_) => &mysql::release1::migrations::MIGRATIONS,
        }
    }

    /// Release 2's migrations, in the SQL of this connection's engine.
    fn release2(&self) -> &'static Migrations {
        match self {
            Connection::Postgres(_) => &release2::migrations::MIGRATIONS,
            Connection::Mysql(_) => &mysql::release2::migrations::MIGRATIONS,
        }
    }

    /// `migrator`'s startup check.
    async fn check(&self, migrator: &Migrator<'_>) -> Result<Verdict, ebbtide::Error> {
        match self {
            Connection::Postgres(client) => migrator.postgres(client).check().await,
            Connection::Mysql(pool) => migrator.mysql(pool).check().await,
        }
    }

    /// Applies `migrator`'s pending migrations of `scope`.
    async fn sync(&self, migrator: &Migrator<'_>, scope: Scope) -> Result<Report, ebbtide::Error> {
        match self {
            Connection::Postgres(client) => migrator.postgres(client).sync(scope).await,
            Connection::Mysql(pool) => migrator.mysql(pool).sync(scope).await,
        }
    }
}

/// A running instance of release 1: it knows users by their full name.
pub struct Release1 {
    db: Connection,
}

impl Release1 {
    /// Starts an instance: runs the startup check, refusing a schema this
    /// release cannot work with.
    pub async fn start(url: &str) -> Result<Release1, Error> {
        let db = Connection::open(url).await?;
        guard("release 1", db.check(&Migrator::new(db.release1())).await?)?;
        Ok(Release1 { db })
    }

    /// Adds a user; returns its id.
    pub async fn add_user(&self, name: &str) -> Result<i64, Error> {
        match &self.db {
            Connection::Postgres(client) => {
                let row = client.query_one("INSERT INTO users (name) VALUES ($1) RETURNING id", &[&name]).await?;
                Ok(row.get(0))
            }
            Connection::Mysql(pool) => {
                let mut conn = pool.get_conn().await?;
                conn.exec_drop("INSERT INTO users (name) VALUES (?)", (name,)).await?;
                inserted_id(&conn)
            }
        }
    }

    /// A user's full name.
    pub async fn name(&self, id: i64) -> Result<String, Error> {
        match &self.db {
            Connection::Postgres(client) => {
                let row = client.query_one("SELECT name FROM users WHERE id = $1", &[&id]).await?;
                Ok(row.get(0))
            }
            Connection::Mysql(pool) => {
                let mut conn = pool.get_conn().await?;
                let name = conn.exec_first("SELECT name FROM users WHERE id = ?", (id,)).await?;
                name.ok_or_else(|| format!("release 1 finds no user {id}").into())
            }
        }
    }

    /// Renames a user.
    pub async fn rename(&self, id: i64, name: &str) -> Result<(), Error> {
        match &self.db {
            Connection::Postgres(client) => {
                client.execute("UPDATE users SET name = $2 WHERE id = $1", &[&id, &name]).await?;
            }
            Connection::Mysql(pool) => {
                pool.get_conn().await?.exec_drop("UPDATE users SET name = ? WHERE id = ?", (name, id)).await?;
            }
        }
        Ok(())
    }
}

/// A running instance of release 2: first and last names apart.
pub struct Release2 {
    db: Connection,
}

impl Release2 {
    /// Starts an instance after its startup check.
    pub async fn start(url: &str) -> Result<Release2, Error> {
        let db = Connection::open(url).await?;
        guard("release 2", db.check(&Migrator::new(db.release2())).await?)?;
        Ok(Release2 { db })
    }

    /// Adds a user; returns its id.
    pub async fn add_user(&self, first: &str, last: Option<&str>) -> Result<i64, Error> {
        match &self.db {
            Connection::Postgres(client) => {
                let row = client
                    .query_one(
                        "INSERT INTO users (first_name, last_name) VALUES ($1, $2) RETURNING id",
                        &[&first, &last],
                    )
                    .await?;
                Ok(row.get(0))
            }
            Connection::Mysql(pool) => {
                let mut conn = pool.get_conn().await?;
                conn.exec_drop("INSERT INTO users (first_name, last_name) VALUES (?, ?)", (first, last)).await?;
                inserted_id(&conn)
            }
        }
    }

    /// A user's first and last names.
    pub async fn names(&self, id: i64) -> Result<(String, Option<String>), Error> {
        match &self.db {
            Connection::Postgres(client) => {
                let row = client.query_one("SELECT first_name, last_name FROM users WHERE id = $1", &[&id]).await?;
                Ok((row.get(0), row.get(1)))
            }
            Connection::Mysql(pool) => {
                let mut conn = pool.get_conn().await?;
                let names = conn.exec_first("SELECT first_name, last_name FROM users WHERE id = ?", (id,)).await?;
                names.ok_or_else(|| format!("release 2 finds no user {id}").into())
            }
        }
    }

    /// Changes a user's last name.
    pub async fn set_last_name(&self, id: i64, last: &str) -> Result<(), Error> {
        match &self.db {
            Connection::Postgres(client) => {
                client.execute("UPDATE users SET last_name = $2 WHERE id = $1", &[&id, &last]).await?;
            }
            Connection::Mysql(pool) => {
                pool.get_conn().await?.exec_drop("UPDATE users SET last_name = ? WHERE id = ?", (last, id)).await?;
            }
        }
        Ok(())
    }
}

/// The id MySQL gave the row `conn` inserted last.
fn inserted_id(conn: &ebbtide::mysql_async::Conn) -> Result<i64, Error> {
    let id = conn.last_insert_id().ok_or("the insert returned no id")?;
    Ok(i64::try_from(id)?)
}

/// What a service does with the startup check's verdict.
fn guard(release: &str, verdict: Verdict) -> Result<(), Error> {
    if verdict.may_serve() { Ok(()) } else { Err(format!("{release} refuses to start: {verdict}").into()) }
}

/// A user as written, and what each release must read back.
struct Written {
    id: i64,
    full: String,
    first: String,
    last: Option<String>,
}

fn split(full: &str) -> (String, Option<String>) {
    match full.split_once(' ') {
        Some((first, last)) => (first.to_string(), Some(last.to_string())),
        None => (full.to_string(), None),
    }
}

/// Writes users through release 1 until `stop`, returning what it wrote.
async fn keep_writing(r1: Arc<Release1>, stop: Arc<AtomicBool>, tag: &'static str) -> Result<Vec<Written>, Error> {
    let mut written = Vec::new();
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) || n < 5 {
        n += 1;
        let full = if n % 3 == 0 { format!("{tag}{n}") } else { format!("{tag}{n} Smith{n}") };
        let id = r1.add_user(&full).await?;
        let (first, last) = split(&full);
        written.push(Written { id, full, first, last });
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok(written)
}

/// Checks that both releases read every written user correctly.
async fn verify_both(r1: &Release1, r2: &Release2, written: &[Written]) -> Result<(), Error> {
    for w in written {
        let name = r1.name(w.id).await?;
        if name != w.full {
            return Err(format!("release 1 reads user {} as {name:?}, expected {:?}", w.id, w.full).into());
        }
        let names = r2.names(w.id).await?;
        if names != (w.first.clone(), w.last.clone()) {
            return Err(
                format!("release 2 reads user {} as {names:?}, expected {:?}", w.id, (&w.first, &w.last)).into()
            );
        }
    }
    Ok(())
}

/// A report for the transcript: one line per migration applied (on MySQL,
/// release 2's expand and contract are several), the lines after the
/// first indented under their step.
fn indented(report: &Report) -> String {
    report.to_string().replace('\n', "\n   ")
}

/// The rolling upgrade from release 1 to release 2 on the database at
/// `url` (PostgreSQL, or MySQL/MariaDB: `mysql://...`), step by step. Returns the transcript; fails as soon as a promise
/// breaks.
pub async fn scenario(url: &str) -> Result<String, Error> {
    let mut log = String::new();
    let admin = Connection::open(url).await?;
    let m1 = Migrator::new(admin.release1());
    let m2 = Migrator::new(admin.release2());

    // 1. Release 1 is deployed and writes rows.
    admin.sync(&m1, Scope::All).await?;
    let r1 = Arc::new(Release1::start(url).await?);
    let alice = r1.add_user("Ada Lovelace").await?;
    writeln!(log, "1. release 1 started (check: {}), wrote user {alice}", admin.check(&m1).await?)?;
    let premature = Release2::start(url).await.err().ok_or("release 2 started on release 1's schema")?;
    writeln!(log, "   release 2 is not deployable yet: {premature}")?;

    // 2. Release 2's expand migrations run while release 1 keeps writing.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = tokio::spawn(keep_writing(r1.clone(), stop.clone(), "Before"));
    tokio::time::sleep(Duration::from_millis(30)).await;
    let report = indented(&admin.sync(&m2, Scope::Expand).await?);
    stop.store(true, Ordering::Relaxed);
    let mut written = writer.await??;
    writeln!(log, "2. sync --expand for release 2 while release 1 wrote {} users: {report}", written.len())?;
    let verdict = admin.check(&m1).await?;
    if !matches!(verdict, Verdict::NewerExpand { .. }) {
        return Err(format!("release 1's check after expand: {verdict}").into());
    }
    writeln!(log, "   release 1's check: {verdict}")?;

    // 3. Release 2 starts; both write and read at the same time.
    let r2 = Arc::new(Release2::start(url).await?);
    writeln!(log, "3. release 2 started (check: {})", admin.check(&m2).await?)?;
    let stop = Arc::new(AtomicBool::new(false));
    let writer1 = tokio::spawn(keep_writing(r1.clone(), stop.clone(), "Old"));
    let writer2 = tokio::spawn({
        let (r2, stop) = (r2.clone(), stop.clone());
        async move {
            let mut written = Vec::new();
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) || n < 5 {
                n += 1;
                let (first, last) = (format!("New{n}"), (n % 3 != 0).then(|| format!("Jones{n}")));
                let id = r2.add_user(&first, last.as_deref()).await?;
                let full = match &last {
                    Some(last) => format!("{first} {last}"),
                    None => first.clone(),
                };
                written.push(Written { id, full, first, last });
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            Ok::<_, Error>(written)
        }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.store(true, Ordering::Relaxed);
    let (from1, from2) = (writer1.await??, writer2.await??);
    writeln!(log, "   concurrently, release 1 wrote {} users and release 2 wrote {}", from1.len(), from2.len())?;
    written.extend(from1);
    written.extend(from2);
    // Renames through either release show in both.
    r1.rename(alice, "Ada King").await?;
    r2.set_last_name(written[0].id, "Byron").await?;
    written[0].full = format!("{} Byron", written[0].first);
    written[0].last = Some("Byron".into());
    written.push(Written { id: alice, full: "Ada King".into(), first: "Ada".into(), last: Some("King".into()) });
    verify_both(&r1, &r2, &written).await?;
    writeln!(log, "   all {} users read back correctly by both releases, renames included", written.len())?;

    // 4. Release 1 stops; the contract migrations run.
    drop(r1);
    let report = indented(&admin.sync(&m2, Scope::Contract).await?);
    writeln!(log, "4. release 1 stopped; sync --contract: {report}")?;

    // 5. Release 2 keeps working; release 1 refuses to start again.
    let late = r2.add_user("Grace", Some("Hopper")).await?;
    if r2.names(late).await? != ("Grace".to_string(), Some("Hopper".to_string())) {
        return Err("release 2 cannot read what it wrote after contract".into());
    }
    for w in &written {
        if r2.names(w.id).await? != (w.first.clone(), w.last.clone()) {
            return Err(format!("user {} changed in the contract", w.id).into());
        }
    }
    writeln!(log, "5. release 2 still works (check: {})", admin.check(&m2).await?)?;
    match Release1::start(url).await {
        Ok(_) => return Err("release 1 started on a schema contracted by release 2".into()),
        Err(refusal) => writeln!(log, "   {refusal}")?,
    }
    Ok(log)
}

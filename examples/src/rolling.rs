//! A service in two releases sharing one PostgreSQL database during a
//! rolling upgrade.
//!
//! Release 1 stores `users(name)`. Release 2 stores `first_name` and
//! `last_name`: its expand migration adds them, backfills them and keeps
//! them in sync with `name` in both directions through a trigger; its
//! contract migration drops the trigger and `name`. [`scenario`] walks
//! through the upgrade and checks every promise on the way.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ebbtide::{Migrator, Scope, Verdict};
use tokio_postgres::Client;

/// Release 1 of the service.
pub mod release1 {
    ebbtide::embed_migrations!("rolling_upgrade/release1/migrations");
}

/// Release 2 of the service.
pub mod release2 {
    ebbtide::embed_migrations!("rolling_upgrade/release2/migrations");
}

/// Why a release refuses to start, or a database error.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// A running instance of release 1: it knows users by their full name.
pub struct Release1 {
    client: Client,
}

impl Release1 {
    /// Starts an instance: runs the startup check, refusing a schema this
    /// release cannot work with.
    pub async fn start(url: &str) -> Result<Release1, Error> {
        let client = ebbtide::postgres::connect(url).await?;
        guard("release 1", Migrator::new(&release1::migrations::MIGRATIONS).postgres(&client).check().await?)?;
        Ok(Release1 { client })
    }

    /// Adds a user; returns its id.
    pub async fn add_user(&self, name: &str) -> Result<i64, Error> {
        let row = self.client.query_one("INSERT INTO users (name) VALUES ($1) RETURNING id", &[&name]).await?;
        Ok(row.get(0))
    }

    /// A user's full name.
    pub async fn name(&self, id: i64) -> Result<String, Error> {
        let row = self.client.query_one("SELECT name FROM users WHERE id = $1", &[&id]).await?;
        Ok(row.get(0))
    }

    /// Renames a user.
    pub async fn rename(&self, id: i64, name: &str) -> Result<(), Error> {
        self.client.execute("UPDATE users SET name = $2 WHERE id = $1", &[&id, &name]).await?;
        Ok(())
    }
}

/// A running instance of release 2: first and last names apart.
pub struct Release2 {
    client: Client,
}

impl Release2 {
    /// Starts an instance after its startup check.
    pub async fn start(url: &str) -> Result<Release2, Error> {
        let client = ebbtide::postgres::connect(url).await?;
        guard("release 2", Migrator::new(&release2::migrations::MIGRATIONS).postgres(&client).check().await?)?;
        Ok(Release2 { client })
    }

    /// Adds a user; returns its id.
    pub async fn add_user(&self, first: &str, last: Option<&str>) -> Result<i64, Error> {
        let row = self
            .client
            .query_one("INSERT INTO users (first_name, last_name) VALUES ($1, $2) RETURNING id", &[&first, &last])
            .await?;
        Ok(row.get(0))
    }

    /// A user's first and last names.
    pub async fn names(&self, id: i64) -> Result<(String, Option<String>), Error> {
        let row = self.client.query_one("SELECT first_name, last_name FROM users WHERE id = $1", &[&id]).await?;
        Ok((row.get(0), row.get(1)))
    }

    /// Changes a user's last name.
    pub async fn set_last_name(&self, id: i64, last: &str) -> Result<(), Error> {
        self.client.execute("UPDATE users SET last_name = $2 WHERE id = $1", &[&id, &last]).await?;
        Ok(())
    }
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

/// The rolling upgrade from release 1 to release 2 on the database at
/// `url`, step by step. Returns the transcript; fails as soon as a promise
/// breaks.
pub async fn scenario(url: &str) -> Result<String, Error> {
    let mut log = String::new();
    let admin = ebbtide::postgres::connect(url).await?;
    let m1 = Migrator::new(&release1::migrations::MIGRATIONS);
    let m2 = Migrator::new(&release2::migrations::MIGRATIONS);

    // 1. Release 1 is deployed and writes rows.
    m1.postgres(&admin).sync(Scope::All).await?;
    let r1 = Arc::new(Release1::start(url).await?);
    let alice = r1.add_user("Ada Lovelace").await?;
    writeln!(log, "1. release 1 started (check: {}), wrote user {alice}", m1.postgres(&admin).check().await?)?;
    let premature = Release2::start(url).await.err().ok_or("release 2 started on release 1's schema")?;
    writeln!(log, "   release 2 is not deployable yet: {premature}")?;

    // 2. Release 2's expand migrations run while release 1 keeps writing.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = tokio::spawn(keep_writing(r1.clone(), stop.clone(), "Before"));
    tokio::time::sleep(Duration::from_millis(30)).await;
    let report = m2.postgres(&admin).sync(Scope::Expand).await?;
    stop.store(true, Ordering::Relaxed);
    let mut written = writer.await??;
    writeln!(log, "2. sync --expand for release 2 while release 1 wrote {} users: {report}", written.len())?;
    let verdict = m1.postgres(&admin).check().await?;
    if !matches!(verdict, Verdict::NewerExpand { .. }) {
        return Err(format!("release 1's check after expand: {verdict}").into());
    }
    writeln!(log, "   release 1's check: {verdict}")?;

    // 3. Release 2 starts; both write and read at the same time.
    let r2 = Arc::new(Release2::start(url).await?);
    writeln!(log, "3. release 2 started (check: {})", m2.postgres(&admin).check().await?)?;
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
    let report = m2.postgres(&admin).sync(Scope::Contract).await?;
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
    writeln!(log, "5. release 2 still works (check: {})", m2.postgres(&admin).check().await?)?;
    match Release1::start(url).await {
        Ok(_) => return Err("release 1 started on a schema contracted by release 2".into()),
        Err(refusal) => writeln!(log, "   {refusal}")?,
    }
    Ok(log)
}

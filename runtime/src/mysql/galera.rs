//! A MariaDB Galera cluster: what changes when every node takes writes.
//!
//! - `GET_LOCK` is the node's own: a lock held through node 1 does not stop
//!   a run through node 2. The run lock is a row of a lock table instead
//!   (`ebbtide_run_locks`, beside the version table, one row per version
//!   table), inserted in a transaction of
//!   its own: the cluster certifies one insert of a key and refuses the
//!   others (duplicate key, or a deadlock error for the loser of a
//!   certification conflict), both meaning "held". The row names its owner
//!   and expires ([`expiry`], a minute by default) after its last renewal;
//!   a task renews it three times per expiry while the run lasts, so a
//!   runner that died holds it at most that much longer.
//! - A node that is not `Synced` in the Primary component may be behind or
//!   cut off: ebbtide refuses to migrate through it.
//! - Reads on one node may not yet see a commit made through another:
//!   ebbtide's reads wait for the node to apply what the cluster committed
//!   before them (`wsrep_sync_wait = 1`, for that statement only).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Pool};

use super::{code, server_code};
use crate::dialect::{Sql, TableName};

/// How long a run lock lives without renewal, unless
/// `EBBTIDE_CLUSTER_LOCK_EXPIRY` says otherwise (`30s`, `2m`; at least
/// 1 s): how long a runner that died delays the next one, at most. A
/// single statement may run longer (the renewal is queued behind it and
/// certified before any takeover).
pub const EXPIRY: Duration = Duration::from_secs(60);

/// The run lock's expiry: [`EXPIRY`] or `EBBTIDE_CLUSTER_LOCK_EXPIRY`.
pub fn expiry() -> Duration {
    std::env::var("EBBTIDE_CLUSTER_LOCK_EXPIRY")
        .ok()
        .and_then(|text| ebbtide_core::directive::parse_duration_ms(text.trim()))
        .map_or(EXPIRY, |ms| Duration::from_millis(u64::from(ms)).max(Duration::from_secs(1)))
}

/// How often the run lock is renewed: three times per expiry.
fn heartbeat() -> Duration {
    expiry() / 3
}

/// What a node says of itself and its cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// `wsrep_local_state_comment`: `Synced`, `Donor/Desynced`, `Joining`, ...
    pub state: String,
    /// `wsrep_cluster_status`: `Primary`, or `Non-Primary` when cut off.
    pub component: String,
    /// `wsrep_cluster_size`: how many nodes it sees.
    pub size: u32,
}

impl Node {
    /// Whether migrations may run through it.
    pub fn ready(&self) -> bool {
        self.state == "Synced" && self.component == "Primary"
    }
}

/// Servers known to be (or not to be) Galera nodes, by address: learned
/// once per process, so that a startup check stays one query.
static KNOWN: std::sync::Mutex<Vec<(String, bool)>> = std::sync::Mutex::new(Vec::new());

/// Whether the server of `conn` is a node of a Galera cluster.
pub async fn is_cluster(conn: &mut Conn) -> Result<bool, mysql_async::Error> {
    let opts = conn.opts();
    let address = format!("{}:{}:{:?}", opts.ip_or_hostname(), opts.tcp_port(), opts.socket());
    let known = KNOWN.lock().unwrap_or_else(|e| e.into_inner()).iter().find(|(a, _)| *a == address).map(|(_, c)| *c);
    if let Some(cluster) = known {
        return Ok(cluster);
    }
    let cluster = node(conn).await?.is_some();
    KNOWN.lock().unwrap_or_else(|e| e.into_inner()).push((address, cluster));
    Ok(cluster)
}

/// Whether the server is a node of a Galera cluster (`wsrep_on`), and if
/// so what it says of itself.
pub async fn node(conn: &mut Conn) -> Result<Option<Node>, mysql_async::Error> {
    let on: Option<(String, String)> = conn.query_first("SHOW GLOBAL VARIABLES LIKE 'wsrep_on'").await?;
    if !on.is_some_and(|(_, value)| value.eq_ignore_ascii_case("ON")) {
        return Ok(None);
    }
    let rows: Vec<(String, String)> = conn
        .query(
            "SHOW GLOBAL STATUS WHERE Variable_name IN \
             ('wsrep_local_state_comment', 'wsrep_cluster_status', 'wsrep_cluster_size')",
        )
        .await?;
    let value = |name: &str| rows.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone());
    Ok(Some(Node {
        state: value("wsrep_local_state_comment").unwrap_or_default(),
        component: value("wsrep_cluster_status").unwrap_or_default(),
        size: value("wsrep_cluster_size").and_then(|v| v.parse().ok()).unwrap_or(0),
    }))
}

/// The lock table, beside version table `table`.
pub const LOCK_TABLE: &str = "ebbtide_run_locks";

fn lock_table(dialect: &dyn Sql, table: &TableName) -> String {
    let name = dialect.quote(LOCK_TABLE);
    match table.schema() {
        Some(schema) => format!("{}.{name}", dialect.quote(schema)),
        None => name,
    }
}

/// The key of version table `table`'s row in the lock table.
fn key(dialect: &dyn Sql, table: &TableName) -> String {
    dialect.literal(table.name())
}

/// A run's claim on the lock: who it is, and its renewal.
pub struct Claim {
    table: String,
    /// The row's key, as an SQL literal.
    key: String,
    /// The owner, as an SQL literal.
    owner: String,
    lost: Arc<AtomicBool>,
    renewal: tokio::task::JoinHandle<()>,
}

impl Claim {
    /// Whether a renewal found the row gone or someone else's.
    pub fn lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }
}

/// Takes the run lock of `table` through `conn`, or says who holds it.
pub async fn try_lock(
    conn: &mut Conn,
    pool: &Pool,
    dialect: &dyn Sql,
    table: &TableName,
) -> Result<Result<Claim, String>, mysql_async::Error> {
    let lock = lock_table(dialect, table);
    let key = key(dialect, table);
    let owner: (String,) = conn
        .query_first("SELECT CONCAT(@@hostname, ':', CONNECTION_ID(), ':', UNIX_TIMESTAMP(NOW(6)))")
        .await?
        .unwrap_or_default();
    let owner = format!("{}:{}", owner.0, std::process::id());
    let insert = format!(
        "INSERT INTO {lock} (name, owner, node, taken_at, expires_at) VALUES ({key}, {}, @@hostname, \
         UTC_TIMESTAMP(6), UTC_TIMESTAMP(6) + INTERVAL {} MICROSECOND)",
        dialect.literal(&owner),
        expiry().as_micros()
    );
    for attempt in 0..3 {
        match conn.query_drop(&insert).await {
            Ok(()) => {
                let lost = Arc::new(AtomicBool::new(false));
                let owner = dialect.literal(&owner);
                let renewal = tokio::spawn(renew(pool.clone(), lock.clone(), key.clone(), owner.clone(), lost.clone()));
                return Ok(Ok(Claim { table: lock, key, owner, lost, renewal }));
            }
            Err(e) if server_code(&e) == Some(code::NO_SUCH_TABLE) && attempt == 0 => {
                conn.query_drop(format!(
                    "CREATE TABLE IF NOT EXISTS {lock} (name VARCHAR(255) NOT NULL PRIMARY KEY, \
                     owner VARCHAR(255) NOT NULL, node VARCHAR(255) NOT NULL, taken_at DATETIME(6) NOT NULL, \
                     expires_at DATETIME(6) NOT NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
                ))
                .await?;
            }
            Err(e) if matches!(server_code(&e), Some(code::DUPLICATE_KEY | code::DEADLOCK)) => {
                // Held; unless its runner stopped renewing it.
                let expired = conn
                    .query_iter(format!("DELETE FROM {lock} WHERE name = {key} AND expires_at < UTC_TIMESTAMP(6)"))
                    .await;
                let taken_over = match expired {
                    Ok(result) => result.affected_rows() > 0,
                    Err(e) if server_code(&e) == Some(code::DEADLOCK) => false,
                    Err(e) => return Err(e),
                };
                if !taken_over {
                    return Ok(Err(holder(conn, &lock, &key).await?));
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(Err(holder(conn, &lock, &key).await?))
}

/// Who holds the lock, as its row says.
async fn holder(conn: &mut Conn, lock: &str, key: &str) -> Result<String, mysql_async::Error> {
    let row: Option<(String, String, String, i64)> = conn
        .query_first(format!(
            "SELECT owner, node, CAST(taken_at AS CHAR), TIMESTAMPDIFF(SECOND, UTC_TIMESTAMP(6), expires_at) \
             FROM {lock} WHERE name = {key}"
        ))
        .await?;
    Ok(match row {
        Some((owner, node, since, left)) => {
            format!("run {owner} through node {node}, since {since} UTC (its lock expires in {left} s unless renewed)")
        }
        None => "a run that just finished".to_string(),
    })
}

/// Renews the lock three times per expiry on a connection of its own, until
/// aborted; flags `lost` when the row is no longer the run's.
async fn renew(pool: Pool, lock: String, key: String, owner: String, lost: Arc<AtomicBool>) {
    let sql = format!(
        "UPDATE {lock} SET expires_at = UTC_TIMESTAMP(6) + INTERVAL {} MICROSECOND WHERE name = {key} AND owner = {owner}",
        expiry().as_micros()
    );
    let mut conn = None;
    loop {
        tokio::time::sleep(heartbeat()).await;
        if conn.is_none() {
            conn = pool.get_conn().await.ok();
        }
        let Some(c) = conn.as_mut() else { continue };
        match c.query_iter(sql.as_str()).await {
            Ok(result) if result.affected_rows() == 0 => {
                // The row changed hands: an expiry the renewals did not prevent.
                lost.store(true, Ordering::SeqCst);
                return;
            }
            Ok(result) => drop(result.drop_result().await),
            Err(_) => conn = None,
        }
    }
}

/// Releases the lock: the renewal stops, the row goes.
pub async fn unlock(conn: &mut Conn, claim: Claim) -> Result<(), mysql_async::Error> {
    claim.renewal.abort();
    conn.query_drop(format!("DELETE FROM {} WHERE name = {} AND owner = {}", claim.table, claim.key, claim.owner)).await
}

/// Whether some run holds the lock of `table` now.
pub async fn held(conn: &mut Conn, dialect: &dyn Sql, table: &TableName) -> Result<bool, mysql_async::Error> {
    let sql = format!(
        "SELECT COUNT(*) FROM {} WHERE name = {} AND expires_at > UTC_TIMESTAMP(6)",
        lock_table(dialect, table),
        key(dialect, table)
    );
    match conn.query_first::<i64, _>(sql).await {
        Ok(count) => Ok(count.unwrap_or(0) > 0),
        Err(e) if server_code(&e) == Some(code::NO_SUCH_TABLE) => Ok(false),
        Err(e) => Err(e),
    }
}

/// `sql`, a read, made to wait until the node has applied what the
/// cluster committed before it.
pub fn causal(sql: &str) -> String {
    let head = sql.trim_start();
    if head.len() >= 6 && head[..6].eq_ignore_ascii_case("SELECT") {
        format!("SET STATEMENT wsrep_sync_wait = 1 FOR {head}")
    } else {
        sql.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_reads_wait_for_the_cluster() {
        assert_eq!(causal(" select 1"), "SET STATEMENT wsrep_sync_wait = 1 FOR select 1");
        assert_eq!(causal("UPDATE t SET a = 1"), "UPDATE t SET a = 1");
    }
}

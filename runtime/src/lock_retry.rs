//! Lock timeouts with retries: a migration never makes the application
//! queue behind it for longer than its lock timeout.
//!
//! A statement that waits for a lock (an `ALTER TABLE` behind a long
//! transaction that read the table) makes every later statement needing a
//! conflicting lock on that table wait behind it. So each attempt of a
//! migration waits at most its lock timeout; one that gives up is rolled
//! back whole (in a transaction) or, outside one, the statement that gave
//! up is, and it is tried again after a pause that grows from 100 ms to
//! 5 s, jittered, until the retry budget is spent. Between attempts the
//! application's statements go through. Each retry is told to the
//! observer with the sessions that held the lock.

use std::hash::{BuildHasher, RandomState};
use std::time::{Duration, Instant};

use ebbtide_core::classify::{Change, classify};

use crate::engine::Driver;
use crate::plan::Step;
use crate::record::Cell;
use crate::report::{Blocker, Event};
use crate::settings::Settings;

/// The retries of one step.
pub(crate) struct Retry<'s> {
    settings: &'s Settings<'s>,
    budget: Duration,
    started: Instant,
    attempts: u32,
    timeout_ms: u32,
}

impl<'s> Retry<'s> {
    /// The retries of a step whose attempts wait `timeout_ms` for a lock
    /// and are retried for `budget`.
    pub fn new(settings: &'s Settings<'s>, budget: Duration, timeout_ms: Option<u32>) -> Self {
        Retry { settings, budget, started: Instant::now(), attempts: 0, timeout_ms: timeout_ms.unwrap_or(0) }
    }

    /// After an attempt gave up waiting for a lock in `statement`: tells
    /// who held it, pauses, and says whether to try again; `Err` carries
    /// the message to add to the failure when the budget is spent.
    pub async fn again<D: Driver>(&mut self, d: &mut D, step: &Step<'_>, statement: &str) -> Result<(), String> {
        self.attempts += 1;
        let blockers = blockers(d, statement, self.timeout_ms).await;
        let waited = self.started.elapsed();
        if waited >= self.budget {
            let mut told = if self.budget.is_zero() {
                "lock retries are off (lock-retry)".to_string()
            } else {
                format!(
                    "gave up after {} attempt(s) over {:.1} s (the lock-retry budget is {:.1} s)",
                    self.attempts,
                    waited.as_secs_f64(),
                    self.budget.as_secs_f64()
                )
            };
            match blockers.as_slice() {
                [] => told.push_str("; no session holding the lock was found"),
                list => {
                    let list: Vec<String> = list.iter().map(ToString::to_string).collect();
                    told.push_str(&format!("; in the way: {}", list.join("; ")));
                }
            }
            return Err(told);
        }
        let pause = backoff(self.attempts).min(self.budget - waited);
        let first_line = statement.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
        self.settings.notify(Event::LockRetry {
            step,
            statement: first_line,
            attempt: self.attempts,
            waited,
            retry_in: pause,
            blockers: &blockers,
        });
        d.pause(pause).await;
        Ok(())
    }
}

/// The pause before attempt `attempt + 1`: 100 ms doubling to 5 s, each
/// between half and all of it, so that racing runs spread out.
fn backoff(attempt: u32) -> Duration {
    let full =
        Duration::from_millis(100).saturating_mul(1 << attempt.saturating_sub(1).min(6)).min(Duration::from_secs(5));
    let random = RandomState::new().hash_one((attempt, Instant::now()));
    full.mul_f64(0.5 + (random % 1000) as f64 / 2000.0)
}

/// The sessions in the way of `statement`: those holding a lock on the
/// table it names, or else those whose transaction has been open for
/// longer than the lock timeout. Empty where the engine cannot tell.
///
/// A concurrent statement (`CREATE INDEX CONCURRENTLY`) waits for the
/// transactions older than it anywhere in the database, not for a lock on
/// its table: only the second kind is looked for.
pub(crate) async fn blockers<D: Driver>(d: &mut D, statement: &str, timeout_ms: u32) -> Vec<Blocker> {
    let table = if concurrent(statement) { None } else { locked_table(statement) };
    let found = sessions(d, table.as_deref(), timeout_ms).await;
    match (found.is_empty(), table) {
        (true, Some(_)) => sessions(d, None, timeout_ms).await,
        _ => found,
    }
}

/// The sessions holding a lock on `table`, or else with a transaction
/// older than `timeout_ms`.
async fn sessions<D: Driver>(d: &mut D, table: Option<&str>, timeout_ms: u32) -> Vec<Blocker> {
    let Some(sql) = d.sql().blockers(table, timeout_ms) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    let read = d
        .query(&sql, &mut |row| {
            let text = |i: usize| Cell::at(row, i).text().into_owned();
            found.push(Blocker {
                pid: text(0).parse().unwrap_or_default(),
                application: text(1),
                state: text(2),
                transaction_age: text(3).parse().ok().map(Duration::from_millis),
                query: text(4),
            });
        })
        .await;
    read.map(|()| found).unwrap_or_default()
}

/// A name as the classifier gives it (schema-qualified where written so,
/// unquoted names folded to lower case, quoted ones as written) back as an
/// identifier the server reads as that object: each part quoted unless it
/// is a plain lower-case name.
pub(crate) fn identifier(name: &str) -> String {
    let plain = |part: &str| {
        part.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
            && part.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '$')
    };
    name.split('.')
        .map(|part| if plain(part) { part.to_string() } else { format!("\"{}\"", part.replace('"', "\"\"")) })
        .collect::<Vec<_>>()
        .join(".")
}

/// Whether `statement` works concurrently (`CREATE INDEX CONCURRENTLY`,
/// `DROP INDEX CONCURRENTLY`, `REINDEX ... CONCURRENTLY`): it waits for
/// older transactions, not in a lock queue, so the application's
/// statements never queue behind it.
pub(crate) fn concurrent(statement: &str) -> bool {
    let Ok(tokens) = ebbtide_core::lexer::tokenize(statement) else { return false };
    tokens
        .iter()
        .filter(|t| !t.kind.is_trivia())
        .take(6)
        .any(|t| statement[t.range.clone()].eq_ignore_ascii_case("CONCURRENTLY"))
}

/// The table `statement` locks, as an identifier (see [`identifier`]), as
/// far as its text tells.
pub(crate) fn locked_table(statement: &str) -> Option<String> {
    table_named(statement).map(|table| identifier(&table))
}

fn table_named(statement: &str) -> Option<String> {
    let tokens = ebbtide_core::lexer::tokenize(statement).ok()?;
    classify(statement, &tokens).into_iter().find_map(|change| match change {
        Change::AddColumn { table, .. }
        | Change::AddConstraint { table }
        | Change::DropNotNull { table }
        | Change::SetDefault { table }
        | Change::RenameColumn { table, .. }
        | Change::RenameTable { from: table, .. } => Some(table),
        Change::Create { on, .. } => on,
        Change::Drop { table: Some(table), .. } => Some(table),
        Change::Drop { object, name, .. } if object == "TABLE" => name,
        Change::Update { table, .. } | Change::Delete { table } | Change::Insert { table, .. } => table,
        Change::Truncate { tables, .. } => tables.into_iter().next(),
        _ => None,
    })
}

/// The index a `CREATE INDEX CONCURRENTLY` statement creates, as an
/// identifier in the schema of its table: one that gives up leaves it
/// behind, invalid.
pub(crate) fn concurrent_index(statement: &str) -> Option<String> {
    if !concurrent(statement) {
        return None;
    }
    let tokens = ebbtide_core::lexer::tokenize(statement).ok()?;
    classify(statement, &tokens).into_iter().find_map(|change| match change {
        Change::Create { object, name: Some(name), on, .. } if object.ends_with("INDEX") => {
            let schema = on.as_deref().and_then(|on| on.rsplit_once('.')).map(|(schema, _)| schema);
            Some(match schema {
                Some(schema) => format!("{}.{}", identifier(schema), identifier(&name)),
                None => identifier(&name),
            })
        }
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_in_the_way_is_named() {
        for (sql, table) in [
            ("ALTER TABLE users ADD COLUMN email text", Some("users")),
            ("ALTER TABLE users ALTER COLUMN email SET DEFAULT ''", Some("users")),
            ("CREATE INDEX CONCURRENTLY users_email ON users (email)", Some("users")),
            ("DROP TABLE sessions", Some("sessions")),
            ("ALTER TABLE users DROP COLUMN nick", Some("users")),
            ("UPDATE accounts SET a = 1", Some("accounts")),
            ("SELECT 1", None),
        ] {
            assert_eq!(locked_table(sql).as_deref(), table, "{sql}");
        }
        assert_eq!(
            concurrent_index("CREATE INDEX CONCURRENTLY users_email ON users (email)").as_deref(),
            Some("users_email")
        );
        assert_eq!(concurrent_index("CREATE INDEX users_email ON users (email)"), None);
        for (sql, index) in [
            ("CREATE UNIQUE INDEX CONCURRENTLY users_email ON users (email)", "users_email"),
            ("CREATE INDEX CONCURRENTLY IF NOT EXISTS \"Users_Email\" ON users (email)", "\"Users_Email\""),
            ("CREATE INDEX CONCURRENTLY users_email ON app.users (email)", "app.users_email"),
        ] {
            assert_eq!(concurrent_index(sql).as_deref(), Some(index), "{sql}");
        }
        assert_eq!(locked_table("ALTER TABLE \"Users\" ADD COLUMN a int").as_deref(), Some("\"Users\""));
        assert!(concurrent("DROP INDEX CONCURRENTLY users_email") && !concurrent("DROP INDEX users_email"));
    }

    #[test]
    fn pauses_grow_to_five_seconds_and_are_jittered() {
        for attempt in 1..20 {
            let full = Duration::from_millis(100 * (1 << (attempt - 1).min(6))).min(Duration::from_secs(5));
            let pause = backoff(attempt);
            assert!(pause >= full / 2 && pause <= full, "{attempt}: {pause:?} of {full:?}");
        }
    }
}

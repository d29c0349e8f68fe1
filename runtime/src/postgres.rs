//! PostgreSQL, through tokio-postgres.
//!
//! Every operation is async. A run holds a session-level advisory lock
//! (keyed on the version table's name) from its first write to its end, so
//! concurrent starters apply each migration exactly once; the lock is
//! released on every way out, errors included, and dies with the session
//! if the process does.

use std::time::Duration;

use futures_core::Stream;
use tokio_postgres::error::{ErrorPosition, SqlState};
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

use crate::Error;
use crate::dialect::{Dialect, TableName};
use crate::exec::{Cell, DbError, Driver};
use crate::migrator::Migrator;
use crate::ops::front_end;

/// The operations of a [`Migrator`] on one PostgreSQL connection; see
/// [`Migrator::postgres`].
pub struct Postgres<'c> {
    migrator: &'c Migrator<'c>,
    client: &'c Client,
}

impl<'c> Postgres<'c> {
    pub(crate) fn new(migrator: &'c Migrator<'c>, client: &'c Client) -> Self {
        Postgres { migrator, client }
    }

    fn driver(&self) -> PgDriver<'c> {
        PgDriver { client: self.client }
    }
}

macro_rules! awaiting {
    ($e:expr) => {
        $e.await
    };
}

front_end!(Postgres, [async], awaiting);

/// Connects to `url` (`postgres://user:password@host:port/database`),
/// spawning the connection's task on the current tokio runtime. Gives up
/// after 10 seconds unless the URL sets `connect_timeout`.
pub async fn connect(url: &str) -> Result<Client, Error> {
    let target = redact(url);
    let mut config: tokio_postgres::Config = url.parse().map_err(|e: tokio_postgres::Error| Error::Connect {
        target: target.clone(),
        message: format!("invalid URL: {e}"),
    })?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(10));
    }
    let (client, connection) =
        config.connect(NoTls).await.map_err(|e| Error::Connect { target: target.clone(), message: message(&e) })?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    // If this process dies in the middle of a long statement, the server
    // notices within a second and ends the session, releasing its locks
    // (PostgreSQL 14+ on Linux; older servers refuse the setting, harmlessly).
    let _ = client.batch_execute("SET client_connection_check_interval = 1000").await;
    Ok(client)
}

/// The URL of another database on the same server: `url` with its database
/// replaced by `database` (for tools and tests that create scratch databases).
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{database}?{q}"),
        None => format!("{base}/{database}"),
    }
}

/// `url` without its password, for messages.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, path) = rest.split_once('/').map_or((rest, None), |(a, p)| (a, Some(p)));
    let authority = match authority.rsplit_once('@') {
        Some((user, host)) => match user.split_once(':') {
            Some((name, _)) => format!("{name}:***@{host}"),
            None => authority.to_string(),
        },
        None => authority.to_string(),
    };
    match path {
        Some(path) => format!("{scheme}://{authority}/{path}"),
        None => format!("{scheme}://{authority}"),
    }
}

/// The most useful text of a tokio-postgres error: the server's message
/// with its code, detail and hint, or the client's cause chain.
fn message(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut text = format!("{} ({})", db.message(), db.code().code());
        if let Some(detail) = db.detail() {
            text.push_str(&format!("; detail: {detail}"));
        }
        if let Some(hint) = db.hint() {
            text.push_str(&format!("; hint: {hint}"));
        }
        return text;
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

fn db_error(e: tokio_postgres::Error) -> DbError {
    let undefined_table =
        matches!(e.code(), Some(c) if *c == SqlState::UNDEFINED_TABLE || *c == SqlState::INVALID_SCHEMA_NAME);
    DbError { message: message(&e), undefined_table }
}

pub(crate) struct PgDriver<'c> {
    client: &'c Client,
}

impl Driver for PgDriver<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn exclusive_lock(&self) -> bool {
        true
    }

    async fn execute(&mut self, sql: &str) -> Result<(), DbError> {
        self.client.batch_execute(sql).await.map_err(db_error)
    }

    async fn execute_parts(&mut self, parts: &[&str]) -> Result<(), (usize, DbError)> {
        // One simple query. PostgreSQL parses the whole text before running
        // any of it, so a syntax error comes back with a position in the
        // text (in characters); an error while running comes after one
        // CommandComplete per statement that succeeded.
        let mut batch = String::with_capacity(parts.iter().map(|p| p.len() + 2).sum());
        let mut ends = Vec::with_capacity(parts.len());
        let mut chars = 0;
        for part in parts {
            let start = batch.len();
            batch.push_str(part);
            if !part.trim_end().ends_with(';') {
                batch.push(';');
            }
            batch.push('\n');
            chars += batch[start..].chars().count();
            ends.push(chars);
        }
        let failed = |e: tokio_postgres::Error, completed: usize| {
            let at = match e.as_db_error().and_then(|db| db.position()) {
                Some(ErrorPosition::Original(position)) => ends.partition_point(|&end| end < *position as usize),
                _ => completed,
            };
            (at.min(parts.len().saturating_sub(1)), db_error(e))
        };
        let stream = self.client.simple_query_raw(&batch).await.map_err(|e| failed(e, 0))?;
        let mut stream = std::pin::pin!(stream);
        let mut completed = 0;
        while let Some(message) = std::future::poll_fn(|cx| stream.as_mut().poll_next(cx)).await {
            match message {
                Ok(SimpleQueryMessage::CommandComplete(_)) => completed += 1,
                Ok(_) => {}
                Err(e) => return Err(failed(e, completed)),
            }
        }
        Ok(())
    }

    async fn query(&mut self, sql: &str, visit: &mut (dyn FnMut(&[Cell<'_>]) + Send)) -> Result<(), DbError> {
        let messages = self.client.simple_query(sql).await.map_err(db_error)?;
        let mut cells: Vec<Cell<'_>> = Vec::new();
        for message in &messages {
            if let SimpleQueryMessage::Row(row) = message {
                cells.clear();
                cells.extend((0..row.len()).map(|i| row.get(i).map_or(Cell::Null, |t| Cell::Text(t.as_bytes()))));
                visit(&cells);
            }
        }
        Ok(())
    }

    async fn lock(&mut self, table: &TableName) -> Result<(), DbError> {
        self.execute(&format!("SELECT pg_advisory_lock({})", table.lock_key())).await
    }

    async fn unlock(&mut self, table: &TableName) -> Result<(), DbError> {
        self.execute(&format!("SELECT pg_advisory_unlock({})", table.lock_key())).await
    }
}

#[cfg(test)]
mod tests {
    use super::{redact, with_database};

    #[test]
    fn with_database_swaps_only_the_database() {
        assert_eq!(with_database("postgres://u@h:5432/postgres", "t1"), "postgres://u@h:5432/t1");
        assert_eq!(with_database("postgres://u@h", "t1"), "postgres://u@h/t1");
        assert_eq!(with_database("postgres://u@h/db?sslmode=disable", "t1"), "postgres://u@h/t1?sslmode=disable");
    }

    #[test]
    fn redact_hides_passwords_only() {
        assert_eq!(redact("postgres://app:s3cret@db:5432/app"), "postgres://app:***@db:5432/app");
        assert_eq!(redact("postgres://app@db/app"), "postgres://app@db/app");
        assert_eq!(redact("postgres://db"), "postgres://db");
    }
}

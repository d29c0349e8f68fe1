//! SQLite, through rusqlite: the embedded default.
//!
//! Every operation is synchronous. Concurrent runs on one database file are
//! serialised by SQLite's write lock: each migration runs in a `BEGIN
//! IMMEDIATE` transaction that first re-checks that no other run applied it
//! meanwhile, so each migration is applied exactly once.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use rusqlite::types::ValueRef;

use crate::dialect::{Dialect, TableName};
use crate::exec::{Cell, DbError, Driver};
use crate::migrator::Migrator;
use crate::ops::front_end;

/// The operations of a [`Migrator`] on one SQLite connection; see
/// [`Migrator::sqlite`].
pub struct Sqlite<'c> {
    migrator: &'c Migrator<'c>,
    conn: &'c rusqlite::Connection,
}

impl<'c> Sqlite<'c> {
    pub(crate) fn new(migrator: &'c Migrator<'c>, conn: &'c rusqlite::Connection) -> Self {
        Sqlite { migrator, conn }
    }

    fn driver(&self) -> SqliteDriver<'c> {
        // A failure here only leaves SQLite's own default in place.
        let _ = self.conn.busy_timeout(self.migrator.busy_timeout_value());
        SqliteDriver { conn: self.conn }
    }
}

/// Drives a future whose every await completes at once, as the SQLite
/// driver's do (rusqlite is synchronous).
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

macro_rules! blocking {
    ($e:expr) => {
        block_on($e)
    };
}

front_end!(Sqlite, [], blocking);

pub(crate) struct SqliteDriver<'c> {
    conn: &'c rusqlite::Connection,
}

fn db_error(e: rusqlite::Error) -> DbError {
    let message = e.to_string();
    DbError { undefined_table: message.starts_with("no such table"), message }
}

impl Driver for SqliteDriver<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn exclusive_lock(&self) -> bool {
        false
    }

    async fn execute(&mut self, sql: &str) -> Result<(), DbError> {
        self.conn.execute_batch(sql).map_err(db_error)
    }

    async fn query(&mut self, sql: &str, visit: &mut (dyn FnMut(&[Cell<'_>]) + Send)) -> Result<(), DbError> {
        let mut stmt = self.conn.prepare(sql).map_err(db_error)?;
        let columns = stmt.column_count();
        let mut rows = stmt.query([]).map_err(db_error)?;
        while let Some(row) = rows.next().map_err(db_error)? {
            // Values are borrowed from the row; ebbtide's queries have up to
            // eight columns, which live on the stack.
            let mut cells = [Cell::Null; 8];
            let mut many: Vec<Cell<'_>> = Vec::new();
            for i in 0..columns {
                let cell = match row.get_ref(i).map_err(db_error)? {
                    ValueRef::Null => Cell::Null,
                    ValueRef::Integer(n) => Cell::Int(n),
                    // ebbtide stores no floating-point values.
                    ValueRef::Real(x) => Cell::Int(x as i64),
                    ValueRef::Text(t) | ValueRef::Blob(t) => Cell::Text(t),
                };
                match cells.get_mut(i) {
                    Some(slot) => *slot = cell,
                    None => many.push(cell),
                }
            }
            if columns <= cells.len() {
                visit(&cells[..columns]);
            } else {
                let all: Vec<Cell<'_>> = cells.iter().chain(&many).copied().collect();
                visit(&all);
            }
        }
        Ok(())
    }

    async fn lock(&mut self, _: &TableName) -> Result<(), DbError> {
        Ok(())
    }

    async fn unlock(&mut self, _: &TableName) -> Result<(), DbError> {
        Ok(())
    }
}

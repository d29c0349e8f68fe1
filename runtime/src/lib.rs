//! Compile-time embedded SQL migrations for zero-downtime rolling upgrades.
//!
//! ebbtide embeds a `migrations/` directory into your binary at build time
//! and applies it at run time against a version table in SQLite (the
//! embedded default) or PostgreSQL. Migrations live in two branches, as in
//! OpenStack Keystone's database workflow:
//!
//! - **expand** (`migrations/expand/`): additive changes only, safe while
//!   the previous release still runs;
//! - **contract** (`migrations/contract/`): destructive changes, run once no
//!   instance of the previous release is left;
//!
//! after an optional **initial** history (`migrations/initial/`). The
//! [`embed_migrations!`] macro refuses, at compile time, an expand migration
//! that drops or rewrites what the old release needs, and a contract
//! migration that adds what the new release needs.
//!
//! A rolling upgrade is `sync --expand`, deploy the new release everywhere,
//! `sync --contract`. A service calls [`Sqlite::check`]
//! (or the PostgreSQL twin) before serving, and refuses a schema it cannot
//! work with.
//!
//! ```
//! ebbtide::embed_migrations!("../migrations");
//!
//! # fn main() -> Result<(), ebbtide::Error> {
//! # #[cfg(feature = "sqlite")] {
//! let conn = ebbtide::rusqlite::Connection::open_in_memory().unwrap();
//! let migrator = ebbtide::Migrator::new(&migrations::MIGRATIONS);
//! let db = migrator.sqlite(&conn);
//! assert_eq!(db.check()?, ebbtide::Verdict::Empty);
//! db.sync(ebbtide::Scope::Expand)?;
//! assert!(matches!(db.check()?, ebbtide::Verdict::ContractPending { .. }));
//! db.sync(ebbtide::Scope::Contract)?;
//! assert_eq!(db.check()?, ebbtide::Verdict::Current);
//! # }
//! # Ok(())
//! # }
//! ```
//!
//! # Features
//!
//! `sqlite` (default, bundled SQLite through rusqlite, re-exported as
//! [`ebbtide::rusqlite`]), `postgres` (tokio-postgres, re-exported as
//! [`ebbtide::tokio_postgres`]), `postgres-tls` (TLS to PostgreSQL through
//! rustls: `sslmode` and `sslrootcert` in the URL, see
//! `postgres::connect`), `mysql` (MySQL and MariaDB through mysql_async,
//! re-exported as [`ebbtide::mysql_async`]), `mysql-tls` (TLS to MySQL and
//! MariaDB through the same rustls: the same URL parameters, see
//! `mysql::connect`), `cli` (the [`cli`] module and the `ebbtide` binary;
//! includes `postgres-tls` and `mysql-tls`). A link to a feature's item
//! leads back here in a build without that feature.
//!
//! # Modules, and what each may use
//!
//! Layers point one way (no module imports one above it):
//!
//! 1. Plain data: `migrations` (the embedded list), `record` (version-table
//!    rows), [`dialect`] (the version table's name, and the `Sql`
//!    trait: portable SQL for the version table and run lock, each engine
//!    overriding only what differs), `report`, `error`.
//! 2. Pure decisions, over data only: [`plan`] (analysis of the recorded
//!    state, the plan of a request, refusals, what a downgrade destroys),
//!    `check` (the startup verdict), [`status`].
//! 3. The engine seam: `engine` (the `Driver` trait: statements, queries,
//!    the run lock, session capture and restore, capabilities).
//! 4. Over any driver: `version_table` (reads), `backfill` (batched
//!    backfills and their progress table), `exec` (the executor, taking a
//!    `settings` value), `ops` (every operation, written once and given to
//!    each engine's front end by a macro).
//! 5. The public builder: `settings`, `migrator` ([`Migrator`]).
//! 6. One module per engine: [`sqlite`], [`postgres`], [`mysql`]; each is a driver, a
//!    `Sql` override, a front end, and a registry entry
//!    (`database`: the [`registry::Database`] trait and entry types).
//! 7. [`registry`]: the engines of the build, by URL. Then [`cli`].
//!
//! # Adding an engine
//!
//! An engine is one module and one registry entry; nothing else in the
//! runtime changes:
//!
//! 1. `src/<engine>.rs`: a `struct <Engine>Sql` implementing
//!    `dialect::Sql`, overriding what its SQL does differently (quoting,
//!    column types, the insert of a record, the lock-timeout statement);
//!    a driver implementing `engine::Driver` (execute, query, try/hold/
//!    release the run lock, say who holds it, capture and restore the
//!    session, the capabilities `exclusive_lock` and `batches`); a front
//!    end type, `pub struct <Engine><'c>`, whose operations come from
//!    `ops::front_end!` (sync or async); and `pub(crate) const ENGINE:
//!    database::Engine` with its URLs, [`registry::Capabilities`] and an
//!    opener returning a [`registry::Database`].
//! 2. A cargo feature for its client crate, and the module and its line in
//!    [`registry::ENGINES`] under that feature.
//! 3. Its lexer dialect in `ebbtide-core`, if its strings, comments or
//!    identifiers differ from the portable ones (`embed_migrations!(...,
//!    engine = "...")`).
//!
//! The command line then takes its URLs. The test suites run every
//! scenario on every registry entry; for a new engine they need one module
//! beside `tests/support/mod.rs` implementing its `Fixture` (a scratch
//! database's URL, a statement that sleeps, a probe of the run lock, the
//! session state a migration could change) and its line in
//! `support::fixture`. Its server's URL comes from
//! `EBBTIDE_TEST_<NAME>_URL`. Scenarios ask a database for capabilities
//! ("has transactional DDL"), never for its engine's name; tests of one
//! engine's own features (pg_dump, pgbouncer, SQLite's table rebuild) say
//! so with `on_engine!`.
//!
// A link to an item of a feature left out of the build leads to the
// features section instead.
#![cfg_attr(not(feature = "sqlite"), doc = "[`ebbtide::rusqlite`]: crate#features\n[`sqlite`]: crate#features")]
#![cfg_attr(feature = "sqlite", doc = "[`Sqlite::check`]: sqlite::Sqlite::check")]
#![cfg_attr(not(feature = "sqlite"), doc = "[`Sqlite::check`]: crate#features")]
#![cfg_attr(
    not(feature = "postgres"),
    doc = "[`ebbtide::tokio_postgres`]: crate#features\n[`postgres`]: crate#features"
)]
#![cfg_attr(not(feature = "mysql"), doc = "[`ebbtide::mysql_async`]: crate#features\n[`mysql`]: crate#features")]
#![cfg_attr(not(feature = "cli"), doc = "[`cli`]: crate#features")]
#![warn(missing_docs)]
// Without an engine, the executor has nothing to drive.
#![cfg_attr(
    not(any(feature = "sqlite", feature = "postgres", feature = "mysql")),
    allow(dead_code, unused_imports, unused_macros)
)]

extern crate self as ebbtide;

mod backfill;
mod check;
mod database;
pub mod dialect;
mod engine;
mod error;
mod exec;
mod lock_retry;
mod migrations;
mod migrator;
mod ops;
pub mod plan;
mod record;
pub mod registry;
mod report;
#[cfg(feature = "cli")]
pub mod schema;

#[cfg(feature = "adopt")]
pub mod adopt;

#[cfg(feature = "cli")]
pub mod autogenerate;

#[cfg(feature = "cli")]
pub mod revision;
mod settings;
pub mod status;
mod version_table;

#[cfg(feature = "sqlite")]
pub mod sqlite;

#[cfg(feature = "postgres")]
pub mod postgres;

#[cfg(feature = "mysql")]
pub mod mysql;

#[cfg(feature = "cli")]
pub mod cli;

pub use check::Verdict;
pub use ebbtide_core::{Backfill, Branch, Diagnostic, Diagnostics, Migration, Script, Statement, Version};
pub use error::{Aftermath, DriverError, Error, MigrationFailure};
pub use migrations::Migrations;
#[doc(hidden)]
pub use migrations::Packed;
pub use migrator::Migrator;
pub use plan::{Outcome, Plan, PlanOptions, Refusal, Request, Scope, Step, VersionInfo};
pub use record::{How, MigrationId, Record};
pub use report::{Blocker, Done, Event, Report};
pub use settings::{DEFAULT_LOCK_RETRY, DEFAULT_LOCK_TIMEOUT};

/// The SQLite driver ebbtide is built with (bundled SQLite): open the
/// connection you hand [`Migrator::sqlite`] with `ebbtide::rusqlite`, and
/// its version is ebbtide's by construction. An application that names
/// `rusqlite` itself must ask for the same minor version (0.43): another
/// one is another crate, whose `Connection` ebbtide does not take.
#[cfg(feature = "sqlite")]
pub use rusqlite;

/// The PostgreSQL driver ebbtide is built with: connect the client you
/// hand [`Migrator::postgres`] with `ebbtide::tokio_postgres` (or
/// [`postgres::connect`]), and its version is ebbtide's by construction.
/// A pool built on tokio-postgres 0.7 (deadpool-postgres, bb8-postgres)
/// shares it: its pooled client derefs to this `Client`, so
/// `migrator.postgres(&pooled)` takes it as it is.
#[cfg(feature = "postgres")]
pub use tokio_postgres;

/// The MySQL driver ebbtide is built with: build the pool you hand
/// [`Migrator::mysql`] with `ebbtide::mysql_async` (or [`mysql::connect`]),
/// and its version is ebbtide's by construction.
#[cfg(feature = "mysql")]
pub use mysql_async;

/// Embeds a migrations directory at build time.
///
/// `embed_migrations!("migrations")` reads `migrations/` (relative to the
/// crate's `Cargo.toml`) while the crate compiles, checks every rule
/// (file names, the version sequence, directives, and what each branch may
/// do), and expands to a module:
///
/// ```text
/// pub mod migrations {
///     pub enum Versions { V0001_CREATE_USERS = 1, ... }   // one per migration,
///     pub use self::Versions::*;                          // each Into<ebbtide::Version>
///     pub static MIGRATIONS: ebbtide::Migrations = ...;   // all of them, in order
/// }
/// ```
///
/// Every problem becomes a compile error that names the file, the line and
/// what to do. Editing an embedded file rebuilds the crate; for added or
/// removed files to rebuild it too, add a `build.rs` beside `Cargo.toml`:
///
/// ```text
/// fn main() {
///     println!("cargo:rerun-if-changed=migrations");
/// }
/// ```
///
/// Without one, the macro warns.
pub use ebbtide_macros::embed_migrations;

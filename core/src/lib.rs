//! The migration-source model of [ebbtide](https://docs.rs/ebbtide).
//!
//! This crate knows migration *files*: the file-name grammar, the scan of a
//! `migrations/` directory with its `initial/`, `expand/` and `contract/`
//! branches, the one global version sequence, `-- ebbtide:` directives, SQL
//! statement splitting, the classification of each statement as additive or
//! destructive, the branch rules, and content checksums.
//!
//! It is pure: no database, no proc-macro machinery. The `embed_migrations!`
//! macro calls [`load`] at build time and the `ebbtide` command-line tool
//! calls it at run time, so both apply exactly the same rules. Both read
//! the scripts in a [`Dialect`] ([`load_with`]): MySQL's quotes and
//! comments are not PostgreSQL's and SQLite's.
//!
//! Applications do not depend on this crate directly: they use `ebbtide`,
//! which re-exports what they need.

#![warn(missing_docs)]

pub mod backfill;
pub mod checksum;
pub mod classify;
pub mod diagnostic;
pub mod directive;
pub mod lexer;
pub mod lint;
mod migration;
pub mod name;
pub mod packed;
pub mod rules;
mod source;
pub mod split;

pub use backfill::Backfill;
pub use diagnostic::{Diagnostic, Diagnostics, Severity};
pub use lexer::{Dialect, UnknownEngine};
pub use migration::{Branch, Migration, Script, Statement, Version};
pub use source::{
    IMPORT_MAPPING, Loaded, MAX_FILE_BYTES, TEMPLATE_MARK, load, load_with, parse_script, parse_script_with,
    versions_named,
};

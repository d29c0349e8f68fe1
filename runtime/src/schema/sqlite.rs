//! Reading a SQLite schema.

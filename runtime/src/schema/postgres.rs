//! Reading a PostgreSQL schema.

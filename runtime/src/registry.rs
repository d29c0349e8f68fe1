//! Every engine ebbtide opens from a URL: the URLs it takes, what it can
//! do, and how to open it. The command line and the test suites reach an
//! engine only through here, so an engine is one module and one entry in
//! [`ENGINES`].
//!
//! ```
//! # #[cfg(feature = "sqlite")] {
//! let migrations = ebbtide::Migrations::from_static(&[]);
//! let migrator = ebbtide::Migrator::new(&migrations);
//! let (engine, db) = ebbtide::registry::open("sqlite::memory:", ebbtide::registry::Access::Write).unwrap();
//! assert!(engine.capabilities.transactional_ddl);
//! assert!(db.check(&migrator).is_ok());
//! # }
//! ```

use crate::Error;
pub use crate::database::{Access, Capabilities, Database, Engine, Opener, redact};

/// The engines this build of ebbtide holds, one entry per engine module.
pub static ENGINES: &[Engine] = &[
    #[cfg(feature = "sqlite")]
    crate::sqlite::ENGINE,
    #[cfg(feature = "postgres")]
    crate::postgres::ENGINE,
    #[cfg(feature = "mysql")]
    crate::mysql::ENGINE,
];

/// The engine a URL names, or an error listing the URLs this build takes.
pub fn engine(url: &str) -> Result<&'static Engine, Error> {
    ENGINES.iter().find(|e| (e.accepts)(url)).ok_or_else(|| {
        let forms: Vec<&str> = ENGINES.iter().map(|e| e.urls).collect();
        Error::Url(format!("unsupported database URL {:?}: use {}", redact(url), forms.join(", or ")))
    })
}

/// Opens the database a URL names, with its engine.
pub fn open(url: &str, access: Access) -> Result<(&'static Engine, Box<dyn Database>), Error> {
    let engine = engine(url)?;
    Ok((engine, (engine.open)(url, access)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_find_their_engine_or_say_what_is_taken() {
        #[cfg(feature = "sqlite")]
        for url in ["sqlite:app.db", "sqlite:///tmp/app.db", "sqlite::memory:"] {
            assert_eq!(engine(url).unwrap().name, "sqlite", "{url}");
        }
        #[cfg(feature = "postgres")]
        for url in ["postgres://u@h/d", "postgresql://u@h/d"] {
            assert_eq!(engine(url).unwrap().name, "postgres", "{url}");
        }
        #[cfg(feature = "mysql")]
        for url in ["mysql://u@h/d", "mariadb://u@h/d"] {
            assert_eq!(engine(url).unwrap().name, "mysql", "{url}");
        }
        #[cfg(feature = "sqlite")]
        assert!(open("sqlite:", Access::Read).err().unwrap().to_string().contains("names no file"));
        let err = engine("oracle://root:hunter2@localhost/app").unwrap_err().to_string();
        assert!(err.contains("unsupported database URL"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        assert!(err.contains("root:***@localhost"), "{err}");
    }
}

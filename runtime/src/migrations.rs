//! The list of migrations an application knows: embedded by
//! `embed_migrations!`, or read from a directory at run time.

use std::borrow::Cow;
use std::fmt;
use std::path::Path;
use std::sync::OnceLock;

use ebbtide_core::packed;

use crate::{Branch, Diagnostics, Migration, Statement, Version};

/// The migrations of one release, in version order (1, 2, 3, ... with no
/// gap).
///
/// `embed_migrations!` builds one in a `static`, from two literals it
/// unpacks on first use; the command-line tool builds one with
/// [`Migrations::from_dir`].
#[derive(Clone, Debug)]
pub struct Migrations {
    list: List,
    /// Every fingerprint, 16 bytes each, in version order: what the startup
    /// check compares, read in one sequential sweep instead of through each
    /// `Migration`. `None` when one is not 16 bytes (a list built by hand).
    fingerprints: OnceLock<Option<Box<[[u8; 16]]>>>,
}

#[derive(Clone, Debug)]
enum List {
    Slice(Cow<'static, [Migration]>),
    Packed(&'static Packed),
}

/// What `embed_migrations!` emits: every migration in two literals (see
/// `ebbtide_core::packed`), unpacked once, on first use.
#[doc(hidden)]
pub struct Packed {
    text: &'static str,
    table: &'static [u8],
    statements: OnceLock<Box<[Statement]>>,
    list: OnceLock<Box<[Migration]>>,
}

impl Packed {
    /// Wraps the macro's literals.
    pub const fn new(text: &'static str, table: &'static [u8]) -> Self {
        Packed { text, table, statements: OnceLock::new(), list: OnceLock::new() }
    }

    fn list(&'static self) -> &'static [Migration] {
        self.list.get_or_init(|| {
            let statements = self.statements.get_or_init(|| packed::statements(self.table).into());
            packed::unpack(self.text, self.table, statements).into()
        })
    }
}

impl fmt::Debug for Packed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Packed").field("text_bytes", &self.text.len()).field("table_bytes", &self.table.len()).finish()
    }
}

impl Migrations {
    /// Wraps a list built in a `static`.
    #[doc(hidden)]
    pub const fn from_static(list: &'static [Migration]) -> Self {
        Migrations { list: List::Slice(Cow::Borrowed(list)), fingerprints: OnceLock::new() }
    }

    /// Wraps what `embed_migrations!` packed, which it already validated.
    #[doc(hidden)]
    pub const fn from_packed(packed: &'static Packed) -> Self {
        Migrations { list: List::Packed(packed), fingerprints: OnceLock::new() }
    }

    /// Reads and validates a migrations directory at run time, with exactly
    /// the rules `embed_migrations!` applies at build time. `display` is how
    /// messages name the directory. On success, also returns the warnings.
    pub fn from_dir(dir: &Path, display: &str) -> Result<(Self, Diagnostics), Diagnostics> {
        let loaded = ebbtide_core::load(dir, display)?;
        let migrations = Migrations { list: List::Slice(Cow::Owned(loaded.migrations)), fingerprints: OnceLock::new() };
        // Loading has just read every migration: index the fingerprints now.
        migrations.fingerprints();
        Ok((migrations, loaded.warnings))
    }

    /// Wraps migrations built by hand (tests, generated lists). The caller
    /// guarantees versions run 1, 2, 3, ... in order.
    pub fn from_vec(list: Vec<Migration>) -> Self {
        debug_assert!(list.iter().enumerate().all(|(i, m)| m.version.get() as usize == i + 1));
        Migrations { list: List::Slice(Cow::Owned(list)), fingerprints: OnceLock::new() }
    }

    /// Every migration, in version order.
    pub fn as_slice(&self) -> &[Migration] {
        match &self.list {
            List::Slice(list) => list,
            List::Packed(packed) => packed.list(),
        }
    }

    /// Every migration, in version order.
    pub fn iter(&self) -> std::slice::Iter<'_, Migration> {
        self.as_slice().iter()
    }

    /// How many migrations there are.
    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.as_slice().is_empty()
    }

    /// The migration of a version, if this release has it.
    pub fn get(&self, version: impl Into<Version>) -> Option<&Migration> {
        let index = (version.into().get() as usize).checked_sub(1)?;
        self.as_slice().get(index)
    }

    /// Writes the name of the constant `embed_migrations!` gives a version
    /// (`V0003_ADD_USERS_EMAIL`): the `Debug` of its `Versions` enum, read
    /// from the list rather than generated as one match arm per migration.
    #[doc(hidden)]
    pub fn fmt_constant(&self, version: Version, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "V{:04}", version.get())?;
        if let Some(migration) = self.get(version) {
            f.write_str("_")?;
            for c in migration.name.chars() {
                fmt::Write::write_char(f, c.to_ascii_uppercase())?;
            }
        }
        Ok(())
    }

    /// The fingerprints of every migration, in version order, built on
    /// first use.
    pub(crate) fn fingerprints(&self) -> Option<&[[u8; 16]]> {
        self.fingerprints
            .get_or_init(|| self.iter().map(|m| m.fingerprint.as_bytes().try_into().ok()).collect())
            .as_deref()
    }

    /// The highest version (0 when there are no migrations).
    pub fn latest(&self) -> Version {
        Version::new(self.as_slice().len() as u32)
    }

    /// The highest version of one branch, if the branch has any.
    pub fn head(&self, branch: Branch) -> Option<Version> {
        self.as_slice().iter().rev().find(|m| m.branch == branch).map(|m| m.version)
    }
}

impl<'a> IntoIterator for &'a Migrations {
    type Item = &'a Migration;
    type IntoIter = std::slice::Iter<'a, Migration>;

    fn into_iter(self) -> Self::IntoIter {
        self.as_slice().iter()
    }
}

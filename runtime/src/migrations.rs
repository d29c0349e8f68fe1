//! The list of migrations an application knows: embedded by
//! `embed_migrations!`, or read from a directory at run time.

use std::borrow::Cow;
use std::path::Path;

use crate::{Branch, Diagnostics, Migration, Version};

/// The migrations of one release, in version order (1, 2, 3, ... with no
/// gap).
///
/// `embed_migrations!` builds one in a `static` with no allocation; the
/// command-line tool builds one with [`Migrations::from_dir`].
#[derive(Clone, Debug)]
pub struct Migrations {
    list: Cow<'static, [Migration]>,
}

impl Migrations {
    /// Wraps a list that `embed_migrations!` already validated.
    #[doc(hidden)]
    pub const fn from_static(list: &'static [Migration]) -> Self {
        Migrations { list: Cow::Borrowed(list) }
    }

    /// Reads and validates a migrations directory at run time, with exactly
    /// the rules `embed_migrations!` applies at build time. `display` is how
    /// messages name the directory. On success, also returns the warnings.
    pub fn from_dir(dir: &Path, display: &str) -> Result<(Self, Diagnostics), Diagnostics> {
        let loaded = ebbtide_core::load(dir, display)?;
        Ok((Migrations { list: Cow::Owned(loaded.migrations) }, loaded.warnings))
    }

    /// Wraps migrations built by hand (tests, generated lists). The caller
    /// guarantees versions run 1, 2, 3, ... in order.
    pub fn from_vec(list: Vec<Migration>) -> Self {
        debug_assert!(list.iter().enumerate().all(|(i, m)| m.version.get() as usize == i + 1));
        Migrations { list: Cow::Owned(list) }
    }

    /// Every migration, in version order.
    pub fn as_slice(&self) -> &[Migration] {
        &self.list
    }

    /// Every migration, in version order.
    pub fn iter(&self) -> std::slice::Iter<'_, Migration> {
        self.list.iter()
    }

    /// How many migrations there are.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The migration of a version, if this release has it.
    pub fn get(&self, version: Version) -> Option<&Migration> {
        let index = (version.get() as usize).checked_sub(1)?;
        self.list.get(index)
    }

    /// The highest version (0 when there are no migrations).
    pub fn latest(&self) -> Version {
        Version::new(self.list.len() as u32)
    }

    /// The highest version of one branch, if the branch has any.
    pub fn head(&self, branch: Branch) -> Option<Version> {
        self.list.iter().rev().find(|m| m.branch == branch).map(|m| m.version)
    }
}

impl<'a> IntoIterator for &'a Migrations {
    type Item = &'a Migration;
    type IntoIter = std::slice::Iter<'a, Migration>;

    fn into_iter(self) -> Self::IntoIter {
        self.list.iter()
    }
}

//! The branch rules: which changes an expand or a contract migration may
//! make, given what earlier migrations created.
//!
//! The rules follow OpenStack Keystone's: expand only adds (it bans drops,
//! column alterations and renames), contract only removes (it bans creates,
//! added columns and bulk inserts), and a rename is refused in both, to be
//! split into an expand and a contract migration.

use std::collections::{HashMap, HashSet};
use std::fmt;

use crate::classify::Change;
use crate::migration::{Branch, Version};

/// A rule a statement can break; its name is what `-- ebbtide: allow <rule>` takes.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rule {
    /// A drop, type change, tightened constraint or replaced function in expand.
    Destructive,
    /// An `UPDATE`, `DELETE`, `TRUNCATE` or upsert of existing data in expand.
    DataModification,
    /// A create, added column or insert in contract.
    Additive,
    /// A table or column rename, in either branch.
    Rename,
    /// `ADD COLUMN ... NOT NULL` without a default, in either branch.
    NotNullWithoutDefault,
    /// `DO` blocks and `CALL`: their effect is hidden.
    Opaque,
    /// A statement the classifier does not recognise.
    Unknown,
    /// `BEGIN`/`COMMIT`/... in a migration that ebbtide runs in a
    /// transaction, and statements that have no effect inside one.
    TransactionControl,
    /// A statement that changes how the connection or the database file
    /// works beyond the migration, in a way ebbtide cannot undo
    /// (`PRAGMA writable_schema`, `PRAGMA locking_mode`, ...).
    Session,
}

impl Rule {
    /// Every rule.
    pub const ALL: [Rule; 9] = [
        Rule::Destructive,
        Rule::DataModification,
        Rule::Additive,
        Rule::Rename,
        Rule::NotNullWithoutDefault,
        Rule::Opaque,
        Rule::Unknown,
        Rule::TransactionControl,
        Rule::Session,
    ];

    /// The name used in `allow` directives.
    pub const fn as_str(self) -> &'static str {
        match self {
            Rule::Destructive => "destructive",
            Rule::DataModification => "data-modification",
            Rule::Additive => "additive",
            Rule::Rename => "rename",
            Rule::NotNullWithoutDefault => "not-null-without-default",
            Rule::Opaque => "opaque",
            Rule::Unknown => "unknown",
            Rule::TransactionControl => "transaction-control",
            Rule::Session => "session",
        }
    }

    /// Parses an `allow` directive's rule name.
    pub fn parse(name: &str) -> Option<Rule> {
        Rule::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A statement that breaks a branch rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The rule broken.
    pub rule: Rule,
    /// What is wrong.
    pub message: String,
    /// What to do instead.
    pub help: String,
}

/// SQLite connection settings a migration may change: ebbtide reads them
/// before the migration and sets them back after it.
pub const RESTORED_PRAGMAS: &[&str] = &[
    "foreign_keys",
    "defer_foreign_keys",
    "legacy_alter_table",
    "recursive_triggers",
    "reverse_unordered_selects",
    "automatic_index",
    "cache_size",
    "cache_spill",
    "busy_timeout",
    "query_only",
    "trusted_schema",
    "ignore_check_constraints",
    "cell_size_check",
    "analysis_limit",
    "secure_delete",
    "threads",
    "synchronous",
    "temp_store",
];

/// Pragmas that SQLite ignores inside a transaction, or refuses there.
/// (`foreign_keys` is one too; ebbtide handles it, see
/// [`Script::foreign_keys_off`](crate::Script::foreign_keys_off).)
const OUTSIDE_TRANSACTION_PRAGMAS: &[&str] =
    &["journal_mode", "synchronous", "temp_store", "page_size", "auto_vacuum", "encoding", "wal_checkpoint"];

/// Pragmas stored in the database file, inside the transaction: nothing to restore.
const DATABASE_PRAGMAS: &[&str] = &["user_version", "application_id"];

/// Pragmas whose argument names what to look at or how much to do, not a setting.
const ACTION_PRAGMAS: &[&str] = &[
    "table_info",
    "table_xinfo",
    "table_list",
    "index_list",
    "index_info",
    "index_xinfo",
    "foreign_key_list",
    "foreign_key_check",
    "integrity_check",
    "quick_check",
    "optimize",
    "incremental_vacuum",
    "shrink_memory",
];

/// Pragmas no migration may set, with the reason.
const REFUSED_PRAGMAS: &[(&str, &str)] = &[
    ("writable_schema", "lets statements write sqlite_schema directly, where one mistake corrupts the database"),
    (
        "schema_version",
        "overwrites the counter every connection relies on to notice schema changes, corrupting their view of it",
    ),
    (
        "locking_mode",
        "EXCLUSIVE keeps the database locked until this connection closes, so every other instance of the service waits",
    ),
    (
        "case_sensitive_like",
        "changes how LIKE compares text for the whole connection, and its value cannot be read back to restore it",
    ),
];

/// SQLite's table rebuild found in one migration: `CREATE TABLE scratch`,
/// a copy into it, `DROP TABLE table`, `ALTER TABLE scratch RENAME TO
/// table`. The branch rules take it as one operation: it replaces `table`,
/// so it belongs in contract, and its rename is not a rename of anything
/// the running release uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rebuild {
    /// The table rebuilt.
    pub table: String,
    /// The new table renamed over it.
    pub scratch: String,
}

/// The rebuilds among one migration's changes, in order.
pub fn rebuilds<'c>(changes: impl IntoIterator<Item = &'c Change>) -> Vec<Rebuild> {
    let mut created: HashSet<&str> = HashSet::new();
    let mut dropped: HashSet<&str> = HashSet::new();
    let mut out = Vec::new();
    for change in changes {
        match change {
            Change::Create { object, name: Some(name), .. } if object.ends_with("TABLE") => {
                created.insert(name);
            }
            Change::Drop { object, name: Some(name), table: None, .. } if object.ends_with("TABLE") => {
                dropped.insert(name);
            }
            Change::RenameTable { from, to: Some(to) }
                if created.contains(from.as_str()) && dropped.contains(to.as_str()) =>
            {
                out.push(Rebuild { table: to.clone(), scratch: from.clone() });
            }
            _ => {}
        }
    }
    out
}

impl Rebuild {
    /// Whether `change` is one of the rebuild's own statements: creating,
    /// filling and renaming the scratch table, dropping the old one, and
    /// indexes and triggers on either.
    fn covers(&self, change: &Change) -> bool {
        match change {
            Change::Create { object, name: Some(name), .. } if object.ends_with("TABLE") => *name == self.scratch,
            Change::Create { object, on: Some(on), .. } if matches!(object.as_str(), "INDEX" | "TRIGGER") => {
                *on == self.scratch || *on == self.table
            }
            Change::Insert { table: Some(table), upsert: false } => *table == self.scratch,
            Change::Drop { object, name: Some(name), table: None, .. } if object.ends_with("TABLE") => {
                *name == self.table
            }
            Change::RenameTable { from, to: Some(to) } => *from == self.scratch && *to == self.table,
            _ => false,
        }
    }
}

/// The migration whose statements are checked.
#[derive(Copy, Clone, Debug)]
pub struct Current<'a> {
    /// Its branch.
    pub branch: Branch,
    /// Its version.
    pub version: Version,
    /// Its name.
    pub name: &'a str,
    /// The release it starts (`-- ebbtide: release <name>`), if it does.
    pub release: Option<&'a str>,
}

/// The migration that created something, and the release it belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Origin {
    branch: Branch,
    version: Version,
    name: String,
    /// The first version of its release.
    release: Version,
    /// How messages name its release.
    release_name: String,
    /// Why the object may be older than this migration, which then only
    /// seemed to create it: `IF NOT EXISTS`, `OR REPLACE`, a temporary
    /// object hiding a table of the same name. Such an object is never new.
    doubt: Option<&'static str>,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.branch {
            Branch::Initial => write!(f, "initial migration {}_{}", self.version, self.name),
            _ => write!(f, "{} migration {}_{} ({})", self.branch, self.version, self.name, self.release_name),
        }
    }
}

/// What earlier migrations created, tracked in version order so the rules
/// can tell a new object from an existing one.
///
/// "New" is relative to a release: an expand migration may rewrite what
/// expand migrations of its own release created (a backfill), and nothing
/// else, because the release serving now reads and writes everything older.
/// Releases end at contract migrations, unless the project declares them
/// (`-- ebbtide: release <name>` in the first migration of each): then the
/// declarations are the only boundaries.
#[derive(Clone, Debug)]
pub struct Catalog {
    /// Table name -> the migration that created it.
    tables: HashMap<String, Origin>,
    /// (table, column) -> the migration that added it.
    columns: HashMap<(String, String), Origin>,
    /// ("FUNCTION" | "VIEW" | "TRIGGER" | "RULE", name) -> the migration that created it.
    routines: HashMap<(&'static str, String), Origin>,
    /// (object kind, name) of other objects (indexes, sequences, types, ...)
    /// -> the migration that created it.
    objects: HashMap<(String, String), Origin>,
    /// Whether the project declares its releases.
    declared: bool,
    /// The first version of the release being checked, and its name.
    release: (Version, String),
    /// Where the next release starts when releases end at contract migrations.
    next_release: Option<Version>,
    /// The migration being checked.
    current: Option<(Branch, Version, String)>,
    /// The rebuilds of the migration being checked.
    rebuilds: Vec<Rebuild>,
    /// (object kind, name) the migration being checked dropped.
    dropped_here: HashSet<(String, String)>,
}

impl Default for Catalog {
    fn default() -> Self {
        Catalog::new(false)
    }
}

impl Catalog {
    /// An empty catalog: nothing created yet. `declared`: the project
    /// declares its releases, whose declarations are then the only
    /// boundaries; otherwise every contract migration ends one.
    pub fn new(declared: bool) -> Self {
        Catalog {
            tables: HashMap::new(),
            columns: HashMap::new(),
            routines: HashMap::new(),
            objects: HashMap::new(),
            declared,
            release: (Version(1), release_from(Version(1), declared)),
            next_release: None,
            current: None,
            rebuilds: Vec::new(),
            dropped_here: HashSet::new(),
        }
    }

    /// Where the current migration comes from, for what it creates.
    fn origin(&self) -> Origin {
        let (branch, version, name) = self.current.clone().unwrap_or((Branch::Initial, Version(0), String::new()));
        Origin { branch, version, name, release: self.release.0, release_name: self.release.1.clone(), doubt: None }
    }

    /// Whether `origin` is an expand migration of the release being checked.
    /// An object that may be older ([`Origin::doubt`]) is not new.
    fn is_new(&self, origin: Option<&Origin>) -> bool {
        origin.is_some_and(|o| o.doubt.is_none() && self.of_this_release(o))
    }

    fn of_this_release(&self, origin: &Origin) -> bool {
        origin.branch == Branch::Expand && origin.release == self.release.0
    }

    /// Checks the statements of migration `version` of `branch`, each
    /// given as its changes, against the branch rules, in order, and
    /// records what they create and remove. Returns the broken rules,
    /// statement by statement.
    pub fn migration(
        &mut self,
        m: Current<'_>,
        statements: &[Vec<Change>],
        no_transaction: bool,
    ) -> Vec<Vec<Violation>> {
        let (branch, version) = (m.branch, m.version);
        match (self.declared, m.release) {
            (true, Some(name)) => self.release = (version, format!("release {name}")),
            (true, None) => {}
            (false, _) => {
                if let Some(start) = self.next_release.take() {
                    self.release = (start, release_from(start, false));
                }
            }
        }
        if !self.declared && branch == Branch::Contract {
            // Whatever this release created is old for the next one.
            self.next_release = Some(Version(version.0 + 1));
        }
        self.current = Some((branch, version, m.name.to_string()));
        self.rebuilds = rebuilds(statements.iter().flatten());
        self.dropped_here.clear();
        statements
            .iter()
            .map(|changes| {
                changes
                    .iter()
                    .filter_map(|change| {
                        let violation = self.check(branch, change, no_transaction);
                        self.record(change);
                        violation
                    })
                    .collect()
            })
            .collect()
    }

    fn rebuild_of(&self, change: &Change) -> Option<&Rebuild> {
        self.rebuilds.iter().find(|r| r.covers(change))
    }

    fn check(&self, branch: Branch, change: &Change, no_transaction: bool) -> Option<Violation> {
        let what = change.describe();
        if let Change::Pragma { name, value: Some(value) } = change {
            return pragma_violation(name, value, no_transaction);
        }
        if let Some(rebuild) = self.rebuild_of(change) {
            // One operation: reported once, on the drop, and only in expand.
            let drop = matches!(change, Change::Drop { .. });
            return (branch == Branch::Expand && drop).then(|| Violation {
                rule: Rule::Destructive,
                message: format!(
                    "this statement drops table {table} to rebuild it (a new table {scratch}, copied from it and renamed over it); \
                     the old release still uses the table it replaces",
                    table = rebuild.table,
                    scratch = rebuild.scratch
                ),
                help: "move the rebuild to a contract migration, which runs once no instance of the old release is left".into(),
            });
        }
        match change {
            Change::TransactionControl if !no_transaction => {
                return Some(Violation {
                    rule: Rule::TransactionControl,
                    message: format!("this statement {what}, but ebbtide runs each migration in a transaction of its own"),
                    help: "remove BEGIN/COMMIT from the file, or put `-- ebbtide: no-transaction` at its top if it must manage its own transactions".into(),
                });
            }
            Change::TransactionControl => return None,
            _ => {}
        }
        match branch {
            Branch::Initial => None,
            Branch::Expand => self.check_expand(change, what),
            Branch::Contract => self.check_contract(change, what),
        }
        .or_else(|| self.check_both(branch, change))
    }

    fn check_both(&self, branch: Branch, change: &Change) -> Option<Violation> {
        if branch == Branch::Initial {
            return None;
        }
        let what = change.describe();
        match change {
            Change::RenameTable { from, to } => Some(Violation {
                rule: Rule::Rename,
                message: format!("this statement {what}; the release still running uses the old name"),
                help: format!(
                    "split it: in expand, create table {} and keep it in sync with {from} (a view or triggers); in contract, drop {from}",
                    to.as_deref().unwrap_or("<new>")
                ),
            }),
            Change::RenameColumn { table, from, to, redefined } => Some(Violation {
                rule: Rule::Rename,
                message: match redefined {
                    false => format!("this statement {what}; the release still running uses the old name"),
                    true => {
                        format!("this statement {what}; the release still running uses the old name and the old type")
                    }
                },
                help: format!(
                    "split it: in expand, add column {table}.{new}{typed}, backfill it and keep both columns in sync with a trigger; in contract, drop {table}.{from}",
                    new = to.as_deref().unwrap_or("<new>"),
                    typed = if *redefined { " with its new type" } else { "" },
                ),
            }),
            Change::AddColumn { table, column, not_null_without_default: true, .. } => Some(Violation {
                rule: Rule::NotNullWithoutDefault,
                message: format!(
                    "adding column {table}.{column} as NOT NULL without a default fails on existing rows and breaks the old release's inserts"
                ),
                help: format!(
                    "add {column} nullable (or with a DEFAULT) in expand, backfill it, then `ALTER TABLE {table} ALTER COLUMN {column} SET NOT NULL` in contract"
                ),
            }),
            Change::Opaque { keyword } => Some(Violation {
                rule: Rule::Opaque,
                message: format!(
                    "a {keyword} statement hides what it changes, so ebbtide cannot check it against the {branch} rules"
                ),
                help: format!(
                    "check that it only makes {branch} changes, then put `-- ebbtide: allow opaque` at the top of the file"
                ),
            }),
            Change::Unknown { keywords } => Some(Violation {
                rule: Rule::Unknown,
                message: format!(
                    "ebbtide does not recognise `{keywords} ...` and cannot tell whether it is additive or destructive"
                ),
                help: format!("if it belongs in {branch}, put `-- ebbtide: allow unknown` at the top of the file"),
            }),
            _ => None,
        }
    }

    fn check_expand(&self, change: &Change, what: String) -> Option<Violation> {
        let destructive = |message: String| Violation {
            rule: Rule::Destructive,
            message,
            help: "move it to a contract migration, which runs once no instance of the old release is left; \
                   if it is safe while the old release runs, put `-- ebbtide: allow destructive` at the top of the file"
                .into(),
        };
        let modification = |message: String| {
            Violation {
            rule: Rule::DataModification,
            message,
            help: "an expand migration may rewrite only what expand migrations of its own release added (a backfill); \
                   move it to a contract migration, or, for a new shape of the data, add a column in this release, \
                   backfill it and keep it in sync with a trigger; if it is safe, put `-- ebbtide: allow data-modification` \
                   at the top of the file"
                .into(),
        }
        };
        // Who made what this statement writes, for messages.
        let made = |origin: Option<&Origin>, verb: &str| match origin {
            Some(o @ Origin { doubt: Some(doubt), .. }) => format!(
                "{o} {verb} it {doubt}, so it may be an older one, which the release serving now reads and writes"
            ),
            Some(o) => format!("{o} {verb} it, and the release serving now reads and writes it"),
            None => "it existed before these migrations, and the release serving now reads and writes it".into(),
        };
        let table_is_new = |t: &str| self.is_new(self.tables.get(t));
        let old_table = |t: &str| format!("table {t} is old: {}", made(self.tables.get(t), "created"));
        match change {
            Change::Create { object, name: Some(name), or_replace: true, .. } => {
                let created = self.routines.get(&(routine_kind(object)?, name.clone()))?;
                if self.of_this_release(created) {
                    return None;
                }
                Some(destructive(format!(
                    "this statement replaces {} {name}, which {created} created; the old release still relies on its current definition",
                    object.to_ascii_lowercase()
                )))
            }
            // What an expand migration of this release created, the old
            // release never saw: dropping it breaks nothing.
            Change::Drop { cascade: true, .. } | Change::Truncate { cascade: true, .. } => Some(destructive(format!(
                "this statement {what} with CASCADE, which also removes what depends on it, and the old release may use that"
            ))),
            Change::Drop { object, name: Some(name), table, .. } => {
                let origin = self.dropped_origin(object, name, table.as_deref());
                match origin {
                    _ if self.is_new(origin) => None,
                    Some(o @ Origin { doubt: Some(doubt), .. }) => Some(destructive(format!(
                        "this statement {what}; {o} created it {doubt}, so it may be an older one, which the old release still needs"
                    ))),
                    _ => Some(destructive(format!(
                        "this statement {what}, but expand migrations may only add: the old release still needs what this changes"
                    ))),
                }
            }
            Change::Drop { .. } | Change::AlterExisting { .. } => Some(destructive(format!(
                "this statement {what}, but expand migrations may only add: the old release still needs what this changes"
            ))),
            Change::Update { table: None, .. } => Some(modification(format!(
                "this statement {what}: ebbtide cannot tell whether the old release still reads that data"
            ))),
            Change::Update { table: Some(table), columns } => {
                if table_is_new(table) {
                    return None;
                }
                if columns.is_empty() {
                    return Some(modification(format!("this statement {what}; {}", old_table(table))));
                }
                let key = |c: &String| (table.to_string(), c.clone());
                let old: Vec<&String> = columns.iter().filter(|c| !self.is_new(self.columns.get(&key(c)))).collect();
                let first = old.first()?;
                let names: Vec<String> = old.iter().map(|c| format!("{table}.{c}")).collect();
                let (origin, verb) = match self.columns.get(&key(first)) {
                    Some(origin) => (Some(origin), "added"),
                    None => (self.tables.get(table), "created"),
                };
                Some(modification(format!(
                    "this statement {what}; {} {}: {}",
                    names.join(", "),
                    if old.len() == 1 { "is old" } else { "are old" },
                    made(origin, verb)
                )))
            }
            Change::Insert { table: Some(t), upsert: true } | Change::Delete { table: Some(t) } if table_is_new(t) => {
                None
            }
            Change::Insert { table: Some(t), upsert: true } | Change::Delete { table: Some(t) } => {
                Some(modification(format!("this statement {what}; {}", old_table(t))))
            }
            Change::Insert { upsert: true, .. } | Change::Delete { table: None } => Some(modification(format!(
                "this statement {what}: ebbtide cannot tell whether the old release still reads that data"
            ))),
            Change::Truncate { tables, .. } if !tables.is_empty() && tables.iter().all(|t| table_is_new(t)) => None,
            Change::Truncate { tables, .. } => {
                let old = tables.iter().find(|t| !table_is_new(t));
                Some(modification(match old {
                    Some(t) => format!("this statement {what}; {}", old_table(t)),
                    None => format!("this statement {what}: ebbtide cannot name the tables"),
                }))
            }
            _ => None,
        }
    }

    /// The migration that created the object a `DROP` names.
    fn dropped_origin(&self, object: &str, name: &str, table: Option<&str>) -> Option<&Origin> {
        match (object, table) {
            ("COLUMN", Some(table)) => self.columns.get(&(table.to_string(), name.to_string())),
            (object, _) if object.ends_with("TABLE") => self.tables.get(name),
            (object, _) => match routine_kind(object) {
                Some(kind) => self.routines.get(&(kind, name.to_string())),
                None => self.objects.get(&(object.to_string(), name.to_string())),
            },
        }
    }

    fn check_contract(&self, change: &Change, what: String) -> Option<Violation> {
        let additive = |message: String| Violation {
            rule: Rule::Additive,
            message,
            help: "move it to an expand migration, so the new release finds it in place when it starts; \
                   if it must run here, put `-- ebbtide: allow additive` at the top of the file"
                .into(),
        };
        match change {
            Change::Create { object, name: Some(name), or_replace: true, .. }
                if routine_kind(object).is_some_and(|k| self.routines.contains_key(&(k, name.clone()))) =>
            {
                None
            }
            // Dropped and created again by the same migration: a redefinition.
            Change::Create { object, name: Some(name), .. }
                if self.dropped_here.contains(&(object.clone(), name.clone())) =>
            {
                None
            }
            Change::Create { .. }
            | Change::AddColumn { not_null_without_default: false, .. }
            | Change::DropNotNull { .. }
            | Change::SetDefault { .. }
            | Change::OtherAddition { .. }
            | Change::Insert { upsert: false, .. } => Some(additive(format!(
                "this statement {what}, but contract migrations may only remove: the new release must already work before contract runs"
            ))),
            _ => None,
        }
    }

    fn record(&mut self, change: &Change) {
        if let Change::Drop { object, name: Some(name), .. } = change {
            self.dropped_here.insert((object.clone(), name.clone()));
        }
        let origin = self.origin();
        if let Some(rebuild) = self.rebuild_of(change) {
            // The rebuilt table keeps its origin and its columns' history;
            // the scratch table exists only inside the migration.
            match change {
                Change::Create { object, name: Some(name), .. } if object.ends_with("TABLE") => {
                    self.tables.insert(name.clone(), origin);
                }
                Change::RenameTable { .. } => {
                    self.tables.remove(&rebuild.scratch.clone());
                }
                _ => {}
            }
            return;
        }
        match change {
            // An object that may have been there before keeps the origin
            // it has, or is recorded with the doubt; a plain CREATE of a
            // name in use fails, unless a DROP freed it.
            Change::Create { object, name: Some(name), or_replace, if_not_exists, temporary, .. } => {
                let doubt = match (*temporary, *if_not_exists, *or_replace) {
                    (true, ..) => Some("as a temporary object"),
                    (_, true, _) => Some("with IF NOT EXISTS"),
                    (.., true) => Some("with OR REPLACE"),
                    _ => None,
                };
                let origin = Origin { doubt, ..origin };
                if object.ends_with("TABLE") {
                    let entry = self.tables.entry(name.clone());
                    if doubt.is_some() {
                        entry.or_insert(origin);
                    } else {
                        entry.insert_entry(origin);
                    }
                } else if let Some(kind) = routine_kind(object) {
                    self.routines.entry((kind, name.clone())).or_insert(origin);
                } else {
                    let entry = self.objects.entry((object.clone(), name.clone()));
                    if doubt.is_some() {
                        entry.or_insert(origin);
                    } else {
                        entry.insert_entry(origin);
                    }
                }
            }
            Change::AddColumn { table, column, if_not_exists, .. } => {
                let doubt = if_not_exists.then_some("with IF NOT EXISTS");
                let entry = self.columns.entry((table.clone(), column.clone()));
                if doubt.is_some() {
                    entry.or_insert(Origin { doubt, ..origin });
                } else {
                    entry.insert_entry(origin);
                }
            }
            Change::Drop { object, name: Some(name), table, .. } => {
                if object == "COLUMN" {
                    if let Some(table) = table {
                        self.columns.remove(&(table.clone(), name.clone()));
                    }
                } else if object.ends_with("TABLE") {
                    self.tables.remove(name);
                    self.columns.retain(|(t, _), _| t != name);
                } else if let Some(kind) = routine_kind(object) {
                    self.routines.remove(&(kind, name.clone()));
                } else {
                    self.objects.remove(&(object.clone(), name.clone()));
                }
            }
            Change::RenameTable { from, to: Some(to) } => {
                if let Some(origin) = self.tables.remove(from) {
                    self.tables.insert(to.clone(), origin);
                }
                let moved: Vec<((String, String), Origin)> = self.columns.extract_if(|(t, _), _| t == from).collect();
                for ((_, column), origin) in moved {
                    self.columns.insert((to.clone(), column), origin);
                }
            }
            Change::RenameColumn { table, from, to: Some(to), .. } => {
                if let Some(origin) = self.columns.remove(&(table.clone(), from.clone())) {
                    self.columns.insert((table.clone(), to.clone()), origin);
                }
            }
            _ => {}
        }
    }
}

/// The release of each migration, as `status` shows it: its name in a
/// project that declares releases (`-` before the first declaration),
/// otherwise `from <first version>` (each contract migration ends one).
/// The same boundaries as [`Catalog`]'s.
pub fn releases(migrations: &[crate::Migration]) -> Vec<String> {
    let declared = migrations.iter().any(|m| m.release.is_some());
    let mut current = if declared { "-".to_string() } else { "from 0001".to_string() };
    let mut next: Option<Version> = None;
    migrations
        .iter()
        .map(|m| {
            match (&m.release, declared) {
                (Some(name), _) => current = name.to_string(),
                (None, false) => {
                    if let Some(start) = next.take() {
                        current = format!("from {start}");
                    }
                }
                (None, true) => {}
            }
            if !declared && m.branch == Branch::Contract {
                next = Some(Version(m.version.0 + 1));
            }
            current.clone()
        })
        .collect()
}

/// How messages name the release that starts at `start` before any is
/// declared, or in a project that lets contract migrations end them.
fn release_from(start: Version, declared: bool) -> String {
    match declared {
        true => format!("the release before the first declared one, from {start}"),
        false => format!("the release that began at {start}"),
    }
}

/// A statement the engine refuses inside a transaction, in a migration
/// that ebbtide runs in one.
pub fn outside_transaction(what: &str) -> Violation {
    Violation {
        rule: Rule::TransactionControl,
        message: format!("{what} cannot run inside a transaction, and ebbtide runs this migration in one"),
        help: "put it in a migration of its own marked `-- ebbtide: no-transaction` at the top of the file".into(),
    }
}

/// A statement using an enum value that an earlier statement of the same
/// transactional migration added.
pub fn new_enum_value_used(value: &str) -> Violation {
    Violation {
        rule: Rule::TransactionControl,
        message: format!(
            "this statement uses {value}, which ALTER TYPE ... ADD VALUE added earlier in this migration; PostgreSQL refuses a new enum value until the transaction that added it commits"
        ),
        help: "use the value in a later migration, or add it in a migration of its own".into(),
    }
}

/// The rule a `PRAGMA name = value` breaks, if any, in any branch.
fn pragma_violation(name: &str, value: &str, no_transaction: bool) -> Option<Violation> {
    if let Some((_, why)) = REFUSED_PRAGMAS.iter().find(|(refused, _)| *refused == name) {
        return Some(Violation {
            rule: Rule::Session,
            message: format!("PRAGMA {name} {why}"),
            help: "set it on the connection in the application if it needs it; if this migration must set it, put `-- ebbtide: allow session` at the top of the file"
                .into(),
        });
    }
    if OUTSIDE_TRANSACTION_PRAGMAS.contains(&name) {
        return (!no_transaction).then(|| Violation {
            rule: Rule::TransactionControl,
            message: format!(
                "PRAGMA {name} = {value} has no effect inside a transaction (SQLite ignores or refuses it there), and ebbtide runs this migration in one"
            ),
            help: "put it in a migration of its own marked `-- ebbtide: no-transaction`, or set it on the connection before handing it to ebbtide".into(),
        });
    }
    let known = [RESTORED_PRAGMAS, DATABASE_PRAGMAS, ACTION_PRAGMAS].iter().any(|list| list.contains(&name));
    (!known).then(|| Violation {
        rule: Rule::Unknown,
        message: format!("ebbtide does not know PRAGMA {name}, so it cannot tell what setting it does to the connection or the database"),
        help: "if it is safe, put `-- ebbtide: allow unknown` at the top of the file".into(),
    })
}

/// Objects whose `CREATE OR REPLACE` changes an existing definition.
fn routine_kind(object: &str) -> Option<&'static str> {
    match object {
        "FUNCTION" | "PROCEDURE" => Some("FUNCTION"),
        "VIEW" | "MATERIALIZED VIEW" => Some("VIEW"),
        "TRIGGER" => Some("TRIGGER"),
        "RULE" => Some("RULE"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::classify;
    use crate::lexer::tokenize;

    fn current(branch: Branch, version: u32, release: Option<&'static str>) -> Current<'static> {
        Current { branch, version: Version(version), name: "m", release }
    }

    /// Runs statements through one catalog, each as (branch, version, sql),
    /// and returns the rules broken, statement by statement.
    fn run(steps: &[(Branch, u32, &str)]) -> Vec<Vec<Rule>> {
        let mut catalog = Catalog::new(false);
        steps
            .iter()
            .map(|(branch, version, sql)| {
                let changes = classify(sql, &tokenize(sql).unwrap());
                catalog
                    .migration(current(*branch, *version, None), &[changes], false)
                    .remove(0)
                    .into_iter()
                    .map(|v| v.rule)
                    .collect()
            })
            .collect()
    }

    fn rules(branch: Branch, sql: &str) -> Vec<Rule> {
        run(&[(Branch::Initial, 1, "CREATE TABLE users (id int, name text)"), (branch, 2, sql)]).remove(1)
    }

    #[test]
    fn expand_accepts_additive_changes() {
        for sql in [
            "CREATE TABLE sessions (id int)",
            "CREATE INDEX CONCURRENTLY users_name ON users (name)",
            "ALTER TABLE users ADD COLUMN email text",
            "ALTER TABLE users ADD COLUMN active boolean NOT NULL DEFAULT true",
            "ALTER TABLE users ADD CONSTRAINT users_name_key UNIQUE (name)",
            "ALTER TABLE users ALTER COLUMN name DROP NOT NULL",
            "ALTER TYPE mood ADD VALUE 'meh'",
            "INSERT INTO users (id, name) VALUES (1, 'a')",
            "CREATE OR REPLACE FUNCTION new_fn() RETURNS int AS $$ SELECT 1 $$ LANGUAGE sql",
            "COMMENT ON TABLE users IS 'people'",
        ] {
            assert_eq!(rules(Branch::Expand, sql), Vec::<Rule>::new(), "{sql}");
        }
    }

    #[test]
    fn expand_refuses_drops_and_alterations() {
        assert_eq!(rules(Branch::Expand, "ALTER TABLE users DROP COLUMN name"), vec![Rule::Destructive]);
        assert_eq!(rules(Branch::Expand, "DROP TABLE users"), vec![Rule::Destructive]);
        assert_eq!(rules(Branch::Expand, "ALTER TABLE users ALTER COLUMN id TYPE bigint"), vec![Rule::Destructive]);
        assert_eq!(rules(Branch::Expand, "ALTER TABLE users ALTER COLUMN name SET NOT NULL"), vec![Rule::Destructive]);
    }

    #[test]
    fn renames_and_not_null_without_default_are_refused_in_both_branches() {
        for branch in [Branch::Expand, Branch::Contract] {
            assert_eq!(rules(branch, "ALTER TABLE users RENAME COLUMN name TO full_name"), vec![Rule::Rename]);
            assert_eq!(rules(branch, "ALTER TABLE users RENAME TO people"), vec![Rule::Rename]);
        }
        assert_eq!(
            rules(Branch::Expand, "ALTER TABLE users ADD COLUMN email text NOT NULL"),
            vec![Rule::NotNullWithoutDefault]
        );
        assert_eq!(
            rules(Branch::Contract, "ALTER TABLE users ADD COLUMN email text NOT NULL"),
            vec![Rule::NotNullWithoutDefault]
        );
    }

    #[test]
    fn expand_backfill_may_write_columns_that_expand_added() {
        let broken = run(&[
            (Branch::Initial, 1, "CREATE TABLE users (id int, name text)"),
            (Branch::Expand, 2, "ALTER TABLE users ADD COLUMN first_name text, ADD COLUMN last_name text"),
            (
                Branch::Expand,
                3,
                "UPDATE users SET first_name = split_part(name, ' ', 1), last_name = split_part(name, ' ', 2)",
            ),
            (Branch::Expand, 4, "UPDATE users SET name = first_name"),
            (Branch::Expand, 5, "UPDATE users SET first_name = 'x', name = 'y'"),
        ]);
        assert_eq!(broken, vec![vec![], vec![], vec![], vec![Rule::DataModification], vec![Rule::DataModification]]);
    }

    #[test]
    fn expand_may_write_any_row_of_a_table_it_created() {
        let broken = run(&[
            (Branch::Expand, 1, "CREATE TABLE audit (id int, note text)"),
            (Branch::Expand, 2, "UPDATE audit SET note = 'x'"),
            (Branch::Expand, 3, "DELETE FROM audit"),
            (Branch::Expand, 4, "DELETE FROM other"),
        ]);
        assert_eq!(broken, vec![vec![], vec![], vec![], vec![Rule::DataModification]]);
    }

    #[test]
    fn data_modifying_statements_hidden_in_others_are_seen() {
        for sql in [
            "WITH moved AS (DELETE FROM users RETURNING id, name) INSERT INTO accounts SELECT * FROM moved",
            "WITH u AS (UPDATE users SET name = 'x' RETURNING 1) SELECT 1",
            "EXPLAIN ANALYZE DELETE FROM users",
            "MERGE INTO users USING staged ON users.id = staged.id WHEN MATCHED THEN DELETE",
        ] {
            assert_eq!(rules(Branch::Expand, sql), vec![Rule::DataModification], "{sql}");
        }
        // A target the classifier cannot name is never taken as allowed.
        let mut catalog = Catalog::new(false);
        let unknown = Change::Update { table: None, columns: vec!["a".into()] };
        let broken = catalog.migration(current(Branch::Expand, 1, None), &[vec![unknown]], false);
        assert_eq!(broken[0][0].rule, Rule::DataModification);
        assert!(broken[0][0].message.contains("cannot name"), "{}", broken[0][0].message);
    }

    #[test]
    fn replacing_an_existing_function_is_a_contract_change() {
        let f = "CREATE OR REPLACE FUNCTION f() RETURNS int AS $$ SELECT 2 $$ LANGUAGE sql";
        let broken = run(&[
            (Branch::Expand, 1, "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1 $$ LANGUAGE sql"),
            (Branch::Contract, 2, f),
            (Branch::Expand, 3, f),
            (Branch::Contract, 4, "CREATE OR REPLACE VIEW never_seen AS SELECT 1"),
        ]);
        // Expand 3 replaces what an earlier release created.
        assert_eq!(broken, vec![vec![], vec![], vec![Rule::Destructive], vec![Rule::Additive]]);
    }

    #[test]
    fn contract_accepts_removals_and_refuses_additions() {
        for sql in [
            "ALTER TABLE users DROP COLUMN name",
            "DROP TABLE users",
            "ALTER TABLE users ALTER COLUMN name SET NOT NULL",
            "UPDATE users SET name = 'x'",
            "DELETE FROM users",
            "TRUNCATE users",
            "ALTER TABLE users ADD CONSTRAINT c CHECK (id > 0)",
        ] {
            assert_eq!(rules(Branch::Contract, sql), Vec::<Rule>::new(), "{sql}");
        }
        for sql in [
            "CREATE TABLE t (a int)",
            "CREATE INDEX i ON users (name)",
            "ALTER TABLE users ADD COLUMN x int",
            "INSERT INTO users VALUES (1)",
        ] {
            assert_eq!(rules(Branch::Contract, sql), vec![Rule::Additive], "{sql}");
        }
    }

    #[test]
    fn initial_accepts_anything_but_transaction_control() {
        for sql in ["DROP TABLE users", "ALTER TABLE users RENAME TO people", "DO $$ BEGIN END $$", "FROB"] {
            assert_eq!(rules(Branch::Initial, sql), Vec::<Rule>::new(), "{sql}");
        }
        assert_eq!(rules(Branch::Initial, "BEGIN"), vec![Rule::TransactionControl]);
    }

    #[test]
    fn opaque_and_unknown_statements_need_an_allow() {
        assert_eq!(rules(Branch::Expand, "DO $$ BEGIN PERFORM 1; END $$"), vec![Rule::Opaque]);
        assert_eq!(rules(Branch::Contract, "FROBNICATE users"), vec![Rule::Unknown]);
    }

    /// Runs migrations of several statements through one catalog, each
    /// as (branch, version, no-transaction, statements), and returns the
    /// rules each migration breaks.
    fn run_scripts(steps: &[(Branch, u32, bool, &[&str])]) -> Vec<Vec<Rule>> {
        let mut catalog = Catalog::new(false);
        steps
            .iter()
            .map(|(branch, version, no_transaction, statements)| {
                let changes: Vec<Vec<Change>> =
                    statements.iter().map(|sql| classify(sql, &tokenize(sql).unwrap())).collect();
                catalog
                    .migration(current(*branch, *version, None), &changes, *no_transaction)
                    .into_iter()
                    .flatten()
                    .map(|v| v.rule)
                    .collect()
            })
            .collect()
    }

    /// Runs migrations of one statement each through a catalog of a
    /// project that declares releases (`declared`) or not, as (branch,
    /// version, release declared, sql); returns the violations.
    fn releases(declared: bool, steps: &[(Branch, u32, Option<&'static str>, &str)]) -> Vec<Vec<Violation>> {
        let mut catalog = Catalog::new(declared);
        steps
            .iter()
            .map(|(branch, version, release, sql)| {
                let changes = vec![classify(sql, &tokenize(sql).unwrap())];
                catalog.migration(current(*branch, *version, *release), &changes, false).remove(0)
            })
            .collect()
    }

    fn rule_names(broken: &[Vec<Violation>]) -> Vec<Vec<Rule>> {
        broken.iter().map(|v| v.iter().map(|v| v.rule).collect()).collect()
    }

    #[test]
    fn a_contract_migration_ends_a_release() {
        let broken = releases(
            false,
            &[
                (Branch::Expand, 1, None, "CREATE TABLE users (id int, name text, nick text)"),
                (Branch::Expand, 2, None, "UPDATE users SET nick = name"),
                (Branch::Contract, 3, None, "ALTER TABLE users DROP COLUMN name"),
                (Branch::Expand, 4, None, "DELETE FROM users WHERE id < 0"),
                (Branch::Expand, 5, None, "TRUNCATE users"),
                (Branch::Expand, 6, None, "UPDATE users SET nick = 'x'"),
                (Branch::Expand, 7, None, "ALTER TABLE users ADD COLUMN email text"),
                (Branch::Expand, 8, None, "UPDATE users SET email = nick"),
            ],
        );
        let rules = rule_names(&broken);
        assert_eq!(rules[..3], [vec![], vec![], vec![]], "one release: the table is new, the backfill fine");
        assert_eq!(
            rules[3..7],
            [vec![Rule::DataModification], vec![Rule::DataModification], vec![Rule::DataModification], vec![]]
        );
        assert_eq!(rules[7], Vec::<Rule>::new(), "a backfill of the column this release added");
        let message = &broken[3][0].message;
        assert!(
            message.contains("table users is old: expand migration 0001_m (the release that began at 0001) created it, and the release serving now reads and writes it"),
            "{message}"
        );
        assert!(broken[3][0].help.contains("add a column in this release, backfill it"), "{}", broken[3][0].help);
        assert!(broken[5][0].message.contains("users.nick is old"), "{}", broken[5][0].message);
    }

    #[test]
    fn declared_releases_are_the_only_boundaries() {
        let broken = releases(
            true,
            &[
                (Branch::Expand, 1, Some("1.0"), "CREATE TABLE audit (id int, note text)"),
                (Branch::Expand, 2, Some("1.1"), "DELETE FROM audit"),
                (Branch::Expand, 3, None, "ALTER TABLE audit ADD COLUMN kind text"),
                // A contract migration inside release 1.1 does not end it.
                (Branch::Contract, 4, None, "DELETE FROM audit WHERE id < 0"),
                (Branch::Expand, 5, None, "UPDATE audit SET kind = 'x'"),
                (Branch::Expand, 6, Some("1.2"), "UPDATE audit SET kind = 'y'"),
            ],
        );
        assert_eq!(
            rule_names(&broken),
            [vec![], vec![Rule::DataModification], vec![], vec![], vec![], vec![Rule::DataModification]]
        );
        assert!(
            broken[1][0].message.contains("expand migration 0001_m (release 1.0) created it"),
            "{}",
            broken[1][0].message
        );
        assert!(
            broken[5][0].message.contains("audit.kind is old: expand migration 0003_m (release 1.1) added it"),
            "{}",
            broken[5][0].message
        );
    }

    #[test]
    fn what_this_release_created_may_change_in_expand() {
        let broken = releases(
            false,
            &[
                (Branch::Expand, 1, None, "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1 $$ LANGUAGE sql"),
                (Branch::Expand, 2, None, "CREATE INDEX users_name ON users (name)"),
                (Branch::Expand, 3, None, "CREATE OR REPLACE FUNCTION f() RETURNS int AS $$ SELECT 2 $$ LANGUAGE sql"),
                (Branch::Expand, 4, None, "DROP INDEX users_name"),
                (Branch::Expand, 5, None, "CREATE INDEX users_nick ON users (nick)"),
                (Branch::Contract, 6, None, "DROP TABLE old_stuff"),
                (Branch::Expand, 7, None, "CREATE OR REPLACE FUNCTION f() RETURNS int AS $$ SELECT 3 $$ LANGUAGE sql"),
                (Branch::Expand, 8, None, "DROP INDEX users_nick"),
            ],
        );
        assert_eq!(
            rule_names(&broken),
            [vec![], vec![], vec![], vec![], vec![], vec![], vec![Rule::Destructive], vec![Rule::Destructive]]
        );
    }

    /// Each of these passed an expand migration once: every one names an
    /// object the release serving now uses.
    #[test]
    fn old_objects_cannot_pass_for_new_ones() {
        let refused = |setup: &str, sql: &str| {
            let broken = run(&[
                (Branch::Initial, 1, "CREATE TABLE users (id int, name text)"),
                (Branch::Expand, 2, setup),
                (Branch::Expand, 3, sql),
            ]);
            assert!(broken[1].is_empty(), "{setup}: {:?}", broken[1]);
            assert!(!broken[2].is_empty(), "{setup}; {sql}: passed");
        };
        refused("CREATE SCHEMA IF NOT EXISTS public", "DROP SCHEMA public CASCADE");
        refused("CREATE SCHEMA IF NOT EXISTS app", "DROP SCHEMA app");
        refused("CREATE EXTENSION IF NOT EXISTS pgcrypto", "DROP EXTENSION pgcrypto");
        refused("ALTER TABLE users ADD COLUMN IF NOT EXISTS name text", "UPDATE users SET name = NULL");
        refused("CREATE TEMP TABLE users (id int)", "DROP TABLE public.users");
        refused("CREATE TABLE temp.users (id int)", "DROP TABLE main.users");
        refused("CREATE TABLE archive.users AS SELECT * FROM users", "TRUNCATE public.users");
        refused("CREATE TABLE IF NOT EXISTS users (id int)", "DELETE FROM users");
        refused("CREATE OR REPLACE FUNCTION f() RETURNS int AS $$ SELECT 1 $$ LANGUAGE sql", "DROP FUNCTION f()");
        refused("CREATE TABLE new_t (id int)", "DROP TABLE new_t, users");
        refused("CREATE TABLE new_t (id int)", "DROP TABLE new_t CASCADE");
        refused("CREATE TABLE new_t (id int)", "TRUNCATE new_t CASCADE");
        refused("ALTER TABLE users ADD COLUMN flag bool", "UPDATE users SET flag = id IS DISTINCT FROM 0, name = 'x'");
        refused(
            "CREATE TABLE new_t (id int)",
            "CREATE TABLE archive AS WITH gone AS (DELETE FROM users RETURNING *) SELECT * FROM gone",
        );
        refused("CREATE TABLE new_t (id int)", "COPY (DELETE FROM users RETURNING id) TO STDOUT");
        refused("CREATE TABLE new_t (id int)", "(WITH d AS (DELETE FROM users RETURNING 1) SELECT 1 FROM d)");
        // What is new stays usable, under any spelling of its name.
        let broken = run(&[
            (Branch::Initial, 1, "CREATE TABLE users (id int, name text)"),
            (Branch::Expand, 2, "CREATE TABLE public.sessions (id int)"),
            (Branch::Expand, 3, "ALTER TABLE users ADD COLUMN nick text"),
            (Branch::Expand, 4, "UPDATE public.users u SET u.nick = name WHERE nick IS DISTINCT FROM name"),
            (Branch::Expand, 5, "DELETE FROM sessions"),
            (Branch::Expand, 6, "CREATE TABLE app.tokens (id int)"),
            (Branch::Expand, 7, "DROP TABLE public.sessions, app.tokens"),
        ]);
        assert!(broken.iter().all(Vec::is_empty), "{broken:?}");
    }

    #[test]
    fn doubtful_origins_are_explained() {
        let mut catalog = Catalog::new(false);
        let mut last = Vec::new();
        for (i, sql) in ["CREATE TABLE IF NOT EXISTS users (id int)", "DROP TABLE users"].into_iter().enumerate() {
            let changes = classify(sql, &tokenize(sql).unwrap());
            last = catalog.migration(current(Branch::Expand, i as u32 + 1, None), &[changes], false).remove(0);
        }
        assert_eq!(last.len(), 1);
        assert!(last[0].message.contains("with IF NOT EXISTS, so it may be an older one"), "{}", last[0].message);
    }

    const PARENT: &[&str] = &[
        "CREATE TABLE parent (id INTEGER PRIMARY KEY, name TEXT)",
        "CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent (id) ON DELETE CASCADE)",
    ];

    const REBUILD: &[&str] = &[
        "PRAGMA foreign_keys = OFF",
        "CREATE TABLE parent_new (id INTEGER PRIMARY KEY, name TEXT NOT NULL)",
        "INSERT INTO parent_new (id, name) SELECT id, coalesce(name, '') FROM parent",
        "DROP TABLE parent",
        "ALTER TABLE parent_new RENAME TO parent",
        "CREATE INDEX parent_name ON parent (name)",
        "PRAGMA foreign_keys = ON",
    ];

    #[test]
    fn a_table_rebuild_is_one_contract_operation() {
        let broken = run_scripts(&[
            (Branch::Initial, 1, false, PARENT),
            (Branch::Contract, 2, false, REBUILD),
            (Branch::Expand, 3, false, REBUILD),
            // The table it renames over was not dropped here: a rename.
            (Branch::Contract, 4, false, &["CREATE TABLE other (a int)", "ALTER TABLE other RENAME TO parent"]),
        ]);
        assert_eq!(broken, vec![vec![], vec![], vec![Rule::Destructive], vec![Rule::Additive, Rule::Rename]]);
    }

    #[test]
    fn contract_may_create_again_what_it_dropped() {
        let broken = run_scripts(&[
            (Branch::Initial, 1, false, &["CREATE TABLE t (a int)", "CREATE VIEW v AS SELECT a FROM t"]),
            (Branch::Contract, 2, false, &["DROP VIEW v", "CREATE VIEW v AS SELECT a + 1 AS a FROM t"]),
            (Branch::Contract, 3, false, &["CREATE VIEW w AS SELECT a FROM t"]),
        ]);
        assert_eq!(broken, vec![vec![], vec![], vec![Rule::Additive]]);
    }

    #[test]
    fn pragmas_that_cannot_work_in_a_transaction_or_cannot_be_undone_are_refused() {
        let pragma = |branch: Branch, no_transaction: bool, sql: &'static str| {
            run_scripts(&[(branch, 1, no_transaction, &[sql])]).remove(0)
        };
        for branch in Branch::ALL {
            assert_eq!(pragma(branch, false, "PRAGMA journal_mode = WAL"), [Rule::TransactionControl]);
            assert_eq!(pragma(branch, true, "PRAGMA journal_mode = WAL"), []);
            assert_eq!(pragma(branch, false, "PRAGMA synchronous = OFF"), [Rule::TransactionControl]);
            assert_eq!(pragma(branch, true, "PRAGMA writable_schema = ON"), [Rule::Session]);
            assert_eq!(pragma(branch, false, "PRAGMA locking_mode = EXCLUSIVE"), [Rule::Session]);
            assert_eq!(pragma(branch, false, "PRAGMA mmap_size = 1"), [Rule::Unknown]);
            assert_eq!(pragma(branch, false, "PRAGMA legacy_alter_table = ON"), []);
            assert_eq!(pragma(branch, false, "PRAGMA foreign_keys = OFF"), []);
            assert_eq!(pragma(branch, false, "PRAGMA user_version = 7"), []);
            assert_eq!(pragma(branch, false, "PRAGMA table_info(users)"), []);
            assert_eq!(pragma(branch, false, "PRAGMA journal_mode"), []);
        }
    }

    #[test]
    fn rule_names_round_trip() {
        for rule in Rule::ALL {
            assert_eq!(Rule::parse(rule.as_str()), Some(rule));
        }
    }
}

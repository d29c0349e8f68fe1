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
    /// `BEGIN`/`COMMIT`/... in a migration that ebbtide runs in a transaction.
    TransactionControl,
}

impl Rule {
    /// Every rule.
    pub const ALL: [Rule; 8] = [
        Rule::Destructive,
        Rule::DataModification,
        Rule::Additive,
        Rule::Rename,
        Rule::NotNullWithoutDefault,
        Rule::Opaque,
        Rule::Unknown,
        Rule::TransactionControl,
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

/// What earlier migrations created, tracked in version order so the rules
/// can tell a new object from an existing one.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    /// Table name -> the migration that created it.
    tables: HashMap<String, (Branch, Version)>,
    /// (table, column) added by an expand migration.
    expand_columns: HashSet<(String, String)>,
    /// ("FUNCTION" | "VIEW" | "TRIGGER", name) -> the migration that created it.
    routines: HashMap<(&'static str, String), Version>,
}

impl Catalog {
    /// An empty catalog: nothing created yet.
    pub fn new() -> Self {
        Catalog::default()
    }

    /// Checks `change`, made by migration `version` of `branch`, against the
    /// branch rules, then records what it creates or removes. Returns the
    /// broken rule, if any.
    pub fn apply(
        &mut self,
        branch: Branch,
        version: Version,
        change: &Change,
        no_transaction: bool,
    ) -> Option<Violation> {
        let violation = self.check(branch, change, no_transaction);
        self.record(branch, version, change);
        violation
    }

    fn check(&self, branch: Branch, change: &Change, no_transaction: bool) -> Option<Violation> {
        let what = change.describe();
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
            Change::RenameColumn { table, from, to } => Some(Violation {
                rule: Rule::Rename,
                message: format!("this statement {what}; the release still running uses the old name"),
                help: format!(
                    "split it: in expand, add column {table}.{new}, backfill it and keep both columns in sync with a trigger; in contract, drop {table}.{from}",
                    new = to.as_deref().unwrap_or("<new>")
                ),
            }),
            Change::AddColumn { table, column, not_null_without_default: true } => Some(Violation {
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
        let modification = |message: String| Violation {
            rule: Rule::DataModification,
            message,
            help: "an expand migration may only write to tables or columns that expand migrations added (a backfill); \
                   move it to a contract migration, or put `-- ebbtide: allow data-modification` at the top of the file"
                .into(),
        };
        match change {
            Change::Create { object, name: Some(name), or_replace: true } => {
                let created = self.routines.get(&(routine_kind(object)?, name.clone()))?;
                Some(destructive(format!(
                    "this statement replaces {} {name}, which migration {created} created; the old release still relies on its current definition",
                    object.to_ascii_lowercase()
                )))
            }
            Change::Drop { .. } | Change::AlterExisting { .. } => Some(destructive(format!(
                "this statement {what}, but expand migrations may only add: the old release still needs what this changes"
            ))),
            Change::Update { table, columns } => {
                let table = table.as_deref()?;
                if self.expand_table(table) {
                    return None;
                }
                let old: Vec<&str> = columns
                    .iter()
                    .filter(|c| !self.expand_columns.contains(&(table.to_string(), (*c).clone())))
                    .map(String::as_str)
                    .collect();
                if columns.is_empty() || !old.is_empty() {
                    let which = if old.is_empty() {
                        "existing rows".to_string()
                    } else {
                        format!("{}.{}", table, old.join(", "))
                    };
                    Some(modification(format!(
                        "this statement {what}, and {which} existed before expand; the old release reads that data"
                    )))
                } else {
                    None
                }
            }
            Change::Insert { table, upsert: true } | Change::Delete { table } => match table {
                Some(t) if self.expand_table(t) => None,
                _ => Some(modification(format!("this statement {what}, which the old release may still read"))),
            },
            Change::Truncate { tables } if tables.iter().all(|t| self.expand_table(t)) && !tables.is_empty() => None,
            Change::Truncate { .. } => {
                Some(modification(format!("this statement {what}, which the old release may still read")))
            }
            _ => None,
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
            Change::Create { object, name: Some(name), or_replace: true }
                if routine_kind(object).is_some_and(|k| self.routines.contains_key(&(k, name.clone()))) =>
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

    fn expand_table(&self, table: &str) -> bool {
        self.tables.get(table).is_some_and(|(b, _)| *b == Branch::Expand)
    }

    fn record(&mut self, branch: Branch, version: Version, change: &Change) {
        match change {
            Change::Create { object, name: Some(name), .. } => {
                if object.ends_with("TABLE") {
                    self.tables.insert(name.clone(), (branch, version));
                } else if let Some(kind) = routine_kind(object) {
                    self.routines.entry((kind, name.clone())).or_insert(version);
                }
            }
            Change::AddColumn { table, column, .. } if branch == Branch::Expand => {
                self.expand_columns.insert((table.clone(), column.clone()));
            }
            Change::Drop { object, name: Some(name), table } => {
                if object == "COLUMN" {
                    if let Some(table) = table {
                        self.expand_columns.remove(&(table.clone(), name.clone()));
                    }
                } else if object.ends_with("TABLE") {
                    self.tables.remove(name);
                    self.expand_columns.retain(|(t, _)| t != name);
                } else if let Some(kind) = routine_kind(object) {
                    self.routines.remove(&(kind, name.clone()));
                }
            }
            Change::RenameTable { from, to: Some(to) } => {
                if let Some(origin) = self.tables.remove(from) {
                    self.tables.insert(to.clone(), origin);
                }
            }
            Change::RenameColumn { table, from, to: Some(to) }
                if self.expand_columns.remove(&(table.clone(), from.clone())) =>
            {
                self.expand_columns.insert((table.clone(), to.clone()));
            }
            _ => {}
        }
    }
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

    /// Runs statements through one catalog, each as (branch, version, sql),
    /// and returns the rules broken, statement by statement.
    fn run(steps: &[(Branch, u32, &str)]) -> Vec<Vec<Rule>> {
        let mut catalog = Catalog::new();
        steps
            .iter()
            .map(|(branch, version, sql)| {
                classify(sql, &tokenize(sql).unwrap())
                    .iter()
                    .filter_map(|c| catalog.apply(*branch, Version(*version), c, false))
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
    fn replacing_an_existing_function_is_a_contract_change() {
        let f = "CREATE OR REPLACE FUNCTION f() RETURNS int AS $$ SELECT 2 $$ LANGUAGE sql";
        let broken = run(&[
            (Branch::Expand, 1, "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1 $$ LANGUAGE sql"),
            (Branch::Expand, 2, f),
            (Branch::Contract, 3, f),
            (Branch::Contract, 4, "CREATE OR REPLACE VIEW never_seen AS SELECT 1"),
        ]);
        assert_eq!(broken, vec![vec![], vec![Rule::Destructive], vec![], vec![Rule::Additive]]);
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

    #[test]
    fn rule_names_round_trip() {
        for rule in Rule::ALL {
            assert_eq!(Rule::parse(rule.as_str()), Some(rule));
        }
    }
}

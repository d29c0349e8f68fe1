//! A database's schema as its engine's catalog describes it, and what
//! separates two of them.
//!
//! `revision --autogenerate` and `diff` never parse SQL to learn a schema:
//! they apply it to a scratch database and read the catalog back
//! ([`sqlite::read`], [`postgres::read`]). Every definition is kept in the
//! engine's own words (`format_type`, `pg_get_constraintdef`, SQLite's
//! stored `CREATE` text), so two schemas compare by equality of what the
//! engine says, not by how their SQL happened to be written.

use std::collections::BTreeMap;
use std::fmt;

#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "sqlite")]
pub mod sqlite;

/// A schema: every object the autogenerator knows, by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Schema {
    /// Tables.
    pub tables: BTreeMap<String, Table>,
    /// Indexes that back no constraint.
    pub indexes: BTreeMap<String, Index>,
    /// Views, by name: their `CREATE VIEW` statement.
    pub views: BTreeMap<String, String>,
    /// Sequences no column owns, by name: their `CREATE SEQUENCE` statement.
    pub sequences: BTreeMap<String, String>,
    /// Enum types, by name: their labels in order.
    pub enums: BTreeMap<String, Vec<String>>,
    /// Functions, by signature (`name(argument types)`): their `CREATE
    /// FUNCTION` statement.
    pub functions: BTreeMap<String, String>,
    /// Triggers, by name.
    pub triggers: BTreeMap<String, Trigger>,
}

/// A table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    /// Its name.
    pub name: String,
    /// Its columns, in order.
    pub columns: Vec<Column>,
    /// Its constraints (primary key, unique, check, foreign key).
    pub constraints: Vec<Constraint>,
    /// The engine's whole `CREATE TABLE` statement, where it keeps one
    /// (SQLite); elsewhere it is built from the columns and constraints.
    pub definition: Option<String>,
}

impl Table {
    /// The column called `name`.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// A column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column {
    /// Its name.
    pub name: String,
    /// Its type, as the engine writes it (`bigint`, `character varying(20)`).
    pub data_type: String,
    /// `NOT NULL`.
    pub not_null: bool,
    /// Its default expression, as the engine writes it.
    pub default: Option<String>,
    /// How it is generated: `GENERATED ALWAYS AS (...) STORED`, `GENERATED
    /// BY DEFAULT AS IDENTITY`, or `serial` for a column whose default is
    /// the sequence it owns.
    pub generated: Option<String>,
}

impl Column {
    /// Whether rows inserted without this column get a value: it has a
    /// default, is generated, or may be null.
    pub fn fills_itself(&self) -> bool {
        !self.not_null || self.default.is_some() || self.generated.is_some()
    }
}

/// What a constraint enforces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ConstraintKind {
    /// `PRIMARY KEY`.
    PrimaryKey,
    /// `UNIQUE`.
    Unique,
    /// `CHECK`.
    Check,
    /// `FOREIGN KEY`.
    ForeignKey,
}

/// A table constraint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Constraint {
    /// Its name (SQLite: the name of the index that enforces it, or one
    /// made up from the table and columns).
    pub name: String,
    /// What it enforces.
    pub kind: ConstraintKind,
    /// Its definition as the engine writes it, without the name:
    /// `UNIQUE (email)`, `FOREIGN KEY (team_id) REFERENCES teams(id)`.
    pub definition: String,
}

/// An index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Index {
    /// Its name.
    pub name: String,
    /// The table it is on.
    pub table: String,
    /// Its `CREATE [UNIQUE] INDEX` statement, as the engine writes it.
    pub definition: String,
}

/// A trigger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trigger {
    /// Its name.
    pub name: String,
    /// The table it is on.
    pub table: String,
    /// Its `CREATE TRIGGER` statement, as the engine writes it.
    pub definition: String,
}

/// One thing that separates a schema from the one wanted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Difference {
    /// A table to create.
    AddTable(Table),
    /// A table to drop.
    DropTable(Table),
    /// A column to add.
    AddColumn {
        /// The table.
        table: String,
        /// The column.
        column: Column,
    },
    /// A column to drop.
    DropColumn {
        /// The table.
        table: String,
        /// The column.
        column: Column,
    },
    /// A column whose type, nullability, default or generation differ.
    AlterColumn {
        /// The table.
        table: String,
        /// The column as it is.
        from: Column,
        /// The column as it is wanted.
        to: Column,
    },
    /// A constraint to add.
    AddConstraint {
        /// The table.
        table: String,
        /// The constraint.
        constraint: Constraint,
    },
    /// A constraint to drop.
    DropConstraint {
        /// The table.
        table: String,
        /// The constraint.
        constraint: Constraint,
    },
    /// An index to create.
    AddIndex(Index),
    /// An index to drop.
    DropIndex(Index),
    /// A view to create (name, statement).
    AddView(String, String),
    /// A view to drop (name, statement).
    DropView(String, String),
    /// A sequence to create (name, statement).
    AddSequence(String, String),
    /// A sequence to drop (name, statement).
    DropSequence(String, String),
    /// An enum type to create (name, labels).
    AddEnum(String, Vec<String>),
    /// An enum type to drop (name, labels).
    DropEnum(String, Vec<String>),
    /// A label to add to an enum type: the type, the label, and the label
    /// it goes after (none: first).
    AddEnumValue(String, String, Option<String>),
    /// An enum type whose labels change other than by additions (name,
    /// labels as they are, as wanted).
    ChangeEnum(String, Vec<String>, Vec<String>),
    /// A function to create (signature, statement).
    AddFunction(String, String),
    /// A function to drop (signature, statement).
    DropFunction(String, String),
    /// A trigger to create.
    AddTrigger(Trigger),
    /// A trigger to drop.
    DropTrigger(Trigger),
    /// A view, function or trigger whose definition differs (kind, name,
    /// statement as it is, as wanted).
    ChangeDefinition(&'static str, String, String, String),
}

impl Schema {
    /// What separates `self` from `wanted`, in a stable order: tables,
    /// then what lives in them, then the other objects.
    pub fn diff(&self, wanted: &Schema) -> Vec<Difference> {
        use Difference::*;
        let mut out = Vec::new();
        for (name, table) in &wanted.tables {
            match self.tables.get(name) {
                None => out.push(AddTable(table.clone())),
                Some(current) => diff_table(current, table, &mut out),
            }
        }
        for (name, table) in &self.tables {
            if !wanted.tables.contains_key(name) {
                out.push(DropTable(table.clone()));
            }
        }
        for (name, index) in &wanted.indexes {
            match self.indexes.get(name) {
                Some(current) if current == index => {}
                Some(current) => {
                    out.push(DropIndex(current.clone()));
                    out.push(AddIndex(index.clone()));
                }
                None => out.push(AddIndex(index.clone())),
            }
        }
        for (name, index) in &self.indexes {
            // An index goes with its table.
            if !wanted.indexes.contains_key(name) && wanted.tables.contains_key(&index.table) {
                out.push(DropIndex(index.clone()));
            }
        }
        definitions(&self.views, &wanted.views, "view", AddView, DropView, &mut out);
        definitions(&self.sequences, &wanted.sequences, "sequence", AddSequence, DropSequence, &mut out);
        for (name, labels) in &wanted.enums {
            match self.enums.get(name) {
                None => out.push(AddEnum(name.clone(), labels.clone())),
                Some(current) if current == labels => {}
                Some(current) if is_subsequence(current, labels) => {
                    for (at, label) in labels.iter().enumerate() {
                        if !current.contains(label) {
                            let after = at.checked_sub(1).map(|i| labels[i].clone());
                            out.push(AddEnumValue(name.clone(), label.clone(), after));
                        }
                    }
                }
                Some(current) => out.push(ChangeEnum(name.clone(), current.clone(), labels.clone())),
            }
        }
        for (name, labels) in &self.enums {
            if !wanted.enums.contains_key(name) {
                out.push(DropEnum(name.clone(), labels.clone()));
            }
        }
        definitions(&self.functions, &wanted.functions, "function", AddFunction, DropFunction, &mut out);
        for (name, trigger) in &wanted.triggers {
            match self.triggers.get(name) {
                None => out.push(AddTrigger(trigger.clone())),
                Some(current) if current == trigger => {}
                Some(current) => out.push(ChangeDefinition(
                    "trigger",
                    name.clone(),
                    current.definition.clone(),
                    trigger.definition.clone(),
                )),
            }
        }
        for (name, trigger) in &self.triggers {
            // A trigger goes with its table.
            if !wanted.triggers.contains_key(name) && wanted.tables.contains_key(&trigger.table) {
                out.push(DropTrigger(trigger.clone()));
            }
        }
        out
    }
}

fn diff_table(current: &Table, wanted: &Table, out: &mut Vec<Difference>) {
    for column in &wanted.columns {
        match current.column(&column.name) {
            None => out.push(Difference::AddColumn { table: wanted.name.clone(), column: column.clone() }),
            Some(from) if from == column => {}
            Some(from) => {
                out.push(Difference::AlterColumn { table: wanted.name.clone(), from: from.clone(), to: column.clone() })
            }
        }
    }
    for column in &current.columns {
        if wanted.column(&column.name).is_none() {
            out.push(Difference::DropColumn { table: wanted.name.clone(), column: column.clone() });
        }
    }
    // Constraints compare by what they enforce; a renamed one is the same.
    let same = |a: &Constraint, b: &Constraint| a.kind == b.kind && a.definition == b.definition;
    for constraint in &current.constraints {
        if !wanted.constraints.iter().any(|c| same(c, constraint)) {
            out.push(Difference::DropConstraint { table: wanted.name.clone(), constraint: constraint.clone() });
        }
    }
    for constraint in &wanted.constraints {
        if !current.constraints.iter().any(|c| same(c, constraint)) {
            out.push(Difference::AddConstraint { table: wanted.name.clone(), constraint: constraint.clone() });
        }
    }
}

fn definitions(
    current: &BTreeMap<String, String>,
    wanted: &BTreeMap<String, String>,
    kind: &'static str,
    add: fn(String, String) -> Difference,
    drop: fn(String, String) -> Difference,
    out: &mut Vec<Difference>,
) {
    for (name, sql) in wanted {
        match current.get(name) {
            None => out.push(add(name.clone(), sql.clone())),
            Some(now) if now == sql => {}
            Some(now) => out.push(Difference::ChangeDefinition(kind, name.clone(), now.clone(), sql.clone())),
        }
    }
    for (name, sql) in current {
        if !wanted.contains_key(name) {
            out.push(drop(name.clone(), sql.clone()));
        }
    }
}

/// Whether every item of `part` is in `whole`, in the same order.
fn is_subsequence(part: &[String], whole: &[String]) -> bool {
    let mut rest = whole.iter();
    part.iter().all(|item| rest.any(|w| w == item))
}

impl fmt::Display for Column {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.name, self.data_type)?;
        if let Some(generated) = &self.generated {
            write!(f, " {generated}")?;
        }
        if self.not_null {
            f.write_str(" NOT NULL")?;
        }
        if let Some(default) = &self.default {
            write!(f, " DEFAULT {default}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Difference {
    /// One line for `ebbtide diff`: `+` for what the wanted schema adds,
    /// `-` for what it removes, `~` for what it changes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Difference::*;
        match self {
            AddTable(t) => write!(f, "+ table {}", t.name),
            DropTable(t) => write!(f, "- table {}", t.name),
            AddColumn { table, column } => write!(f, "+ column {table}.{column}"),
            DropColumn { table, column } => write!(f, "- column {table}.{column}"),
            AlterColumn { table, from, to } => write!(f, "~ column {table}.{from} -> {to}"),
            AddConstraint { table, constraint } => write!(f, "+ constraint {table}: {}", constraint.definition),
            DropConstraint { table, constraint } => write!(f, "- constraint {table}: {}", constraint.definition),
            AddIndex(i) => write!(f, "+ index {}: {}", i.name, i.definition),
            DropIndex(i) => write!(f, "- index {}: {}", i.name, i.definition),
            AddView(name, _) => write!(f, "+ view {name}"),
            DropView(name, _) => write!(f, "- view {name}"),
            AddSequence(name, _) => write!(f, "+ sequence {name}"),
            DropSequence(name, _) => write!(f, "- sequence {name}"),
            AddEnum(name, labels) => write!(f, "+ enum {name} ({})", labels.join(", ")),
            DropEnum(name, _) => write!(f, "- enum {name}"),
            AddEnumValue(name, label, _) => write!(f, "+ enum value {name}.{label}"),
            ChangeEnum(name, from, to) => write!(f, "~ enum {name} ({}) -> ({})", from.join(", "), to.join(", ")),
            AddFunction(name, _) => write!(f, "+ function {name}"),
            DropFunction(name, _) => write!(f, "- function {name}"),
            AddTrigger(t) => write!(f, "+ trigger {} on {}", t.name, t.table),
            DropTrigger(t) => write!(f, "- trigger {} on {}", t.name, t.table),
            ChangeDefinition(kind, name, _, _) => write!(f, "~ {kind} {name}: its definition differs"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(name: &str, not_null: bool) -> Column {
        Column { name: name.into(), data_type: "text".into(), not_null, default: None, generated: None }
    }

    fn table(name: &str, columns: Vec<Column>) -> Table {
        Table { name: name.into(), columns, constraints: Vec::new(), definition: None }
    }

    fn schema(tables: Vec<Table>) -> Schema {
        Schema { tables: tables.into_iter().map(|t| (t.name.clone(), t)).collect(), ..Schema::default() }
    }

    #[test]
    fn equal_schemas_have_no_difference() {
        let s = schema(vec![table("users", vec![column("id", true)])]);
        assert_eq!(s.diff(&s.clone()), vec![]);
    }

    #[test]
    fn columns_are_added_dropped_and_altered() {
        let now = schema(vec![table("users", vec![column("id", true), column("name", true), column("old", false)])]);
        let wanted =
            schema(vec![table("users", vec![column("id", true), column("name", false), column("new", false)])]);
        let diff = now.diff(&wanted);
        let lines: Vec<String> = diff.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            ["~ column users.name text NOT NULL -> name text", "+ column users.new text", "- column users.old text",]
        );
    }

    #[test]
    fn renamed_constraints_are_the_same_constraint() {
        let mut a = table("t", vec![column("a", false)]);
        let mut b = a.clone();
        a.constraints.push(Constraint {
            name: "x".into(),
            kind: ConstraintKind::Unique,
            definition: "UNIQUE (a)".into(),
        });
        b.constraints.push(Constraint {
            name: "y".into(),
            kind: ConstraintKind::Unique,
            definition: "UNIQUE (a)".into(),
        });
        assert_eq!(schema(vec![a]).diff(&schema(vec![b])), vec![]);
    }

    #[test]
    fn enum_labels_added_in_place_are_additions() {
        let mut now = Schema::default();
        now.enums.insert("mood".into(), vec!["sad".into(), "happy".into()]);
        let mut wanted = now.clone();
        wanted.enums.insert("mood".into(), vec!["sad".into(), "ok".into(), "happy".into()]);
        assert_eq!(now.diff(&wanted), vec![Difference::AddEnumValue("mood".into(), "ok".into(), Some("sad".into()))]);
        wanted.enums.insert("mood".into(), vec!["happy".into(), "sad".into()]);
        assert!(matches!(now.diff(&wanted)[..], [Difference::ChangeEnum(..)]));
    }
}

//! `revision --autogenerate`: from the schema a release wants to its expand
//! and contract migrations.
//!
//! The schema file and the migrations are each applied to a scratch
//! database, and their catalogs read back ([`crate::schema`]). What
//! separates them is split by the branch rules: what the release serving
//! now keeps working with goes in expand, what it would break goes in
//! contract. A rename or a column split cannot be told from a drop and an
//! add, so the user names it ([`Hints`]); the expand migration then adds
//! the new columns, backfills them and keeps old and new in sync with
//! triggers, and the contract migration drops the triggers and the old
//! columns.
//!
//! The contract half is computed from the schema the expand half leaves
//! (applied to the scratch database), and both are checked there: what
//! they do not reach is reported, never silently left out.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Write as _};

use crate::Branch;
use crate::schema::{Column, Constraint, ConstraintKind, Difference, Schema, Table};

mod run;

pub use run::{Engine, Generated, Problem, drift, generate, schema_diff, schema_drift};

/// The mark of a value autogenerate cannot know: the build refuses a
/// migration that still holds it.
pub const FILL_IN: &str = "/* ebbtide: fill in";

/// What a diff cannot tell by itself: renames, derived columns, drops.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Hints {
    /// `table.from=to`: column `from` is renamed `to` (possibly with a new type).
    pub renames: Vec<(String, String, String)>,
    /// `table.column=expression`: while both releases run, `column` is
    /// computed from the other release's columns by `expression`.
    pub derives: Vec<(String, String, String)>,
    /// `table.column`: the column is dropped, not renamed.
    pub drops: Vec<(String, String)>,
}

impl Hints {
    /// Reads `--rename table.from=to`.
    pub fn rename(&mut self, spec: &str) -> Result<(), String> {
        let (table, column, to) = assignment(spec, "--rename", "users.name=full_name")?;
        if !is_plain(&to) {
            return Err(format!("--rename {spec}: {to:?} is not a column name"));
        }
        self.renames.push((table, column, to));
        Ok(())
    }

    /// Reads `--derive table.column=expression`.
    pub fn derive(&mut self, spec: &str) -> Result<(), String> {
        let (table, column, expression) = assignment(spec, "--derive", "users.first_name=split_part(name, ' ', 1)")?;
        self.derives.push((table, column, expression));
        Ok(())
    }

    /// Reads `--drop table.column`.
    ///
    /// `--drop table` (no column) says a whole table is dropped, not
    /// renamed into one the schema file creates.
    pub fn drop(&mut self, spec: &str) -> Result<(), String> {
        if is_plain(spec.trim()) {
            self.drops.push((spec.trim().to_string(), String::new()));
            return Ok(());
        }
        let (table, column) = qualified(spec)
            .ok_or_else(|| format!("--drop {spec}: write TABLE.COLUMN or TABLE, e.g. --drop users.nickname"))?;
        self.drops.push((table, column));
        Ok(())
    }

    /// How column `table.column` is computed from the other release's
    /// columns, if a hint says.
    fn derivation(&self, table: &str, column: &str) -> Option<String> {
        let renamed = self.renames.iter().find_map(|(t, from, to)| {
            (t == table).then_some(()).and_then(|()| match () {
                () if to == column => Some(from.clone()),
                () if from == column => Some(to.clone()),
                () => None,
            })
        });
        renamed.or_else(|| {
            self.derives.iter().find(|(t, c, _)| t == table && c == column).map(|(_, _, expr)| expr.clone())
        })
    }

    fn dropped(&self, table: &str, column: &str) -> bool {
        self.drops.iter().any(|(t, c)| t == table && c == column)
    }
}

fn qualified(spec: &str) -> Option<(String, String)> {
    let (table, column) = spec.trim().split_once('.')?;
    (is_plain(table) && is_plain(column)).then(|| (table.to_string(), column.to_string()))
}

fn assignment(spec: &str, flag: &str, example: &str) -> Result<(String, String, String), String> {
    let bad = || format!("{flag} {spec}: write TABLE.COLUMN=..., e.g. {flag} '{example}'");
    let (target, value) = spec.split_once('=').ok_or_else(bad)?;
    let (table, column) = qualified(target).ok_or_else(bad)?;
    let value = value.trim();
    if value.is_empty() {
        return Err(bad());
    }
    Ok((table, column, value.to_string()))
}

/// A name that needs no quotes: lower-case letters, digits and `_`.
fn is_plain(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// An identifier as SQL needs it written.
fn ident(name: &str) -> String {
    if is_plain(name) { name.to_string() } else { format!("\"{}\"", name.replace('"', "\"\"")) }
}

/// The engine the migrations are written for, as far as writing them goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// SQLite: few `ALTER TABLE` forms; the rest is a table rebuild.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// One statement of a planned migration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statement {
    /// Why it is in its branch, written above it.
    pub why: String,
    /// The statement, without its `;`.
    pub sql: String,
    /// What undoes it, when that is known.
    pub down: Option<String>,
}

impl Statement {
    fn new(why: impl Into<String>, sql: impl Into<String>, down: Option<String>) -> Statement {
        Statement { why: why.into(), sql: sql.into(), down }
    }
}

/// A migration autogenerate writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Planned {
    /// Its branch.
    pub branch: Branch,
    /// What it adds to the message in its name (`index_users_email`), if
    /// it is not the branch's main migration.
    pub part: Option<String>,
    /// What its header says it is for.
    pub purpose: String,
    /// Directives (`no-transaction`, `foreign-keys-off`).
    pub directives: Vec<&'static str>,
    /// Its statements.
    pub statements: Vec<Statement>,
}

impl Planned {
    fn new(branch: Branch, part: Option<String>, purpose: impl Into<String>) -> Planned {
        Planned { branch, part, purpose: purpose.into(), directives: Vec::new(), statements: Vec::new() }
    }

    /// The up script, after `-- message`.
    pub fn up(&self) -> String {
        let mut out = String::new();
        for d in &self.directives {
            let _ = writeln!(out, "-- ebbtide: {d}");
        }
        for line in self.purpose.lines() {
            let _ = writeln!(out, "-- {line}");
        }
        for s in &self.statements {
            out.push('\n');
            for line in s.why.lines() {
                let _ = writeln!(out, "-- {line}");
            }
            let _ = writeln!(out, "{};", s.sql);
        }
        out
    }

    /// The down script, when every statement has a known inverse. It
    /// runs as the up script does: `DROP INDEX CONCURRENTLY` undoes `CREATE
    /// INDEX CONCURRENTLY` outside a transaction too. (`allow` stays out:
    /// the rules do not check down scripts.)
    pub fn down(&self) -> Option<String> {
        let mut out = String::new();
        for d in self.directives.iter().filter(|d| !d.starts_with("allow ")) {
            let _ = writeln!(out, "-- ebbtide: {d}");
        }
        out.push_str(
            "-- Autogenerated with the up script; statements that need no undoing\n-- (backfills, validations) have no counterpart here.\n",
        );
        for s in self.statements.iter().rev() {
            let down = s.down.as_deref()?;
            if !down.is_empty() {
                let _ = writeln!(out, "{down};");
            }
        }
        Some(out)
    }

    /// The statements to run on a scratch database, in order.
    pub fn sql(&self) -> impl Iterator<Item = &str> {
        self.statements.iter().map(|s| s.sql.as_str())
    }
}

/// The files [`write()`] created.
#[derive(Clone, Debug, Default)]
pub struct Written {
    /// Every file, up and down scripts, in order.
    pub paths: Vec<std::path::PathBuf>,
    /// `path:line` of each placeholder left for the user to fill in.
    pub fill_ins: Vec<String>,
}

/// Writes `planned` into the migrations directory `dir`, numbered after
/// every migration there; `release` is declared by the first.
pub fn write(
    dir: &std::path::Path,
    message: &str,
    release: Option<&str>,
    planned: &[Planned],
) -> Result<Written, String> {
    let mut release = release;
    let mut written = Written::default();
    for planned in planned {
        let message = match &planned.part {
            Some(part) => format!("{message} {part}"),
            None => message.to_string(),
        };
        let up = planned.up();
        let down = planned.down();
        let paths =
            crate::revision::revision(dir, planned.branch, &message, down.is_some(), release.take(), Some(&up))?;
        if let (Some(down), Some(path)) = (down, paths.get(1)) {
            std::fs::write(path, format!("-- Reverts: {message}\n{down}"))
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
        let head =
            std::fs::read_to_string(&paths[0]).map_err(|e| format!("cannot read {}: {e}", paths[0].display()))?;
        for (at, line) in head.lines().enumerate() {
            if line.contains(FILL_IN) {
                written.fill_ins.push(format!("{}:{}", paths[0].display(), at + 1));
            }
        }
        written.paths.extend(paths);
    }
    Ok(written)
}

/// What autogenerate will not decide alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Undecided(pub Vec<String>);

impl fmt::Display for Undecided {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (at, line) in self.0.iter().enumerate() {
            if at > 0 {
                f.write_str("\n")?;
            }
            f.write_str(line)?;
        }
        Ok(())
    }
}

/// The columns a table gains and loses, paired by the hints.
struct Split<'a> {
    table: &'a Table,
    /// Columns the wanted schema adds, computed from old ones.
    forward: Vec<(&'a Column, String)>,
    /// Columns the wanted schema drops, computed from new ones.
    backward: Vec<(&'a Column, String)>,
    /// The names of the table's columns, old and new.
    names: Vec<String>,
}

/// The expand migrations that take `current` towards `wanted`, or what
/// the user must decide first.
pub fn expand(current: &Schema, wanted: &Schema, hints: &Hints, flavor: Flavor) -> Result<Vec<Planned>, Undecided> {
    let diff = current.diff(wanted);
    let mut undecided = Vec::new();
    check_hints(current, wanted, hints, &mut undecided);
    table_renames(&diff, hints, &mut undecided);
    let splits = splits(current, wanted, hints, &diff, &mut undecided);
    let mut main = Planned::new(
        Branch::Expand,
        None,
        "Expand: only what the release serving now keeps working with.\n\
         Autogenerated by `ebbtide revision --autogenerate`.",
    );
    let mut concurrent: Vec<Planned> = Vec::new();
    let mut validate = Planned::new(
        Branch::Expand,
        Some("validate".into()),
        "Expand: validates the constraints the previous migrations added as NOT VALID,\n\
         in a transaction of its own, which blocks no write while it scans.",
    );
    let mut fill_ins = Vec::new();
    use Difference::*;
    // Types and sequences first: tables use them.
    for d in &diff {
        match d {
            AddEnum(name, labels) => main.statements.push(Statement::new(
                "a new type: nothing uses it yet",
                format!(
                    "CREATE TYPE {} AS ENUM ({})",
                    ident(name),
                    labels.iter().map(|l| quote(l)).collect::<Vec<_>>().join(", ")
                ),
                Some(format!("DROP TYPE {}", ident(name))),
            )),
            AddEnumValue(name, label, after) => main.statements.push(Statement::new(
                "a new enum value: the values the release serving now writes stay valid",
                match after {
                    Some(after) => {
                        format!("ALTER TYPE {} ADD VALUE {} AFTER {}", ident(name), quote(label), quote(after))
                    }
                    None => format!("ALTER TYPE {} ADD VALUE {}", ident(name), quote(label)),
                },
                None,
            )),
            AddSequence(_, sql) => main.statements.push(Statement::new(
                "a new sequence: nothing uses it yet",
                sql.clone(),
                Some(format!("DROP SEQUENCE {}", ident(sequence_name(sql)))),
            )),
            ChangeEnum(name, from, to) => undecided.push(format!(
                "enum {name} changes from ({}) to ({}) other than by added values: \
                 create a new type and move the columns to it with --derive, or write the migration by hand",
                from.join(", "),
                to.join(", ")
            )),
            ChangeDefinition(kind, name, _, _) => undecided.push(format!(
                "{kind} {name} has a new definition, which the release serving now may not work with: \
                 create it under a new name (the old one goes in a later contract), or write the migration by hand"
            )),
            _ => {}
        }
    }
    for table in creation_order(&diff) {
        main.statements.push(Statement::new(
            format!("a new table: the release serving now does not know {}", table.name),
            create_table(table, flavor),
            Some(format!("DROP TABLE {}", ident(&table.name))),
        ));
    }
    let new_tables: BTreeSet<&str> = diff
        .iter()
        .filter_map(|d| match d {
            AddTable(t) => Some(t.name.as_str()),
            _ => None,
        })
        .collect();
    for d in &diff {
        match d {
            AddColumn { table, column } => {
                let derived = hints.derivation(table, &column.name).is_some();
                let addable =
                    !derived && column.fills_itself() && (flavor == Flavor::Postgres || sqlite_addable(column));
                if addable {
                    main.statements.push(Statement::new(
                        "a new column that fills itself: the release serving now can insert without it",
                        format!("ALTER TABLE {} ADD COLUMN {}", ident(table), column_sql(column, flavor)),
                        Some(format!("ALTER TABLE {} DROP COLUMN {}", ident(table), ident(&column.name))),
                    ));
                    continue;
                }
                let relaxed = Column { not_null: false, default: None, generated: None, ..column.clone() };
                let why = if derived {
                    "a new column, nullable while the release serving now inserts rows without it:\n\
                     the triggers below fill it; contract sets what the schema file declares"
                } else {
                    "a new column, nullable while the release serving now inserts rows without it;\n\
                     contract sets what the schema file declares"
                };
                main.statements.push(Statement::new(
                    why,
                    format!("ALTER TABLE {} ADD COLUMN {}", ident(table), column_sql(&relaxed, flavor)),
                    Some(format!("ALTER TABLE {} DROP COLUMN {}", ident(table), ident(&column.name))),
                ));
                if !derived && column.not_null && column.generated.is_none() {
                    fill_ins.push(Statement::new(
                        format!(
                            "backfill: {table}.{} is NOT NULL in the schema file, so existing rows need a value.\n\
                             Write it in place of the placeholder (the build refuses it as it is).",
                            column.name
                        ),
                        format!(
                            "UPDATE {t} SET {c} = {fill} WHERE {c} IS NULL",
                            t = ident(table),
                            c = ident(&column.name),
                            fill = fill_in(table, &column.name)
                        ),
                        Some(String::new()),
                    ));
                }
            }
            DropColumn { table, column } if !column.fills_itself() && flavor == Flavor::Postgres => {
                main.statements.push(Statement::new(
                    format!("{} goes in contract; until then the new release inserts rows without it", column.name),
                    format!("ALTER TABLE {} ALTER COLUMN {} DROP NOT NULL", ident(table), ident(&column.name)),
                    Some(format!("ALTER TABLE {} ALTER COLUMN {} SET NOT NULL", ident(table), ident(&column.name))),
                ));
            }
            AlterColumn { table, from, to } if flavor == Flavor::Postgres => {
                if from.not_null && !to.not_null {
                    main.statements.push(Statement::new(
                        "a relaxed constraint: what the release serving now writes stays valid",
                        format!("ALTER TABLE {} ALTER COLUMN {} DROP NOT NULL", ident(table), ident(&to.name)),
                        Some(format!("ALTER TABLE {} ALTER COLUMN {} SET NOT NULL", ident(table), ident(&to.name))),
                    ));
                }
                if from.default.is_none()
                    && from.generated.is_none()
                    && to.generated.is_none()
                    && let Some(default) = &to.default
                {
                    main.statements.push(Statement::new(
                        "a new default: rows inserted without the column get it",
                        format!("ALTER TABLE {} ALTER COLUMN {} SET DEFAULT {default}", ident(table), ident(&to.name)),
                        Some(format!("ALTER TABLE {} ALTER COLUMN {} DROP DEFAULT", ident(table), ident(&to.name))),
                    ));
                }
            }
            _ => {}
        }
    }
    // Backfills of derived columns, then the user's (whose expression may
    // read a derived column: it must be filled by then), then the triggers
    // that keep both releases' columns in sync (the backfills first: they
    // must not fire them).
    for split in &splits {
        if let Some(backfill) = backfill(split, None) {
            main.statements.push(Statement::new(
                "backfill: the new columns from the old ones, for the rows already there",
                backfill,
                Some(String::new()),
            ));
        }
    }
    main.statements.append(&mut fill_ins);
    for split in &splits {
        main.statements.extend(sync_triggers(split, flavor));
    }
    for d in &diff {
        match d {
            AddFunction(signature, sql) => main.statements.push(Statement::new(
                "a new function: nothing uses it yet",
                sql.trim_end().trim_end_matches(';').to_string(),
                Some(format!("DROP FUNCTION {signature}")),
            )),
            AddView(name, sql) => main.statements.push(Statement::new(
                "a new view: nothing uses it yet",
                sql.trim_end().trim_end_matches(';').to_string(),
                Some(format!("DROP VIEW {}", ident(name))),
            )),
            _ => {}
        }
    }
    for d in &diff {
        match d {
            AddTrigger(t) => main.statements.push(Statement::new(
                "a new trigger, which the schema file declares",
                t.definition.trim_end().trim_end_matches(';').to_string(),
                Some(format!("DROP TRIGGER {}{}", ident(&t.name), on_table(&t.table, flavor))),
            )),
            // The diff says a changed index is dropped and added again; the
            // drop would wait for contract, and the name is taken until then.
            AddIndex(index) if current.indexes.contains_key(&index.name) => undecided.push(format!(
                "index {} has a new definition ({}), which the release serving now may rely on: \
                 create it under a new name (contract then drops the old one), or write the migration by hand",
                index.name, index.definition
            )),
            AddIndex(index) if new_tables.contains(index.table.as_str()) || flavor == Flavor::Sqlite => {
                main.statements.push(Statement::new(
                    if new_tables.contains(index.table.as_str()) {
                        "an index on a new table, still empty"
                    } else {
                        "a new index: no statement of the release serving now depends on its absence"
                    },
                    index.definition.clone(),
                    Some(format!("DROP INDEX {}", ident(&index.name))),
                ))
            }
            AddIndex(index) => {
                let mut planned = Planned::new(
                    Branch::Expand,
                    Some(format!("index_{}", index.name)),
                    "Expand: a new index, built CONCURRENTLY so that writes go on while it builds;\n\
                     CONCURRENTLY cannot run in a transaction, hence a migration of its own.",
                );
                planned.directives.push("no-transaction");
                planned.statements.push(Statement::new(
                    format!("a new index on {}", index.table),
                    concurrently(&index.definition),
                    Some(format!("DROP INDEX CONCURRENTLY {}", ident(&index.name))),
                ));
                concurrent.push(planned);
            }
            AddConstraint { table, constraint } if !new_tables.contains(table.as_str()) => match flavor {
                Flavor::Sqlite => {} // A table rebuild, in contract.
                Flavor::Postgres => {
                    add_constraint(table, constraint, &mut main, &mut concurrent, &mut validate, &mut undecided)
                }
            },
            _ => {}
        }
    }
    if !undecided.is_empty() {
        return Err(Undecided(undecided));
    }
    let mut out = Vec::new();
    if !main.statements.is_empty() {
        out.push(main);
    }
    out.append(&mut concurrent);
    if !validate.statements.is_empty() {
        out.push(validate);
    }
    Ok(out)
}

/// A constraint added to an existing PostgreSQL table, in the form that
/// does not block writes while it checks the rows already there.
fn add_constraint(
    table: &str,
    constraint: &Constraint,
    main: &mut Planned,
    concurrent: &mut Vec<Planned>,
    validate: &mut Planned,
    undecided: &mut Vec<String>,
) {
    let name = ident(&constraint.name);
    let drop = Some(format!("ALTER TABLE {} DROP CONSTRAINT {name}", ident(table)));
    match constraint.kind {
        ConstraintKind::Check | ConstraintKind::ForeignKey => {
            main.statements.push(Statement::new(
                "a new constraint, NOT VALID: it checks new writes at once, without scanning the table",
                format!("ALTER TABLE {} ADD CONSTRAINT {name} {} NOT VALID", ident(table), constraint.definition),
                drop,
            ));
            validate.statements.push(Statement::new(
                format!("checks the rows already in {table}"),
                format!("ALTER TABLE {} VALIDATE CONSTRAINT {name}", ident(table)),
                Some(String::new()),
            ));
        }
        ConstraintKind::Unique
            if constraint.definition.starts_with("UNIQUE (") && !constraint.definition.contains(" DEFERRABLE") =>
        {
            let columns = &constraint.definition["UNIQUE ".len()..];
            let mut planned = Planned::new(
                Branch::Expand,
                Some(format!("index_{}", constraint.name)),
                "Expand: the index of a new unique constraint, built CONCURRENTLY so that writes\n\
                 go on while it builds; CONCURRENTLY cannot run in a transaction.",
            );
            planned.directives.push("no-transaction");
            planned.statements.push(Statement::new(
                format!("a new unique index on {table}"),
                format!("CREATE UNIQUE INDEX CONCURRENTLY {name} ON {} {columns}", ident(table)),
                // Dropping the constraint (the validate migration's down) drops its index.
                Some(format!("DROP INDEX CONCURRENTLY IF EXISTS {name}")),
            ));
            concurrent.push(planned);
            validate.statements.push(Statement::new(
                "the unique constraint, over the index built before: no scan",
                format!("ALTER TABLE {} ADD CONSTRAINT {name} UNIQUE USING INDEX {name}", ident(table)),
                drop,
            ));
        }
        _ => undecided.push(format!(
            "{table} gains `{}`: a new primary key or a unique constraint with options changes how every \
             release writes the table; write the migration by hand",
            constraint.definition
        )),
    }
}

/// Hints that name no column the diff adds or drops.
fn check_hints(current: &Schema, wanted: &Schema, hints: &Hints, undecided: &mut Vec<String>) {
    let has = |schema: &Schema, table: &str, column: &str| {
        schema.tables.get(table).is_some_and(|t| t.column(column).is_some())
    };
    for (table, from, to) in &hints.renames {
        if !has(current, table, from) || has(wanted, table, from) {
            undecided.push(format!(
                "--rename {table}.{from}={to}: the migrations leave no column {table}.{from} that the schema file drops"
            ));
        }
        if has(current, table, to) || !has(wanted, table, to) {
            undecided.push(format!("--rename {table}.{from}={to}: the schema file adds no column {table}.{to}"));
        }
    }
    for (table, column, _) in &hints.derives {
        if has(current, table, column) == has(wanted, table, column) {
            undecided.push(format!("--derive {table}.{column}: the column must be one the schema file adds or drops"));
        }
    }
    for (table, column) in &hints.drops {
        if column.is_empty() {
            if !current.tables.contains_key(table) || wanted.tables.contains_key(table) {
                undecided.push(format!("--drop {table}: the schema file does not drop table {table}"));
            }
            continue;
        }
        if !has(current, table, column) || has(wanted, table, column) {
            undecided.push(format!("--drop {table}.{column}: the schema file does not drop {table}.{column}"));
        }
    }
}

/// A table dropped while one with the same columns is created: maybe a
/// rename, which autogenerate does not write (the release serving now
/// queries the old name, and the new table would start empty).
fn table_renames(diff: &[Difference], hints: &Hints, undecided: &mut Vec<String>) {
    let shape = |t: &Table| t.columns.iter().map(|c| (c.name.clone(), c.data_type.clone())).collect::<Vec<_>>();
    for d in diff {
        let Difference::DropTable(old) = d else { continue };
        if hints.dropped(&old.name, "") {
            continue;
        }
        for other in diff {
            if let Difference::AddTable(new) = other
                && shape(new) == shape(old)
            {
                undecided.push(format!(
                    "table {0} is dropped and table {1} created with the same columns: autogenerate does not \
                     rename tables (the release serving now queries {0}, and {1} would start empty); keep the \
                     name, or create {1} and copy the rows by hand; if {0} and its rows really go, say --drop {0}",
                    old.name, new.name
                ));
            }
        }
    }
}

/// The tables whose columns the hints pair, and possible renames no hint
/// decides.
fn splits<'a>(
    current: &'a Schema,
    wanted: &'a Schema,
    hints: &Hints,
    diff: &'a [Difference],
    undecided: &mut Vec<String>,
) -> Vec<Split<'a>> {
    let mut out: BTreeMap<&str, Split<'a>> = BTreeMap::new();
    for d in diff {
        let (table, column, forward) = match d {
            Difference::AddColumn { table, column } => (table, column, true),
            Difference::DropColumn { table, column } => (table, column, false),
            _ => continue,
        };
        let Some(expression) = hints.derivation(table, &column.name) else {
            // An added and a dropped column of one type: maybe a rename.
            if !forward && !hints.dropped(table, &column.name) {
                let added = diff.iter().find_map(|other| match other {
                    Difference::AddColumn { table: t, column: c }
                        if t == table && c.data_type == column.data_type && hints.derivation(t, &c.name).is_none() =>
                    {
                        Some(c)
                    }
                    _ => None,
                });
                if let Some(added) = added {
                    undecided.push(format!(
                        "{table}.{} is dropped and {table}.{} of the same type added: if it is a rename, \
                         say --rename {table}.{}={}; if not, say --drop {table}.{}",
                        column.name, added.name, column.name, added.name, column.name
                    ));
                }
            }
            continue;
        };
        let Some(table_now) = current.tables.get(table.as_str()) else { continue };
        let split = out.entry(table).or_insert_with(|| {
            let added = wanted.tables.get(table.as_str()).map(|t| t.columns.as_slice()).unwrap_or_default();
            let names = table_now.columns.iter().chain(added).map(|c| c.name.clone()).collect();
            Split { table: table_now, forward: Vec::new(), backward: Vec::new(), names }
        });
        if forward {
            split.forward.push((column, expression));
        } else {
            split.backward.push((column, expression));
        }
    }
    out.into_values().collect()
}

/// `UPDATE` of the forward columns (`None`: every row still without them).
fn backfill(split: &Split<'_>, qualifier: Option<&str>) -> Option<String> {
    if split.forward.is_empty() {
        return None;
    }
    let sets: Vec<String> = split
        .forward
        .iter()
        .map(|(c, e)| format!("{} = {}", ident(&c.name), qualify(e, &split.names, qualifier)))
        .collect();
    let empty: Vec<String> = split.forward.iter().map(|(c, _)| format!("{} IS NULL", ident(&c.name))).collect();
    Some(format!("UPDATE {} SET {} WHERE {}", ident(&split.table.name), sets.join(", "), empty.join(" AND ")))
}

/// `expression` with every column of `table` it names prefixed by
/// `qualifier.` (`NEW.`), function names and quoted text left alone.
fn qualify(expression: &str, names: &[String], qualifier: Option<&str>) -> String {
    let Some(qualifier) = qualifier else { return expression.to_string() };
    let Ok(tokens) = ebbtide_core::lexer::tokenize(expression) else { return expression.to_string() };
    let mut out = String::new();
    let significant: Vec<usize> =
        (0..tokens.len()).filter(|&i| !matches!(tokens[i].kind, ebbtide_core::lexer::TokenKind::Whitespace)).collect();
    for (at, token) in tokens.iter().enumerate() {
        let text = &expression[token.range.clone()];
        let position = significant.iter().position(|&i| i == at);
        let next = position.and_then(|p| significant.get(p + 1)).map(|&i| &expression[tokens[i].range.clone()]);
        let previous =
            position.and_then(|p| p.checked_sub(1)).map(|p| &expression[tokens[significant[p]].range.clone()]);
        let is_column = names.iter().any(|c| c == text || ident(c) == text);
        if is_column && next != Some("(") && previous != Some(".") {
            let _ = write!(out, "{qualifier}.{text}");
        } else {
            out.push_str(text);
        }
    }
    out
}

/// The triggers that keep the old release's and the new release's columns
/// of one table in sync while both run.
fn sync_triggers(split: &Split<'_>, flavor: Flavor) -> Vec<Statement> {
    let table = &split.table.name;
    let old: Vec<&Column> = split
        .backward
        .iter()
        .map(|(c, _)| *c)
        .chain(split.forward.iter().flat_map(|(_, e)| referenced(e, split.table)))
        .fold(Vec::new(), |mut acc, c| {
            if !acc.iter().any(|a: &&Column| a.name == c.name) {
                acc.push(c);
            }
            acc
        });
    let new: Vec<&Column> = split.forward.iter().map(|(c, _)| *c).collect();
    let name = format!("{table}_sync_{}", old.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join("_"));
    let all_null = |cols: &[&Column], row: &str| {
        cols.iter().map(|c| format!("{row}.{} IS NULL", ident(&c.name))).collect::<Vec<_>>().join(" AND ")
    };
    let same = |cols: &[&Column]| match flavor {
        Flavor::Postgres => cols
            .iter()
            .map(|c| format!("NEW.{0} IS NOT DISTINCT FROM OLD.{0}", ident(&c.name)))
            .collect::<Vec<_>>()
            .join(" AND "),
        Flavor::Sqlite => {
            cols.iter().map(|c| format!("NEW.{0} IS OLD.{0}", ident(&c.name))).collect::<Vec<_>>().join(" AND ")
        }
    };
    let forward_sets: Vec<(String, String)> =
        split.forward.iter().map(|(c, e)| (ident(&c.name), qualify(e, &split.names, Some("NEW")))).collect();
    let backward_sets: Vec<(String, String)> =
        split.backward.iter().map(|(c, e)| (ident(&c.name), qualify(e, &split.names, Some("NEW")))).collect();
    let why = format!(
        "keeps {} (the release serving now) and {} (the new release) in sync\n\
         in both directions while both releases run; contract drops it",
        old.iter().map(|c| format!("{table}.{}", c.name)).collect::<Vec<_>>().join(", "),
        new.iter().map(|c| format!("{table}.{}", c.name)).collect::<Vec<_>>().join(", "),
    );
    match flavor {
        Flavor::Postgres => {
            let assign = |sets: &[(String, String)], indent: &str| {
                sets.iter().map(|(c, e)| format!("{indent}NEW.{c} := {e};\n")).collect::<String>()
            };
            let mut body = String::from("BEGIN\n    IF TG_OP = 'INSERT' THEN\n");
            let mut first = true;
            if !backward_sets.is_empty() {
                let _ = write!(
                    body,
                    "        IF {} THEN\n            -- Written by the new release.\n{}",
                    all_null(&old, "NEW"),
                    assign(&backward_sets, "            ")
                );
                first = false;
            }
            if !forward_sets.is_empty() {
                let _ = write!(
                    body,
                    "        {} {} THEN\n            -- Written by the release serving now.\n{}",
                    if first { "IF" } else { "ELSIF" },
                    all_null(&new, "NEW"),
                    assign(&forward_sets, "            ")
                );
            }
            body.push_str("        END IF;\n");
            let mut branch = "ELSIF";
            if !forward_sets.is_empty() {
                let changed: Vec<String> =
                    old.iter().map(|c| format!("NEW.{0} IS DISTINCT FROM OLD.{0}", ident(&c.name))).collect();
                let _ = write!(
                    body,
                    "    ELSIF ({}) AND {} THEN\n        -- The release serving now changed the row.\n{}",
                    changed.join(" OR "),
                    same(&new),
                    assign(&forward_sets, "        ")
                );
            }
            if !backward_sets.is_empty() {
                let _ = write!(
                    body,
                    "    {branch} {} THEN\n        -- The new release changed the row (or nothing changed).\n{}",
                    same(&old),
                    assign(&backward_sets, "        ")
                );
                branch = "";
            }
            let _ = branch;
            body.push_str("    END IF;\n    RETURN NEW;\nEND;\n");
            vec![
                Statement::new(
                    why.clone(),
                    format!("CREATE FUNCTION {name}() RETURNS trigger\nLANGUAGE plpgsql AS $$\n{body}$$"),
                    Some(format!("DROP FUNCTION {name}()")),
                ),
                Statement::new(
                    format!("fires {name} on every write"),
                    format!(
                        "CREATE TRIGGER {name}\n    BEFORE INSERT OR UPDATE ON {}\n    FOR EACH ROW EXECUTE FUNCTION {name}()",
                        ident(table)
                    ),
                    Some(format!("DROP TRIGGER {name} ON {}", ident(table))),
                ),
            ]
        }
        Flavor::Sqlite => {
            // SQLite's triggers cannot assign NEW: they update the row
            // after it is written, found by its key.
            let key = row_key(split.table);
            let update = |sets: &[(String, String)]| {
                format!(
                    "UPDATE {} SET {} WHERE {key};",
                    ident(table),
                    sets.iter().map(|(c, e)| format!("{c} = {e}")).collect::<Vec<_>>().join(", ")
                )
            };
            let columns = |cols: &[&Column]| cols.iter().map(|c| ident(&c.name)).collect::<Vec<_>>().join(", ");
            let mut out = Vec::new();
            let mut trigger = |suffix: &str, event: String, when: String, sets: &[(String, String)], what: &str| {
                let trigger = format!("{name}_{suffix}");
                out.push(Statement::new(
                    format!("{why}: {what}"),
                    format!(
                        "CREATE TRIGGER {trigger} AFTER {event} ON {} FOR EACH ROW\nWHEN {when}\nBEGIN\n    {}\nEND",
                        ident(table),
                        update(sets)
                    ),
                    Some(format!("DROP TRIGGER {trigger}")),
                ));
            };
            if !backward_sets.is_empty() {
                trigger(
                    "insert_new",
                    "INSERT".into(),
                    all_null(&old, "NEW"),
                    &backward_sets,
                    "rows the new release inserts",
                );
                trigger(
                    "update_new",
                    format!("UPDATE OF {}", columns(&new)),
                    same(&old),
                    &backward_sets,
                    "rows the new release changes",
                );
            }
            if !forward_sets.is_empty() {
                trigger(
                    "insert_old",
                    "INSERT".into(),
                    all_null(&new, "NEW"),
                    &forward_sets,
                    "rows the release serving now inserts",
                );
                trigger(
                    "update_old",
                    format!("UPDATE OF {}", columns(&old)),
                    same(&new),
                    &forward_sets,
                    "rows the release serving now changes",
                );
            }
            out
        }
    }
}

/// The columns of `table` that `expression` names.
fn referenced<'a>(expression: &str, table: &'a Table) -> Vec<&'a Column> {
    let Ok(tokens) = ebbtide_core::lexer::tokenize(expression) else { return Vec::new() };
    table.columns.iter().filter(|c| tokens.iter().any(|t| expression[t.range.clone()] == c.name)).collect()
}

/// How a SQLite trigger finds the row it fires for.
fn row_key(table: &Table) -> String {
    let key = table.constraints.iter().find(|c| c.kind == ConstraintKind::PrimaryKey);
    let rowid = table.definition.as_deref().is_none_or(|d| !d.to_ascii_uppercase().contains("WITHOUT ROWID"));
    match key {
        Some(_) if rowid => "rowid = NEW.rowid".to_string(),
        Some(key) => key.definition["PRIMARY KEY (".len()..key.definition.len() - 1]
            .split(", ")
            .map(|c| format!("{c} = NEW.{c}"))
            .collect::<Vec<_>>()
            .join(" AND "),
        None => "rowid = NEW.rowid".to_string(),
    }
}

/// The new tables, each after the tables its foreign keys reference.
fn creation_order(diff: &[Difference]) -> Vec<&Table> {
    let mut pending: Vec<&Table> = diff
        .iter()
        .filter_map(|d| match d {
            Difference::AddTable(t) => Some(t),
            _ => None,
        })
        .collect();
    let mut out: Vec<&Table> = Vec::new();
    while !pending.is_empty() {
        let ready = pending
            .iter()
            .position(|t| pending.iter().all(|other| other.name == t.name || !references(t, &other.name)));
        // A cycle of foreign keys: created in name order, which then fails
        // on the engine with its own message.
        let at = ready.unwrap_or(0);
        out.push(pending.remove(at));
    }
    out
}

/// Whether `table` has a foreign key to `target`.
fn references(table: &Table, target: &str) -> bool {
    table.constraints.iter().any(|c| {
        c.kind == ConstraintKind::ForeignKey
            && c.definition.split("REFERENCES ").nth(1).is_some_and(|rest| {
                let name = rest.split(['(', ' ']).next().unwrap_or_default();
                name == target || name.rsplit('.').next() == Some(target) || name.trim_matches('"') == target
            })
    })
}

fn create_table(table: &Table, flavor: Flavor) -> String {
    if let (Flavor::Sqlite, Some(definition)) = (flavor, &table.definition) {
        return definition.clone();
    }
    let mut parts: Vec<String> = table.columns.iter().map(|c| column_sql(c, flavor)).collect();
    for c in &table.constraints {
        parts.push(format!("CONSTRAINT {} {}", ident(&c.name), c.definition));
    }
    format!("CREATE TABLE {} (\n    {}\n)", ident(&table.name), parts.join(",\n    "))
}

/// A column's definition as `CREATE TABLE` and `ADD COLUMN` take it.
fn column_sql(column: &Column, flavor: Flavor) -> String {
    let mut out = ident(&column.name);
    match (column.generated.as_deref(), flavor) {
        (Some("serial"), _) => {
            let serial = match column.data_type.as_str() {
                "smallint" => "smallserial",
                "integer" => "serial",
                _ => "bigserial",
            };
            let _ = write!(out, " {serial}");
            return out;
        }
        (Some(generated), Flavor::Postgres) => {
            let _ = write!(out, " {} {generated}", column.data_type);
        }
        _ => {
            let _ = write!(out, " {}", column.data_type);
        }
    }
    if let Some(default) = &column.default {
        let _ = write!(out, " DEFAULT {default}");
    }
    if column.not_null && !matches!(column.generated.as_deref(), Some(g) if g.contains("IDENTITY")) {
        out.push_str(" NOT NULL");
    }
    out
}

/// Whether SQLite's `ADD COLUMN` takes `column` as it is: no `NOT NULL`
/// without a constant default.
fn sqlite_addable(column: &Column) -> bool {
    column.generated.is_none()
        && match &column.default {
            None => !column.not_null,
            Some(d) => !d.contains('(') && !d.to_ascii_uppercase().starts_with("CURRENT_"),
        }
}

/// ` ON table` where the engine's `DROP TRIGGER` wants it.
fn on_table(table: &str, flavor: Flavor) -> String {
    match flavor {
        Flavor::Postgres => format!(" ON {}", ident(table)),
        Flavor::Sqlite => String::new(),
    }
}

fn concurrently(definition: &str) -> String {
    for prefix in ["CREATE UNIQUE INDEX ", "CREATE INDEX "] {
        if let Some(rest) = definition.strip_prefix(prefix) {
            return format!("{prefix}CONCURRENTLY {rest}");
        }
    }
    definition.to_string()
}

fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

fn sequence_name(sql: &str) -> &str {
    sql.split_whitespace().nth(2).unwrap_or_default()
}

/// The placeholder of a value the user writes.
fn fill_in(table: &str, column: &str) -> String {
    format!("NULL {FILL_IN}: the value of {table}.{column} for existing rows */")
}

/// The contract migrations that take `interim` (what expand left) to
/// `wanted`.
pub fn contract(interim: &Schema, wanted: &Schema, hints: &Hints, flavor: Flavor) -> Result<Vec<Planned>, Undecided> {
    let diff = interim.diff(wanted);
    let mut undecided = Vec::new();
    let mut main = Planned::new(
        Branch::Contract,
        None,
        "Contract: runs once no instance of the previous release is left.\n\
         Autogenerated by `ebbtide revision --autogenerate`.",
    );
    let mut guard = Planned::new(
        Branch::Contract,
        Some("not_null_checks".into()),
        "Contract: NOT NULL through a check constraint, added NOT VALID here and\n\
         validated by the next migration, so that SET NOT NULL scans nothing under its lock.",
    );
    let mut validate = Planned::new(
        Branch::Contract,
        Some("validate".into()),
        "Contract: validates the NOT NULL checks of the previous migration, in a\n\
         transaction of its own, which blocks no write while it scans.",
    );
    let mut defaults = Planned::new(
        Branch::Contract,
        Some("defaults".into()),
        "Contract: the defaults the schema file declares that expand could not set: a\n\
         renamed or derived column gets its value from the sync triggers while the\n\
         previous release runs (a default would hide that it was left out), and a\n\
         changed default could break what the previous release inserts. Setting a\n\
         default is additive, hence the `allow`: it is on purpose, and the only\n\
         statement kind here.",
    );
    defaults.directives.push("allow additive");
    use Difference::*;
    for d in &diff {
        if let AddTable(_)
        | AddColumn { .. }
        | AddIndex(_)
        | AddView(..)
        | AddSequence(..)
        | AddEnum(..)
        | AddEnumValue(..)
        | AddFunction(..)
        | AddTrigger(_) = d
        {
            undecided.push(format!("after the expand migrations, the schema still lacks: {d}"));
        }
        if let ChangeDefinition(..) | ChangeEnum(..) = d {
            undecided.push(format!("not written: {d}"));
        }
    }
    // Order: what depends on columns and tables first.
    for d in &diff {
        if let DropView(name, sql) = d {
            main.statements.push(Statement::new(
                "the schema file drops this view",
                format!("DROP VIEW {}", ident(name)),
                Some(sql.trim_end().trim_end_matches(';').to_string()),
            ));
        }
    }
    let rebuilt: BTreeSet<String> = match flavor {
        Flavor::Sqlite => sqlite_rebuilds(interim, wanted, &diff),
        Flavor::Postgres => BTreeSet::new(),
    };
    for d in &diff {
        if let DropTrigger(t) = d
            && !rebuilt.contains(&t.table)
        {
            main.statements.push(Statement::new(
                if t.name.contains("_sync_") {
                    "the release that wrote the old columns is gone: no more sync"
                } else {
                    "the schema file drops this trigger"
                },
                format!("DROP TRIGGER {}{}", ident(&t.name), on_table(&t.table, flavor)),
                Some(t.definition.trim_end().trim_end_matches(';').to_string()),
            ));
        }
    }
    for d in &diff {
        if let DropFunction(signature, sql) = d {
            main.statements.push(Statement::new(
                "nothing calls it any more",
                format!("DROP FUNCTION {signature}"),
                Some(sql.trim_end().trim_end_matches(';').to_string()),
            ));
        }
    }
    for d in &diff {
        if let DropIndex(index) = d
            && !rebuilt.contains(&index.table)
        {
            main.statements.push(Statement::new(
                "the schema file drops this index",
                format!("DROP INDEX {}", ident(&index.name)),
                Some(index.definition.clone()),
            ));
        }
    }
    for d in &diff {
        match d {
            DropConstraint { table, constraint } if flavor == Flavor::Postgres => main.statements.push(Statement::new(
                "the schema file drops this constraint",
                format!("ALTER TABLE {} DROP CONSTRAINT {}", ident(table), ident(&constraint.name)),
                Some(format!(
                    "ALTER TABLE {} ADD CONSTRAINT {} {}",
                    ident(table),
                    ident(&constraint.name),
                    constraint.definition
                )),
            )),
            AddConstraint { table, constraint } if flavor == Flavor::Postgres => {
                undecided.push(format!("after the expand migrations, {table} still lacks `{}`", constraint.definition))
            }
            _ => {}
        }
    }
    for d in &diff {
        if let AlterColumn { table, from, to } = d
            && flavor == Flavor::Postgres
        {
            alter_column(table, from, to, hints, &mut main, &mut defaults, &mut guard, &mut validate, &mut undecided);
        }
    }
    for d in &diff {
        if let DropColumn { table, column } = d
            && !rebuilt.contains(table)
        {
            main.statements.push(Statement::new(
                "no release reads or writes it any more",
                format!("ALTER TABLE {} DROP COLUMN {}", ident(table), ident(&column.name)),
                Some(format!(
                    "ALTER TABLE {} ADD COLUMN {}",
                    ident(table),
                    column_sql(&Column { not_null: false, ..column.clone() }, flavor)
                )),
            ));
        }
    }
    let mut dropped: Vec<&Table> = diff
        .iter()
        .filter_map(|d| match d {
            DropTable(t) => Some(t),
            _ => None,
        })
        .collect();
    // A table that references another goes first.
    dropped.sort_by_key(|t| std::cmp::Reverse(dropped_refs(t, &diff)));
    for t in dropped {
        main.statements.push(Statement::new(
            "the schema file drops this table",
            format!("DROP TABLE {}", ident(&t.name)),
            Some(create_table(t, flavor)),
        ));
    }
    for d in &diff {
        match d {
            DropSequence(name, sql) => main.statements.push(Statement::new(
                "the schema file drops this sequence",
                format!("DROP SEQUENCE {}", ident(name)),
                Some(sql.clone()),
            )),
            DropEnum(name, labels) => main.statements.push(Statement::new(
                "the schema file drops this type",
                format!("DROP TYPE {}", ident(name)),
                Some(format!(
                    "CREATE TYPE {} AS ENUM ({})",
                    ident(name),
                    labels.iter().map(|l| quote(l)).collect::<Vec<_>>().join(", ")
                )),
            )),
            _ => {}
        }
    }
    let mut out = Vec::new();
    if flavor == Flavor::Sqlite {
        for table in &rebuilt {
            out.push(sqlite_rebuild(interim, wanted, table, hints));
        }
    }
    if !undecided.is_empty() {
        return Err(Undecided(undecided));
    }
    let mut planned = Vec::new();
    // First: the new release may insert rows without the columns while the
    // sync triggers, which main drops, still fill them.
    if !defaults.statements.is_empty() {
        planned.push(defaults);
    }
    if !guard.statements.is_empty() {
        planned.push(guard);
        planned.push(validate);
    }
    if !main.statements.is_empty() {
        planned.push(main);
    }
    planned.append(&mut out);
    Ok(planned)
}

/// How many of the tables this diff drops `table` references.
fn dropped_refs(table: &Table, diff: &[Difference]) -> usize {
    diff.iter()
        .filter(
            |d| matches!(d, Difference::DropTable(other) if other.name != table.name && references(table, &other.name)),
        )
        .count()
}

/// One column's change in contract, on PostgreSQL.
#[allow(clippy::too_many_arguments)]
fn alter_column(
    table: &str,
    from: &Column,
    to: &Column,
    hints: &Hints,
    main: &mut Planned,
    defaults: &mut Planned,
    guard: &mut Planned,
    validate: &mut Planned,
    undecided: &mut Vec<String>,
) {
    let (t, c) = (ident(table), ident(&to.name));
    if from.generated != to.generated {
        undecided.push(format!(
            "{table}.{} changes how it is generated ({} -> {}): write the migration by hand",
            to.name,
            from.generated.as_deref().unwrap_or("not generated"),
            to.generated.as_deref().unwrap_or("not generated")
        ));
        return;
    }
    if from.data_type != to.data_type {
        main.statements.push(Statement::new(
            format!(
                "a type change in place, which the release serving now may not write:\n\
                 it rewrites {table} under an exclusive lock. A rename hint (--rename \
                 {table}.{0}=new_name) moves the column instead, without a rewrite.",
                to.name
            ),
            format!("ALTER TABLE {t} ALTER COLUMN {c} TYPE {ty} USING {c}::{ty}", ty = to.data_type),
            Some(format!("ALTER TABLE {t} ALTER COLUMN {c} TYPE {0} USING {c}::{0}", from.data_type)),
        ));
    }
    if from.default != to.default {
        let planned = if to.default.is_some() { defaults } else { &mut *main };
        planned.statements.push(match &to.default {
            None => Statement::new(
                "a dropped default: the release serving now may insert rows without the column",
                format!("ALTER TABLE {t} ALTER COLUMN {c} DROP DEFAULT"),
                from.default.as_ref().map(|d| format!("ALTER TABLE {t} ALTER COLUMN {c} SET DEFAULT {d}")),
            ),
            Some(default) => Statement::new(
                match from.default {
                    Some(_) => "a changed default: the release serving now may rely on the old one",
                    None => "the default the schema file declares: until now the sync triggers filled the column",
                },
                format!("ALTER TABLE {t} ALTER COLUMN {c} SET DEFAULT {default}"),
                Some(match &from.default {
                    Some(d) => format!("ALTER TABLE {t} ALTER COLUMN {c} SET DEFAULT {d}"),
                    None => format!("ALTER TABLE {t} ALTER COLUMN {c} DROP DEFAULT"),
                }),
            ),
        });
    }
    if !from.not_null && to.not_null {
        let check = ident(&format!("{table}_{}_not_null", to.name));
        let value = match hints.derivation(table, &to.name) {
            Some(_) => None, // The sync triggers filled every row.
            None => Some(fill_in(table, &to.name)),
        };
        if let Some(value) = value {
            guard.statements.push(Statement::new(
                format!(
                    "backfill: rows written without {table}.{} while the previous release ran.\n\
                     Write the value in place of the placeholder (the build refuses it as it is).",
                    to.name
                ),
                format!("UPDATE {t} SET {c} = {value} WHERE {c} IS NULL"),
                Some(String::new()),
            ));
        }
        guard.statements.push(Statement::new(
            format!("{table}.{} becomes NOT NULL: checked for new writes at once, without a scan", to.name),
            format!("ALTER TABLE {t} ADD CONSTRAINT {check} CHECK ({c} IS NOT NULL) NOT VALID"),
            Some(format!("ALTER TABLE {t} DROP CONSTRAINT {check}")),
        ));
        validate.statements.push(Statement::new(
            format!("checks the rows already in {table}"),
            format!("ALTER TABLE {t} VALIDATE CONSTRAINT {check}"),
            Some(String::new()),
        ));
        main.statements.push(Statement::new(
            "NOT NULL, proven by the validated check: PostgreSQL does not scan the table",
            format!("ALTER TABLE {t} ALTER COLUMN {c} SET NOT NULL"),
            Some(format!("ALTER TABLE {t} ALTER COLUMN {c} DROP NOT NULL")),
        ));
        main.statements.push(Statement::new(
            "the check has done its work",
            format!("ALTER TABLE {t} DROP CONSTRAINT {check}"),
            Some(format!("ALTER TABLE {t} ADD CONSTRAINT {check} CHECK ({c} IS NOT NULL) NOT VALID")),
        ));
    }
}

/// The SQLite tables whose contract changes `ALTER TABLE` cannot make:
/// they are rebuilt.
fn sqlite_rebuilds(interim: &Schema, wanted: &Schema, diff: &[Difference]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for d in diff {
        match d {
            Difference::AlterColumn { table, .. }
            | Difference::AddConstraint { table, .. }
            | Difference::DropConstraint { table, .. } => {
                out.insert(table.clone());
            }
            Difference::DropColumn { table, column } if !sqlite_droppable(interim, wanted, table, &column.name) => {
                out.insert(table.clone());
            }
            _ => {}
        }
    }
    out
}

/// Whether SQLite's `DROP COLUMN` takes the column: no key or constraint
/// names it, nor an index, trigger or view that stays.
fn sqlite_droppable(interim: &Schema, schema: &Schema, table: &str, column: &str) -> bool {
    let Some(t) = interim.tables.get(table) else { return false };
    let names = |sql: &str| {
        ebbtide_core::lexer::tokenize(sql).is_ok_and(|tokens| tokens.iter().any(|tk| &sql[tk.range.clone()] == column))
    };
    !t.constraints.iter().any(|c| names(&c.definition))
        && !schema.indexes.values().any(|i| i.table == table && names(&i.definition))
        && !schema.triggers.values().any(|tr| names(&tr.definition))
        && !schema.views.values().any(|v| names(v))
        && !t.definition.as_deref().is_some_and(|d| {
            d.to_ascii_uppercase().contains(&format!("{} ", column.to_ascii_uppercase()))
                && d.to_ascii_uppercase().contains("GENERATED")
        })
}

/// SQLite's table rebuild, to the table the schema file declares.
fn sqlite_rebuild(interim: &Schema, wanted: &Schema, table: &str, hints: &Hints) -> Planned {
    let mut planned = Planned::new(
        Branch::Contract,
        Some(format!("rebuild_{table}")),
        format!(
            "Contract: rebuilds {table} the way SQLite documents it (new table, copy, drop,\n\
             rename), since its ALTER TABLE cannot make these changes in place. ebbtide turns\n\
             foreign keys off around the transaction and checks them before it commits."
        ),
    );
    planned.directives.push("foreign-keys-off");
    let target = &wanted.tables[table];
    let now = &interim.tables[table];
    let definition = target.definition.clone().unwrap_or_default();
    let body = &definition[definition.find('(').unwrap_or(definition.len())..];
    let scratch = format!("{table}_new");
    let copied: Vec<String> = target
        .columns
        .iter()
        .filter(|c| c.generated.is_none() && now.column(&c.name).is_some())
        .map(|c| ident(&c.name))
        .collect();
    let copied = copied.join(", ");
    let s = &mut planned.statements;
    for column in &target.columns {
        let was_nullable = now.column(&column.name).is_some_and(|c| !c.not_null);
        if column.not_null
            && column.default.is_none()
            && was_nullable
            && hints.derivation(table, &column.name).is_none()
        {
            s.push(Statement::new(
                format!(
                    "backfill: {table}.{} becomes NOT NULL; rows written without it while the previous\n\
                     release ran need a value. Write it in place of the placeholder (the build refuses it as it is).",
                    column.name
                ),
                format!(
                    "UPDATE {t} SET {c} = {fill} WHERE {c} IS NULL",
                    t = ident(table),
                    c = ident(&column.name),
                    fill = fill_in(table, &column.name)
                ),
                None,
            ));
        }
    }
    s.push(Statement::new("the table as the schema file declares it", format!("CREATE TABLE {scratch} {body}"), None));
    s.push(Statement::new(
        "its rows; a NOT NULL column still empty in a row fails here, naming it",
        format!("INSERT INTO {scratch} ({copied}) SELECT {copied} FROM {}", ident(table)),
        None,
    ));
    let views: Vec<(&String, &String)> = interim.views.iter().filter(|(_, sql)| mentions(sql, table)).collect();
    for (view, _) in &views {
        s.push(Statement::new("it names the table: created again below", format!("DROP VIEW {}", ident(view)), None));
    }
    s.push(Statement::new("the old table, its indexes and triggers", format!("DROP TABLE {}", ident(table)), None));
    s.push(Statement::new(
        "the new table takes its place",
        format!("ALTER TABLE {scratch} RENAME TO {}", ident(table)),
        None,
    ));
    for index in wanted.indexes.values().filter(|i| i.table == table) {
        s.push(Statement::new("an index of the table", index.definition.clone(), None));
    }
    for trigger in wanted.triggers.values().filter(|t| t.table == table) {
        s.push(Statement::new("a trigger of the table", trigger.definition.clone(), None));
    }
    for (view, _) in &views {
        if let Some(sql) = wanted.views.get(*view) {
            s.push(Statement::new("the view, over the new table", sql.clone(), None));
        }
    }
    planned
}

/// Whether `sql` names `word` (as a whole token).
fn mentions(sql: &str, word: &str) -> bool {
    ebbtide_core::lexer::tokenize(sql)
        .is_ok_and(|tokens| tokens.iter().any(|t| sql[t.range.clone()].eq_ignore_ascii_case(word)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(name: &str, data_type: &str, not_null: bool) -> Column {
        Column { name: name.into(), data_type: data_type.into(), not_null, default: None, generated: None }
    }

    fn schema(tables: &[(&str, Vec<Column>)]) -> Schema {
        let mut s = Schema::default();
        for (name, columns) in tables {
            let table =
                Table { name: name.to_string(), columns: columns.clone(), constraints: Vec::new(), definition: None };
            s.tables.insert(name.to_string(), table);
        }
        s
    }

    #[test]
    fn a_table_with_the_same_columns_under_a_new_name_is_not_written_until_decided() {
        let now = schema(&[("users", vec![column("id", "bigint", true)])]);
        let wanted = schema(&[("people", vec![column("id", "bigint", true)])]);
        let refused = expand(&now, &wanted, &Hints::default(), Flavor::Postgres).unwrap_err();
        assert!(refused.to_string().contains("autogenerate does not rename tables"), "{refused}");
        assert!(refused.to_string().contains("say --drop users"), "{refused}");
        let mut hints = Hints::default();
        hints.drop("users").unwrap();
        let planned = expand(&now, &wanted, &hints, Flavor::Postgres).unwrap();
        assert!(planned[0].up().contains("CREATE TABLE people"));
        let contract = contract(&wanted_with(&now, &wanted), &wanted, &hints, Flavor::Postgres).unwrap();
        assert!(contract[0].up().contains("DROP TABLE users"));
    }

    /// `now` with `wanted`'s tables added: what expand leaves.
    fn wanted_with(now: &Schema, wanted: &Schema) -> Schema {
        let mut s = now.clone();
        s.tables.extend(wanted.tables.clone());
        s
    }

    #[test]
    fn a_drop_and_an_add_of_one_type_ask_for_a_decision() {
        let now = schema(&[("users", vec![column("id", "bigint", true), column("name", "text", true)])]);
        let wanted = schema(&[("users", vec![column("id", "bigint", true), column("full_name", "text", true)])]);
        let refused = expand(&now, &wanted, &Hints::default(), Flavor::Postgres).unwrap_err().to_string();
        assert!(refused.contains("--rename users.name=full_name"), "{refused}");
        let mut hints = Hints::default();
        hints.drop("users.name").unwrap();
        let planned = expand(&now, &wanted, &hints, Flavor::Postgres).unwrap();
        let up = planned[0].up();
        // A new NOT NULL column without default: nullable now, a value to write.
        assert!(up.contains("ADD COLUMN full_name text;"), "{up}");
        assert!(up.contains(FILL_IN), "{up}");
        // The dropped column stops being required from the new release.
        assert!(up.contains("ALTER COLUMN name DROP NOT NULL"), "{up}");
    }

    #[test]
    fn a_rename_keeps_both_columns_in_sync_and_contract_drops_the_old_one() {
        let now = schema(&[("users", vec![column("id", "bigint", true), column("name", "text", true)])]);
        let wanted = schema(&[("users", vec![column("id", "bigint", true), column("full_name", "text", true)])]);
        let mut hints = Hints::default();
        hints.rename("users.name=full_name").unwrap();
        let up = expand(&now, &wanted, &hints, Flavor::Postgres).unwrap()[0].up();
        assert!(up.contains("UPDATE users SET full_name = name WHERE full_name IS NULL"), "{up}");
        assert!(up.contains("NEW.full_name := NEW.name;"), "{up}");
        assert!(up.contains("NEW.name := NEW.full_name;"), "{up}");
        assert!(!up.contains(FILL_IN), "a derived column needs no value from the user: {up}");
    }

    #[test]
    fn expressions_name_the_new_row_s_columns_and_leave_functions_and_strings_alone() {
        let names: Vec<String> = ["name", "first_name"].map(String::from).to_vec();
        assert_eq!(
            qualify("split_part(name, ' ', 1) || 'name' || first_name", &names, Some("NEW")),
            "split_part(NEW.name, ' ', 1) || 'name' || NEW.first_name"
        );
        assert_eq!(qualify("name(x)", &names, Some("NEW")), "name(x)");
    }

    #[test]
    fn hints_are_read_or_refused_with_an_example() {
        let mut hints = Hints::default();
        assert!(hints.rename("users.name").unwrap_err().contains("e.g. --rename"));
        assert!(hints.rename("users.name=Full Name").is_err());
        assert!(hints.derive("users.a=").is_err());
        hints.derive("users.a=lower(b)").unwrap();
        assert_eq!(hints.derives, [("users".to_string(), "a".to_string(), "lower(b)".to_string())]);
    }
}

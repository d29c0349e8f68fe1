//! `revision --autogenerate` from first table to contract, on SQLite (no
//! server): the walk-through of `cargo run --example autogenerate`.
//!
//! Release 1 declares `users(id, name NOT NULL)`; release 2 renames `name`
//! to `full_name`, adds `email NOT NULL` (no default) and an index on it.
//! [`walkthrough`] writes each release's schema file, autogenerates its
//! migrations through the library (what `ebbtide revision --autogenerate`
//! calls), fills in the backfill a user must write, runs expand while
//! release 1 keeps writing, then contract, and checks every claim it
//! prints on the way: a claim that does not hold is an error, not a line
//! of the transcript.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use ebbtide::autogenerate::{self, Engine, Hints, Problem};
use ebbtide::rusqlite::{self, Connection, OptionalExtension as _};
use ebbtide::{Migrations, Migrator, Scope, Verdict};
use ebbtide_core::Dialect;

/// A claim of the walk-through that did not hold, or a failed step.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// Release 1's schema file.
pub const RELEASE1_SCHEMA: &str = "\
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL
);
";

/// Release 2's schema file: `name` is now `full_name`, and every user has
/// an email.
pub const RELEASE2_SCHEMA: &str = "\
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    full_name TEXT NOT NULL,
    email TEXT NOT NULL
);
CREATE INDEX users_email ON users (email);
";

/// What the user writes in place of the email backfill's placeholder.
pub const EMAIL: &str = "lower(replace(full_name, ' ', '.')) || '@example.com'";

/// The rename hint the first attempt lacks.
const RENAME: &str = "users.name=full_name";

/// The transcript, with the commands a reader types to do the same by hand.
struct Transcript {
    dir: PathBuf,
    text: String,
}

impl Transcript {
    fn step(&mut self, title: &str) {
        let _ = write!(self.text, "\n{title}\n");
    }

    /// A command to run in the walk-through's directory.
    fn command(&mut self, line: &str) {
        let _ = writeln!(self.text, "  $ {line}");
    }

    /// What a command prints, or what happened, indented.
    fn output(&mut self, text: impl std::fmt::Display) {
        for line in text.to_string().lines() {
            let _ = writeln!(self.text, "    {line}");
        }
    }

    fn note(&mut self, text: impl std::fmt::Display) {
        for line in text.to_string().lines() {
            let _ = writeln!(self.text, "  {line}");
        }
    }

    /// `path` relative to the walk-through's directory.
    fn relative(&self, path: &Path) -> String {
        path.strip_prefix(&self.dir).unwrap_or(path).display().to_string()
    }
}

/// Fails with `claim` unless `holds`.
fn claim(holds: bool, claim: impl FnOnce() -> String) -> Result<(), Error> {
    if holds { Ok(()) } else { Err(format!("the walk-through's claim does not hold: {}", claim()).into()) }
}

/// Runs the walk-through in `dir` (which must not hold a `migrations`
/// directory yet) and returns its transcript.
pub fn walkthrough(dir: &Path) -> Result<String, Error> {
    let migrations_dir = dir.join("migrations");
    if migrations_dir.exists() {
        return Err(
            format!("{} exists already: run the walk-through in an empty directory", migrations_dir.display()).into()
        );
    }
    let schema_path = dir.join("schema.sql");
    let mut t = Transcript { dir: dir.to_path_buf(), text: String::new() };
    let _ = writeln!(
        t.text,
        "Autogenerate, from release 1 to release 2's contract, on SQLite.\n\
         Every command below runs in {}; `ebbtide` is `cargo install ebbtide --features cli`.",
        dir.display()
    );

    // 1. Release 1: its schema file, its first migration, applied.
    t.step("1. release 1 declares users(id, name NOT NULL) in schema.sql");
    std::fs::write(&schema_path, RELEASE1_SCHEMA)?;
    t.output(RELEASE1_SCHEMA);
    t.command("ebbtide revision --autogenerate -m \"create users\" --release 1");
    let generated = generate(&migrations_dir, RELEASE1_SCHEMA, &Hints::default())?;
    let written = autogenerate::write(&migrations_dir, "create users", Some("1"), &generated.migrations)?;
    claim(written.paths.len() == 2 && written.fill_ins.is_empty(), || {
        format!("release 1's first migration is one expand migration and its down script: {:?}", written.paths)
    })?;
    for path in &written.paths {
        t.output(t.relative(path));
    }
    t.output(std::fs::read_to_string(&written.paths[0])?);

    t.command("ebbtide --database sqlite:app.db sync");
    let release1 = load(&migrations_dir)?;
    let conn = Connection::open(dir.join("app.db"))?;
    let report = Migrator::new(&release1).sqlite(&conn).sync(Scope::All)?;
    t.output(&report);
    t.note("release 1 serves, and inserts two users:");
    conn.execute_batch("INSERT INTO users (name) VALUES ('Ada Lovelace'), ('Grace Hopper');")?;
    t.output("INSERT INTO users (name) VALUES ('Ada Lovelace'), ('Grace Hopper');");

    // 2. Release 2's schema file; a rename cannot be told from a drop and an add.
    t.step("2. release 2 renames name to full_name and adds email NOT NULL, with an index");
    std::fs::write(&schema_path, RELEASE2_SCHEMA)?;
    t.output(RELEASE2_SCHEMA);
    t.command("ebbtide revision --autogenerate -m \"users full name and email\" --release 2");
    let before = files(&migrations_dir)?;
    match generate(&migrations_dir, RELEASE2_SCHEMA, &Hints::default()) {
        Err(GenerateError::Problem(problem @ Problem::Undecided(_))) => {
            let message = problem.to_string();
            claim(message.contains("--rename users.name=full_name") && message.contains("--drop users.name"), || {
                format!("the refusal names the rename and the drop: {message}")
            })?;
            t.output(format!("error: {message}"));
        }
        Err(e) => return Err(e.into()),
        Ok(_) => return Err("the walk-through's claim does not hold: a drop and an add of one type are refused".into()),
    }
    claim(files(&migrations_dir)? == before, || "the refusal writes nothing".into())?;
    t.note("exit 1, nothing written: ebbtide will not guess whether name was renamed or dropped.");

    // 3. With the hint.
    t.step("3. it is a rename: say so");
    t.command(&format!(
        "ebbtide revision --autogenerate -m \"users full name and email\" --release 2 --rename {RENAME}"
    ));
    let mut hints = Hints::default();
    hints.rename(RENAME)?;
    let generated = generate(&migrations_dir, RELEASE2_SCHEMA, &hints)?;
    claim(generated.unreached.is_empty(), || {
        format!("the migrations written reach the schema file; left: {:?}", generated.unreached)
    })?;
    let written = autogenerate::write(&migrations_dir, "users full name and email", Some("2"), &generated.migrations)?;
    for path in &written.paths {
        t.output(t.relative(path));
    }
    for place in &written.fill_ins {
        let place = t.relative(Path::new(place));
        t.output(format!(
            "note: {place}: write the backfill's value in place of the placeholder; the build refuses it until then"
        ));
    }
    let ups: Vec<&PathBuf> = written.paths.iter().filter(|p| !p.to_string_lossy().ends_with(".down.sql")).collect();
    let expand_up: Vec<&&PathBuf> = ups.iter().filter(|p| p.parent().is_some_and(|d| d.ends_with("expand"))).collect();
    let contract_up: Vec<&&PathBuf> =
        ups.iter().filter(|p| p.parent().is_some_and(|d| d.ends_with("contract"))).collect();
    claim(!expand_up.is_empty() && !contract_up.is_empty(), || {
        format!("release 2 gets expand and contract migrations: {:?}", written.paths)
    })?;
    claim(!written.fill_ins.is_empty(), || "email, NOT NULL without a default, gets a placeholder to fill in".into())?;
    for path in &ups {
        let text = std::fs::read_to_string(path)?;
        t.note(format!("{}:", t.relative(path)));
        t.output(text);
    }

    // 4. The build refuses the placeholders until the user writes the value.
    t.step("4. the build refuses the placeholders until they are filled in");
    t.command("ebbtide lint");
    let refused = match ebbtide_core::load_with(&migrations_dir, "migrations", Dialect::Portable) {
        Ok(_) => return Err("the walk-through's claim does not hold: the build refuses a placeholder".into()),
        Err(diagnostics) => diagnostics,
    };
    claim(
        refused.errors().count() == written.fill_ins.len()
            && refused.errors().all(|d| d.message.contains("left this value for you to write")),
        || format!("each placeholder, and nothing else, is refused: {refused:?}"),
    )?;
    for d in refused.errors() {
        t.output(format!("error: {d}"));
    }
    t.output(format!("migrations: {} error(s)", refused.errors().count()));
    t.note(format!("Write the email of the rows that have none, in both files:\n    {EMAIL}"));
    t.command(&format!(
        "sed -i \"s|NULL /\\* ebbtide: fill in: the value of users.email for existing rows \\*/|{}|\" migrations/*/*.sql",
        EMAIL.replace('|', "\\|")
    ));
    let mut filled = 0;
    for path in &ups {
        filled += fill_in(path, "users.email", EMAIL)?;
    }
    claim(filled == written.fill_ins.len(), || format!("{filled} placeholders filled, of {}", written.fill_ins.len()))?;
    t.command("ebbtide lint");
    let loaded = ebbtide_core::load_with(&migrations_dir, "migrations", Dialect::Portable).map_err(|d| {
        format!("the walk-through's claim does not hold: the build accepts the filled-in migrations: {d:?}")
    })?;
    let risks = ebbtide_core::lint::lock_risks_with(&loaded.migrations, Dialect::Portable);
    for w in loaded.warnings.warnings().chain(&risks) {
        t.output(format!("warning: {w}"));
    }
    t.output(format!(
        "migrations: {} migrations, no errors, {} warning(s)",
        loaded.migrations.len(),
        risks.len() + loaded.warnings.warnings().count()
    ));
    t.note(
        "The warnings are PostgreSQL's lock-risk advice; SQLite has no CONCURRENTLY (on PostgreSQL,\n\
         autogenerate builds the index CONCURRENTLY, in a no-transaction migration of its own).\n\
         embed_migrations! applies the same rules: the service builds with these migrations.",
    );
    let release2 = Migrations::from_vec(loaded.migrations);

    // 5. Expand, while release 1 serves.
    t.step("5. expand, while release 1 keeps serving");
    let verdict = Migrator::new(&release2).sqlite(&conn).check()?;
    claim(matches!(verdict, Verdict::Outdated { .. }), || format!("release 2 refuses release 1's schema: {verdict}"))?;
    t.note(format!("release 2, before: {verdict}"));
    t.command("ebbtide --database sqlite:app.db sync --expand");
    let report = Migrator::new(&release2).sqlite(&conn).sync(Scope::Expand)?;
    t.output(&report);
    let verdict = Migrator::new(&release1).sqlite(&conn).check()?;
    claim(verdict.may_serve(), || format!("release 1 serves on the expanded schema: {verdict}"))?;
    t.note(format!("release 1's startup check: {verdict}"));
    let rows = users(&conn, "full_name, email")?;
    claim(rows.iter().all(|r| r[1].is_some() && r[2].is_some()) && rows.len() == 2, || {
        format!("expand backfilled full_name and email of the rows release 1 wrote: {rows:?}")
    })?;
    t.note("the rows already there have full_name (the backfill) and email (your expression):");
    t.output(table(&rows, "id | full_name | email"));

    t.note("release 1 inserts and renames, as it always has:");
    conn.execute("INSERT INTO users (name) VALUES ('Alan Turing')", [])?;
    conn.execute("UPDATE users SET name = 'Grace Brewster Hopper' WHERE name = 'Grace Hopper'", [])?;
    t.output("INSERT INTO users (name) VALUES ('Alan Turing');");
    t.output("UPDATE users SET name = 'Grace Brewster Hopper' WHERE name = 'Grace Hopper';");
    let alan = one(&conn, "SELECT full_name FROM users WHERE name = 'Alan Turing'")?;
    let grace = one(&conn, "SELECT full_name FROM users WHERE name = 'Grace Brewster Hopper'")?;
    claim(alan.as_deref() == Some("Alan Turing") && grace.as_deref() == Some("Grace Brewster Hopper"), || {
        format!("the sync triggers copy release 1's name into full_name: {alan:?}, {grace:?}")
    })?;
    t.note("and the sync triggers keep full_name, which release 2 reads, in step:");
    t.output("SELECT full_name FROM users WHERE name = 'Alan Turing';  -- Alan Turing");
    t.output("SELECT full_name FROM users WHERE name = 'Grace Brewster Hopper';  -- Grace Brewster Hopper");
    let email = one(&conn, "SELECT email FROM users WHERE name = 'Alan Turing'")?;
    claim(email.is_none(), || format!("release 1 writes no email: {email:?}"))?;
    t.note("release 1 writes no email: Alan's stays NULL until contract's backfill.");

    let verdict = Migrator::new(&release2).sqlite(&conn).check()?;
    claim(matches!(verdict, Verdict::ContractPending { .. }), || {
        format!("release 2 serves, contract pending: {verdict}")
    })?;
    t.note(format!("release 2 deploys; its startup check: {verdict}"));
    let refused = conn
        .execute("INSERT INTO users (full_name, email) VALUES ('Edsger Dijkstra', 'edsger@example.com')", [])
        .map_err(|e| e.to_string());
    let Err(refused) = refused else {
        return Err("the walk-through's claim does not hold: SQLite keeps users.name NOT NULL until contract".into());
    };
    claim(refused.contains("users.name"), || format!("the insert fails on users.name: {refused}"))?;
    t.note(
        "on SQLite, expand cannot make name nullable (that takes a table rebuild, a contract change),\n\
         so until contract release 2 writes name too; without it:",
    );
    t.output("INSERT INTO users (full_name, email) VALUES ('Edsger Dijkstra', 'edsger@example.com');");
    t.output(format!("error: {refused}"));
    conn.execute(
        "INSERT INTO users (name, full_name, email) VALUES ('Edsger Dijkstra', 'Edsger Dijkstra', 'edsger@example.com')",
        [],
    )?;
    conn.execute("UPDATE users SET full_name = 'Augusta Ada King' WHERE full_name = 'Ada Lovelace'", [])?;
    t.output(
        "INSERT INTO users (name, full_name, email) VALUES ('Edsger Dijkstra', 'Edsger Dijkstra', 'edsger@example.com');",
    );
    t.output("UPDATE users SET full_name = 'Augusta Ada King' WHERE full_name = 'Ada Lovelace';");
    let ada = one(&conn, "SELECT name FROM users WHERE full_name = 'Augusta Ada King'")?;
    claim(ada.as_deref() == Some("Augusta Ada King"), || {
        format!("release 2's rename reaches release 1's name: {ada:?}")
    })?;
    t.note("release 1 reads release 2's rename in name:");
    t.output("SELECT name FROM users WHERE full_name = 'Augusta Ada King';  -- Augusta Ada King");

    // 6. Contract, once release 1 is gone.
    t.step("6. release 1 is gone: contract");
    t.command("ebbtide --database sqlite:app.db sync --contract");
    let report = Migrator::new(&release2).sqlite(&conn).sync(Scope::Contract)?;
    t.output(&report);
    let verdict = Migrator::new(&release2).sqlite(&conn).check()?;
    claim(verdict == Verdict::Current, || format!("release 2's schema is current: {verdict}"))?;
    t.note(format!("release 2's startup check: {verdict}"));
    let verdict = Migrator::new(&release1).sqlite(&conn).check()?;
    claim(!verdict.may_serve(), || format!("release 1 refuses the contracted schema: {verdict}"))?;
    t.note(format!("release 1, started again, refuses: {verdict}"));
    conn.execute("INSERT INTO users (full_name, email) VALUES ('Barbara Liskov', 'barbara@example.com')", [])?;
    t.note("release 2 inserts without name now:");
    t.output("INSERT INTO users (full_name, email) VALUES ('Barbara Liskov', 'barbara@example.com');");
    let rows = users(&conn, "full_name, email")?;
    claim(rows.len() == 5 && rows.iter().all(|r| r[1].is_some() && r[2].is_some()), || {
        format!("every row has full_name and email: {rows:?}")
    })?;
    t.note("every user, with the email contract's backfill gave Alan:");
    t.output(table(&rows, "id | full_name | email"));

    // 7. Nothing left between the migrations, the database and the schema file.
    t.step("7. diff: nothing separates the migrations, the schema file and the database");
    t.command("ebbtide diff");
    let differences = autogenerate::schema_diff(&release2, RELEASE2_SCHEMA, &Engine::Sqlite)?;
    claim(differences.is_empty(), || format!("the migrations build the schema file: {differences:?}"))?;
    t.output("no difference between what the migrations in migrations build and schema.sql");
    t.command("ebbtide --database sqlite:app.db diff");
    let url = format!("sqlite:{}", dir.join("app.db").display());
    let differences = autogenerate::drift(&url, &release2, &Engine::Sqlite)?;
    claim(differences.is_empty(), || format!("the database is what its migrations build: {differences:?}"))?;
    t.output("no difference between the database and what its recorded migrations in migrations build");
    t.note("exit 0 for both (2 would mean differences, one +/-/~ line each).");
    Ok(t.text)
}

/// Why [`generate`] stopped.
#[derive(Debug)]
enum GenerateError {
    Load(String),
    Problem(Problem),
}

impl std::fmt::Display for GenerateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GenerateError::Load(e) => f.write_str(e),
            GenerateError::Problem(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for GenerateError {}

/// What `ebbtide revision --autogenerate` does before it writes: the
/// migrations of `dir` (none yet: an empty list) against the schema file.
fn generate(dir: &Path, schema: &str, hints: &Hints) -> Result<autogenerate::Generated, GenerateError> {
    let migrations = if dir.exists() {
        load(dir).map_err(|e| GenerateError::Load(e.to_string()))?
    } else {
        Migrations::from_vec(Vec::new())
    };
    autogenerate::generate(&migrations, schema, &Engine::Sqlite, hints).map_err(GenerateError::Problem)
}

/// The migrations of `dir`, read with the build-time rules, as the command
/// line reads them.
fn load(dir: &Path) -> Result<Migrations, Error> {
    match ebbtide_core::load_with(dir, "migrations", Dialect::Portable) {
        Ok(loaded) => Ok(Migrations::from_vec(loaded.migrations)),
        Err(diagnostics) => Err(diagnostics.errors().map(ToString::to_string).collect::<Vec<_>>().join("\n").into()),
    }
}

/// Every file under `dir`, sorted.
fn files(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let mut out = Vec::new();
    for branch in std::fs::read_dir(dir)? {
        let branch = branch?.path();
        if branch.is_dir() {
            for file in std::fs::read_dir(&branch)? {
                out.push(file?.path());
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Replaces the placeholders of `column` in `path` by `value`, as a user
/// does in an editor; returns how many.
fn fill_in(path: &Path, column: &str, value: &str) -> Result<usize, Error> {
    let text = std::fs::read_to_string(path)?;
    let placeholder = format!("NULL {}: the value of {column} for existing rows */", autogenerate::FILL_IN);
    let count = text.matches(&placeholder).count();
    if count > 0 {
        std::fs::write(path, text.replace(&placeholder, value))?;
    }
    Ok(count)
}

/// Every row of `users`: its id, then `columns`.
fn users(conn: &Connection, columns: &str) -> rusqlite::Result<Vec<Vec<Option<String>>>> {
    let mut stmt = conn.prepare(&format!("SELECT CAST(id AS TEXT), {columns} FROM users ORDER BY id"))?;
    let width = stmt.column_count();
    let rows = stmt.query_map([], |row| (0..width).map(|i| row.get::<_, Option<String>>(i)).collect())?;
    rows.collect()
}

fn one(conn: &Connection, sql: &str) -> rusqlite::Result<Option<String>> {
    conn.query_row(sql, [], |row| row.get::<_, Option<String>>(0)).optional().map(Option::flatten)
}

fn table(rows: &[Vec<Option<String>>], header: &str) -> String {
    let mut out = format!("{header}\n");
    for row in rows {
        let cells: Vec<&str> = row.iter().map(|c| c.as_deref().unwrap_or("NULL")).collect();
        let _ = writeln!(out, "{}", cells.join(" | "));
    }
    out
}

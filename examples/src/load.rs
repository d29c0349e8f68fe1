//! Zero downtime under load: two releases of a service write and read
//! continuously while the upgrade between them runs, against a long
//! transaction in the way of every schema change and a backfill of a large
//! table; [`run`] measures what the service saw.
//!
//! The service is the one of [`crate::rolling`]: release 1 stores
//! `users(name)`, release 2 `first_name` and `last_name`; release 2's expand
//! migrations add the new columns with triggers keeping both shapes in sync
//! and backfill the existing rows in batches; its contract migration drops
//! the triggers and `name`. The scenario, on PostgreSQL, SQLite,
//! MySQL/MariaDB or a MariaDB Galera cluster:
//!
//! 1. release 1's schema, seeded with `rows` users;
//! 2. release 1's writers start (each inserts, renames and reads back users
//!    of its own, timing every operation), and so does the *blocker*: a
//!    session that keeps a transaction reading `users` open for `hold`,
//!    again and again;
//! 3. `sync --expand` of release 2 in a process of its own, as a deploy job
//!    runs it, started while the blocker holds its transaction;
//! 4. deploy: release 2's writers start, then release 1's stop; every row
//!    must read the same in both shapes;
//! 5. `sync --contract` in a process of its own, again behind the blocker;
//! 6. release 2's writers stop; every row written must read back as
//!    written, and release 1, restarted, must refuse the schema.
//!
//! The migrations run in a child process: the program calling [`run`] must
//! call [`sync_child`] first thing in `main` (it re-executes itself).
//!
//! What a blocker means differs between engines. On PostgreSQL a
//! transaction that read `users` holds an `ACCESS SHARE` lock until it
//! ends, and every `ALTER TABLE`/`DROP TRIGGER` of `users` needs
//! `ACCESS EXCLUSIVE`: the migration waits, and every query of the table
//! queues behind it. ebbtide waits at most its lock timeout, rolls back and
//! retries. On SQLite in WAL mode readers never block a writer, schema
//! changes included: the blocker is the same long reading transaction (a
//! report, a backup), and it delays nothing. The one lock there is the
//! database's write lock, which every writer, the migration included,
//! holds in turn for one transaction.
//!
//! On MySQL and MariaDB a transaction that read `users` holds a shared
//! metadata lock until it ends, and every `ALTER TABLE`, `CREATE TRIGGER`
//! and `DROP TRIGGER` of `users` needs an exclusive one: as on PostgreSQL,
//! the migration waits and every query of the table queues behind it. The
//! difference is the wait: ebbtide sets `lock_wait_timeout`, which counts
//! whole seconds, so a 250 ms lock timeout is a 1 s wait there. Release 2's
//! expand and contract are one migration per statement
//! (`zero_downtime/mysql`), since MySQL commits each schema change on its
//! own.
//!
//! On a MariaDB Galera cluster (the same migrations, run through node 1,
//! instance `i` of each release writing through node `i % n`, the blocker
//! on the last node) schema changes run in total order isolation: a DDL
//! statement waits for no transaction, it aborts every transaction in its
//! way on every node, which gets error 1213 (deadlock) at its next
//! statement or commit. The blocker's transaction is aborted, not waited
//! for, and so is any writer's statement the DDL meets. As Galera's
//! documentation says, the application must retry such a transaction: the
//! writers retry an operation that fails with 1213 or 1205 (lock wait
//! timeout) up to `write_retries` times, and count it.

mod mysql;
mod postgres;
mod sqlite;

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::io::Write as _;
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread;
use std::time::{Duration, Instant};

use ebbtide::{Event, Migrator, Scope, Verdict};

/// The name the blocker's session gives itself (PostgreSQL's
/// `application_name`): the lock retries name it.
pub const BLOCKER: &str = "zero-downtime-blocker";

/// A failure of the scenario itself (not a measured failure).
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// `error` and its sources, `: ` between them (a driver's error often says
/// what went wrong only in its source).
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let more = e.to_string();
        if !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        source = e.source();
    }
    text
}

/// The database engine the scenario runs on.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Engine {
    /// A PostgreSQL database, empty, at `Options::url`.
    Postgres,
    /// A SQLite file in WAL mode at `Options::url` (a path), created.
    Sqlite,
    /// A MySQL or MariaDB database, empty, at `Options::url`.
    Mysql,
    /// A MariaDB Galera cluster: the database, empty, at `Options::url`
    /// (through one node) and at each of `Options::nodes`.
    Galera,
}

impl Engine {
    fn name(self) -> &'static str {
        match self {
            Engine::Postgres => "postgres",
            Engine::Sqlite => "sqlite",
            Engine::Mysql => "mysql",
            Engine::Galera => "galera",
        }
    }

    /// The engine [`Engine::name`] names.
    fn named(name: &str) -> Option<Engine> {
        [Engine::Postgres, Engine::Sqlite, Engine::Mysql, Engine::Galera].into_iter().find(|e| e.name() == name)
    }

    fn backend(self, url: &str, nodes: &[String], application: SqliteApplication) -> Box<dyn Backend> {
        match self {
            Engine::Postgres => Box::new(postgres::Postgres { url: url.to_string() }),
            Engine::Sqlite => Box::new(sqlite::Sqlite { path: url.into(), application }),
            Engine::Mysql => Box::new(mysql::Mysql { url: url.to_string(), nodes: Vec::new() }),
            Engine::Galera => Box::new(mysql::Mysql { url: url.to_string(), nodes: nodes.to_vec() }),
        }
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How the application's SQLite connections wait for the write lock and
/// checkpoint the WAL (the migration's connection keeps ebbtide's and
/// SQLite's defaults).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct SqliteApplication {
    /// Poll for the write lock every millisecond (a busy handler) instead
    /// of SQLite's busy timeout, whose sleeps between two tries grow to
    /// 100 ms: a writer then misses every short gap between two batches
    /// of a backfill that falls inside one of its sleeps.
    pub busy_poll: bool,
    /// Checkpoint the WAL from a thread of its own (`PRAGMA
    /// wal_checkpoint(PASSIVE)` every 250 ms) with automatic checkpoints
    /// off on the writers' connections: otherwise the writer whose commit
    /// crosses SQLite's threshold (1,000 pages) copies the WAL into the
    /// database before its commit returns, which after a backfill is
    /// every page the backfill wrote.
    pub checkpointer: bool,
}

/// What to run.
#[derive(Clone, Debug)]
pub struct Options {
    pub engine: Engine,
    /// PostgreSQL: the URL of an empty database. SQLite: the path of a
    /// database file that does not exist yet. Galera: the database's URL
    /// through the node the migrations run through.
    pub url: String,
    /// Galera: the database's URL through each node. Instance `i` of a
    /// release writes through node `i % nodes.len()`; the blocker's
    /// session is on the last node. Empty for the other engines.
    pub nodes: Vec<String>,
    /// Users in the table before the upgrade (the backfill's rows).
    pub rows: u64,
    /// Writers per release.
    pub writers: usize,
    /// The pause of each writer between two rounds (insert, rename, read).
    pub pause: Duration,
    /// How long the blocker keeps each of its transactions open.
    pub hold: Duration,
    /// How long the blocker waits between two transactions.
    pub gap: Duration,
    /// How long the writers run before, between and after the syncs.
    pub settle: Duration,
    /// ebbtide's lock timeout (`Duration::ZERO`: off).
    pub lock_timeout: Duration,
    /// ebbtide's lock retry budget (`Duration::ZERO`: off).
    pub lock_retry: Duration,
    /// How many times a failed sync is run again, as an operator would,
    /// a second apart.
    pub reruns: u32,
    /// How many times a writer tries an operation again when the engine
    /// says it may succeed then (MySQL: deadlock or certification failure,
    /// 1213; lock wait timeout, 1205): what a Galera application must do.
    /// 0: never, the operation fails.
    pub write_retries: u32,
    /// SQLite: the application's connection settings.
    pub sqlite: SqliteApplication,
}

impl Options {
    /// The full-size run with ebbtide's defaults: 1,000,000 rows, a blocker
    /// holding its transaction 3 s with 1 s between two.
    pub fn new(engine: Engine, url: impl Into<String>) -> Options {
        Options {
            engine,
            url: url.into(),
            nodes: Vec::new(),
            rows: 1_000_000,
            writers: 2,
            pause: Duration::from_millis(1),
            hold: Duration::from_secs(3),
            gap: Duration::from_secs(1),
            settle: Duration::from_secs(2),
            lock_timeout: ebbtide::DEFAULT_LOCK_TIMEOUT,
            lock_retry: ebbtide::DEFAULT_LOCK_RETRY,
            reruns: 30,
            write_retries: 5,
            sqlite: SqliteApplication::default(),
        }
    }
}

/// What one sync (`--expand` or `--contract`) did, over all its runs.
#[derive(Clone, Debug, Default)]
pub struct SyncOutcome {
    /// Runs of the sync process: 1 unless it failed and was run again.
    pub runs: u32,
    /// Whether its last run succeeded.
    pub succeeded: bool,
    /// The failed runs' errors.
    pub errors: Vec<String>,
    /// Lock retries (`Event::LockRetry`), over all runs.
    pub retries: u32,
    /// Time spent waiting for locks and between attempts, over all runs:
    /// for each retried step, how long it was retried until its attempt
    /// that went through.
    pub retry_wait: Duration,
    /// Who held the locks in the way, as the retries named them.
    pub blockers: BTreeSet<String>,
    /// Each retry: how long its step had been tried when the attempt gave
    /// up, and the pause before the next.
    pub retry_log: Vec<(Duration, Duration)>,
    /// Batches of backfills done.
    pub batches: u64,
    /// From the first run's start to the last run's end.
    pub wall: Duration,
}

impl SyncOutcome {
    /// Whether the sync succeeded at its first run.
    pub fn first_time(&self) -> bool {
        self.succeeded && self.runs == 1
    }
}

/// The stretch of the scenario an operation ran in.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    /// Release 1 alone, before the upgrade.
    Before,
    /// `sync --expand` running (the backfill included).
    Expand,
    /// Expanded; release 2 deploying while release 1 still serves.
    Deploy,
    /// `sync --contract` running.
    Contract,
    /// Release 2 alone, contracted.
    After,
}

impl Phase {
    /// Every phase, in order.
    pub const ALL: [Phase; 5] = [Phase::Before, Phase::Expand, Phase::Deploy, Phase::Contract, Phase::After];
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Before => "before expand",
            Phase::Expand => "expand",
            Phase::Deploy => "deploy",
            Phase::Contract => "contract",
            Phase::After => "after contract",
        })
    }
}

/// The writers' operations in one phase.
#[derive(Clone, Debug, Default)]
pub struct PhaseStats {
    pub ops: u64,
    /// The longest operation.
    pub longest: Duration,
    /// What the longest operation was: release and kind.
    pub longest_op: String,
    pub p99: Duration,
}

/// The writers through one node of a cluster (through the one server,
/// elsewhere).
#[derive(Clone, Debug, Default)]
pub struct NodeStats {
    /// Instances of either release writing through it.
    pub writers: usize,
    pub ops: u64,
    /// Operations per phase, in the order of [`Phase::ALL`].
    pub phase_ops: Vec<u64>,
    pub failed_writes: u64,
    pub retried_writes: u64,
    /// Its longest operation.
    pub longest: Duration,
}

/// What the service saw, and what the syncs did.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub engine: Engine,
    pub rows: u64,
    pub writers: usize,
    pub lock_timeout: Duration,
    pub lock_retry: Duration,
    pub sqlite: SqliteApplication,
    /// Operations of every writer (inserts, renames, reads).
    pub ops: u64,
    /// From the first writer's start to the last writer's end.
    pub wall: Duration,
    /// Tries again of an operation the engine aborted (see
    /// [`Options::write_retries`]).
    pub write_retries: u32,
    /// Inserts and renames that returned an error (after their tries
    /// again, if any).
    pub failed_writes: u64,
    /// Reads that returned an error.
    pub failed_reads: u64,
    /// Inserts and renames that failed at least once with an error the
    /// engine says may pass when tried again (a transaction aborted: a
    /// deadlock or certification failure, a lock wait timeout), whether
    /// tried again or not.
    pub aborted_writes: u64,
    /// Inserts and renames tried again, whether they then went through.
    pub retried_writes: u64,
    /// Reads aborted that way.
    pub aborted_reads: u64,
    /// Reads tried again.
    pub retried_reads: u64,
    /// The writers through each node (one entry off a cluster).
    pub nodes: Vec<NodeStats>,
    /// Reads by a writer that returned another value than it wrote.
    pub wrong_reads: u64,
    /// Rows that read wrong when checked after a release's writers stopped:
    /// in the other release's shape, or the two shapes disagreeing, or a
    /// seeded row not backfilled as expected.
    pub wrong_rows: u64,
    /// Every row checked that way.
    pub rows_checked: u64,
    /// The first errors and wrong reads, for the record.
    pub samples: Vec<String>,
    /// The longest operation of all.
    pub longest: Duration,
    pub longest_op: String,
    pub p99: Duration,
    pub phases: Vec<(Phase, PhaseStats)>,
    pub expand: SyncOutcome,
    pub contract: SyncOutcome,
    /// The blocker's transactions.
    pub blocker_transactions: u64,
    /// The blocker's transactions aborted by the server (Galera: by a
    /// schema change), not waited for.
    pub blocker_aborted: u64,
    /// Release 1's startup check after expand (it must serve on).
    pub old_release_after_expand: String,
    /// Release 1's startup check after contract (it must refuse).
    pub old_release_after_contract: String,
    pub old_release_refused: bool,
}

impl Outcome {
    /// Who the lock retries of both syncs named as in the way.
    pub fn blockers(&self) -> BTreeSet<&str> {
        self.expand.blockers.iter().chain(&self.contract.blockers).map(String::as_str).collect()
    }

    /// Operations per second, over the whole run.
    pub fn ops_per_second(&self) -> f64 {
        self.ops as f64 / self.wall.as_secs_f64().max(1e-9)
    }

    /// Whether every target was met: no failed write or read, no wrong
    /// read, both syncs through at their first run, the old release
    /// refusing after contract, and no operation stalled for `stall`.
    pub fn met(&self, stall: Duration) -> bool {
        self.failed_writes == 0
            && self.failed_reads == 0
            && self.wrong_reads == 0
            && self.wrong_rows == 0
            && self.expand.first_time()
            && self.contract.first_time()
            && self.old_release_refused
            && self.longest < stall
    }
}

/// The startup check's verdict for one release, as text.
fn verdict_text(verdict: &Verdict) -> String {
    verdict.to_string().replace('\n', " ")
}

/// A user's name, in release 2's shape; release 1 stores [`Name::full`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Name {
    pub first: String,
    pub last: Option<String>,
}

impl Name {
    /// What release 1 stores.
    pub fn full(&self) -> String {
        match &self.last {
            Some(last) => format!("{} {last}", self.first),
            None => self.first.clone(),
        }
    }

    /// A full name as release 2 sees it, split at its first space.
    pub fn split(full: &str) -> Name {
        match full.split_once(' ') {
            Some((first, last)) => Name { first: first.into(), last: (!last.is_empty()).then(|| last.into()) },
            None => Name { first: full.into(), last: None },
        }
    }

    /// The `n`-th name a writer uses: one in three has no last name.
    fn nth(prefix: &str, n: u64) -> Name {
        Name { first: format!("{prefix}{n}"), last: (!n.is_multiple_of(3)).then(|| format!("Last{n}")) }
    }
}

/// A release of the service.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Release {
    One,
    Two,
}

impl fmt::Display for Release {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Release::One => "release 1",
            Release::Two => "release 2",
        })
    }
}

/// One instance of a release: its connection and its queries, in its
/// shape of `users`.
pub(crate) trait Service: Send {
    fn insert(&mut self, name: &Name) -> Result<i64, Error>;
    fn rename(&mut self, id: i64, name: &Name) -> Result<(), Error>;
    fn read(&mut self, id: i64) -> Result<Name, Error>;
    /// Whether `error` says that the server aborted the operation and
    /// that trying it again may succeed (a deadlock, a certification
    /// failure, a lock wait timeout).
    fn retryable(&self, _error: &Error) -> bool {
        false
    }
}

/// What the blocker did.
#[derive(Copy, Clone, Debug, Default)]
pub(crate) struct Blocked {
    /// Transactions opened.
    pub transactions: u64,
    /// Of those, aborted by the server instead of committed.
    pub aborted: u64,
}

/// What the scenario needs of an engine.
pub(crate) trait Backend: Send + Sync {
    /// Release 1's schema, with `rows` users: user `i` is named
    /// `First<i> Last<i>`, or `Solo<i>` when `i` is a multiple of 3.
    fn prepare(&self, rows: u64) -> Result<(), Error>;
    /// The nodes the instances write through: a cluster's, or 1.
    fn nodes(&self) -> usize {
        1
    }
    /// An instance of `release` writing through `node` (below
    /// [`Backend::nodes`]), after its startup check there said it may
    /// serve.
    fn start(&self, release: Release, node: usize) -> Result<Box<dyn Service>, Error>;
    /// `release`'s startup check, on a connection of its own.
    fn check(&self, release: Release) -> Result<Verdict, Error>;
    /// Keeps opening a transaction that reads `users` and holding it open
    /// for `hold`, `gap` apart, until `stop`; tells `opened` after each
    /// read. A transaction the server aborts is counted, not an error.
    fn block(&self, hold: Duration, gap: Duration, stop: &AtomicBool, opened: &Sender<()>) -> Result<Blocked, Error>;
    /// Rows whose two shapes disagree (before contract).
    fn shapes_disagree(&self) -> Result<u64, Error>;
    /// Seeded rows (ids up to `rows`) whose names are not the ones seeded
    /// (after contract, in release 2's shape).
    fn seeded_wrong(&self, rows: u64) -> Result<u64, Error>;
    /// Every user above id `from`, in release 2's shape.
    fn users_above(&self, from: u64) -> Result<Vec<(i64, Name)>, Error>;
    /// The application's own upkeep of the database beside its writers,
    /// until `stop` (SQLite: a checkpointer, if asked for).
    fn housekeeping(&self, _stop: &AtomicBool) -> Result<(), Error> {
        Ok(())
    }
    /// Runs `sync` of release 2's migrations (in the child process).
    fn sync(&self, migrator: Migrator<'_>, scope: Scope) -> Result<ebbtide::Report, Error>;
}

/// Which migrations a backend embeds.
pub(crate) fn migrations(engine: Engine, release: Release) -> &'static ebbtide::Migrations {
    match (engine, release) {
        (Engine::Postgres, Release::One) => &postgres::release1::migrations::MIGRATIONS,
        (Engine::Postgres, Release::Two) => &postgres::release2::migrations::MIGRATIONS,
        (Engine::Sqlite, Release::One) => &sqlite::release1::migrations::MIGRATIONS,
        (Engine::Sqlite, Release::Two) => &sqlite::release2::migrations::MIGRATIONS,
        (Engine::Mysql | Engine::Galera, Release::One) => &mysql::release1::migrations::MIGRATIONS,
        (Engine::Mysql | Engine::Galera, Release::Two) => &mysql::release2::migrations::MIGRATIONS,
    }
}

/// What a writer shares with the scenario.
struct Control {
    stop: AtomicBool,
    phase: AtomicUsize,
    pause: Duration,
    /// [`Options::write_retries`].
    retries: u32,
    /// The backend's nodes.
    nodes: usize,
}

/// One operation's kind, for the record of the longest.
#[derive(Copy, Clone, Debug)]
enum Op {
    Insert,
    Rename,
    Read,
}

/// How an operation went through its tries.
#[derive(Copy, Clone, Debug, Default)]
struct Tries {
    /// Tries after the first.
    again: u32,
    /// Whether a try failed with an error the engine says may pass when
    /// tried again.
    aborted: bool,
}

/// Runs `op` on `service`, and again, up to `retries` times, while it fails
/// with an error the service says may pass when tried again: what an
/// application on a Galera cluster does with a transaction aborted.
fn attempt<T>(
    service: &mut dyn Service,
    retries: u32,
    op: impl Fn(&mut dyn Service) -> Result<T, Error>,
) -> (Result<T, Error>, Tries) {
    let mut tries = Tries::default();
    loop {
        match op(service) {
            Err(e) if service.retryable(&e) => {
                tries.aborted = true;
                if tries.again == retries {
                    return (Err(e), tries);
                }
                tries.again += 1;
            }
            result => return (result, tries),
        }
    }
}

/// What one writer saw.
struct Writer {
    release: Release,
    /// The node it writes through.
    node: usize,
    /// Operation latencies in microseconds, per phase.
    latencies: Vec<Vec<u32>>,
    /// The longest operation per phase, and what it was.
    longest: Vec<(Duration, String)>,
    failed_writes: u64,
    failed_reads: u64,
    aborted_writes: u64,
    retried_writes: u64,
    aborted_reads: u64,
    retried_reads: u64,
    wrong_reads: u64,
    samples: Vec<String>,
    /// Every user it wrote, as last written.
    written: HashMap<i64, Name>,
    started: Instant,
    ended: Instant,
}

impl Writer {
    fn timed<T>(&mut self, control: &Control, op: Op, f: impl FnOnce() -> T) -> T {
        let phase = control.phase.load(Ordering::Relaxed);
        let started = Instant::now();
        let result = f();
        let took = started.elapsed();
        self.latencies[phase].push(took.as_micros().min(u128::from(u32::MAX)) as u32);
        if took > self.longest[phase].0 {
            self.longest[phase] = (took, format!("{op:?} by {}", self.release).to_lowercase());
        }
        result
    }

    /// Counts an operation's tries.
    fn tried(&mut self, op: Op, tries: Tries) {
        let (aborted, retried) = match op {
            Op::Insert | Op::Rename => (&mut self.aborted_writes, &mut self.retried_writes),
            Op::Read => (&mut self.aborted_reads, &mut self.retried_reads),
        };
        *aborted += u64::from(tries.aborted);
        *retried += u64::from(tries.again > 0);
    }

    /// Keeps the first few failures, with the phase and, on a cluster,
    /// the node.
    fn sample(&mut self, control: &Control, what: String) {
        if self.samples.len() < 5 {
            let phase = Phase::ALL[control.phase.load(Ordering::Relaxed)];
            let node = if control.nodes > 1 { format!(" through node {}", self.node + 1) } else { String::new() };
            self.samples.push(format!("{what} (during {phase}{node})"));
        }
    }
}

/// A small pseudo-random sequence (xorshift), to pick users to rename and
/// read without a dependency.
struct Dice(u64);

impl Dice {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// Writes until told to stop: each round inserts a user, renames one of
/// its users and reads one back, each operation timed.
fn write(mut service: Box<dyn Service>, release: Release, index: usize, node: usize, control: Arc<Control>) -> Writer {
    let prefix = match release {
        Release::One => format!("Old{index}x"),
        Release::Two => format!("New{index}x"),
    };
    let now = Instant::now();
    let mut w = Writer {
        release,
        node,
        latencies: vec![Vec::new(); Phase::ALL.len()],
        longest: vec![(Duration::ZERO, String::new()); Phase::ALL.len()],
        failed_writes: 0,
        failed_reads: 0,
        aborted_writes: 0,
        retried_writes: 0,
        aborted_reads: 0,
        retried_reads: 0,
        wrong_reads: 0,
        samples: Vec::new(),
        written: HashMap::new(),
        started: now,
        ended: now,
    };
    let mut ids = Vec::new();
    let mut dice = Dice(0x9E37_79B9_7F4A_7C15 ^ ((index as u64 + 1) * 7919));
    let retries = control.retries;
    let mut n = 0;
    while !control.stop.load(Ordering::Relaxed) {
        n += 1;
        let name = Name::nth(&prefix, n);
        let (inserted, tries) = w.timed(&control, Op::Insert, || attempt(&mut *service, retries, |s| s.insert(&name)));
        w.tried(Op::Insert, tries);
        match inserted {
            Ok(id) => {
                ids.push(id);
                w.written.insert(id, name);
            }
            Err(e) => {
                w.failed_writes += 1;
                w.sample(&control, format!("{release} failed to insert: {e}"));
            }
        }
        if !ids.is_empty() {
            let id = ids[dice.below(ids.len())];
            let name = Name::nth(&format!("{prefix}Renamed"), n);
            let (renamed, tries) =
                w.timed(&control, Op::Rename, || attempt(&mut *service, retries, |s| s.rename(id, &name)));
            w.tried(Op::Rename, tries);
            match renamed {
                Ok(()) => {
                    w.written.insert(id, name);
                }
                Err(e) => {
                    w.failed_writes += 1;
                    w.sample(&control, format!("{release} failed to rename user {id}: {e}"));
                }
            }
            let id = ids[dice.below(ids.len())];
            let (read, tries) = w.timed(&control, Op::Read, || attempt(&mut *service, retries, |s| s.read(id)));
            w.tried(Op::Read, tries);
            match read {
                Ok(read) if read == w.written[&id] => {}
                Ok(read) => {
                    w.wrong_reads += 1;
                    let wrote = &w.written[&id];
                    w.sample(&control, format!("{release} read user {id} as {read:?}, wrote {wrote:?}"));
                }
                Err(e) => {
                    w.failed_reads += 1;
                    w.sample(&control, format!("{release} failed to read user {id}: {e}"));
                }
            }
        }
        thread::sleep(control.pause);
    }
    w.ended = Instant::now();
    w
}

/// Writers of one release, running.
struct Writers {
    control: Arc<Control>,
    threads: Vec<thread::JoinHandle<Writer>>,
}

impl Writers {
    /// Starts `count` instances of `release`, each writing on a thread,
    /// instance `i` through node `i` modulo the backend's nodes.
    fn start(
        backend: &dyn Backend,
        release: Release,
        count: usize,
        phase: Phase,
        options: &Options,
    ) -> Result<Writers, Error> {
        let control = Arc::new(Control {
            stop: AtomicBool::new(false),
            phase: AtomicUsize::new(phase as usize),
            pause: options.pause,
            retries: options.write_retries,
            nodes: backend.nodes(),
        });
        let mut threads = Vec::new();
        for index in 0..count {
            let node = index % backend.nodes();
            let service = backend.start(release, node)?;
            let control = control.clone();
            threads.push(thread::spawn(move || write(service, release, index, node, control)));
        }
        Ok(Writers { control, threads })
    }

    fn set_phase(&self, phase: Phase) {
        self.control.phase.store(phase as usize, Ordering::Relaxed);
    }

    fn stop(self) -> Result<Vec<Writer>, Error> {
        self.control.stop.store(true, Ordering::Relaxed);
        self.threads.into_iter().map(|t| t.join().map_err(|_| Error::from("a writer panicked"))).collect()
    }
}

/// The blocker, running on a thread of its own.
struct Blocker {
    stop: Arc<AtomicBool>,
    opened: Receiver<()>,
    thread: thread::JoinHandle<Result<Blocked, Error>>,
}

impl Blocker {
    fn start(backend: Arc<dyn Backend>, hold: Duration, gap: Duration) -> Blocker {
        let stop = Arc::new(AtomicBool::new(false));
        let (tell, opened) = mpsc::channel();
        let thread = thread::spawn({
            let stop = stop.clone();
            move || backend.block(hold, gap, &stop, &tell)
        });
        Blocker { stop, opened, thread }
    }

    /// Waits until the blocker opens its next transaction, so that a sync
    /// started now finds it in the way.
    fn next_transaction(&self, within: Duration) -> Result<(), Error> {
        while self.opened.try_recv().is_ok() {}
        self.opened.recv_timeout(within).map_err(|_| Error::from("the blocker opened no transaction"))
    }

    fn stop(self) -> Result<Blocked, Error> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().map_err(|_| Error::from("the blocker panicked"))?
    }
}

/// The application's upkeep, on a thread of its own.
struct Housekeeping {
    stop: Arc<AtomicBool>,
    thread: thread::JoinHandle<Result<(), Error>>,
}

impl Housekeeping {
    fn start(backend: Arc<dyn Backend>) -> Housekeeping {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = thread::spawn({
            let stop = stop.clone();
            move || backend.housekeeping(&stop)
        });
        Housekeeping { stop, thread }
    }

    fn stop(self) -> Result<(), Error> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().map_err(|_| Error::from("the housekeeping thread panicked"))?
    }
}

const CHILD_SCOPE: &str = "EBBTIDE_ZERO_DOWNTIME_SYNC";
const CHILD_ENGINE: &str = "EBBTIDE_ZERO_DOWNTIME_ENGINE";
const CHILD_URL: &str = "EBBTIDE_ZERO_DOWNTIME_URL";
const CHILD_LOCK_TIMEOUT: &str = "EBBTIDE_ZERO_DOWNTIME_LOCK_TIMEOUT_MS";
const CHILD_LOCK_RETRY: &str = "EBBTIDE_ZERO_DOWNTIME_LOCK_RETRY_MS";

/// The sync process's side: when this process was started by [`run`] to
/// run a sync, runs it and returns the exit code; otherwise `None`. Call it
/// first thing in `main` of any program that calls [`run`].
///
/// It prints one line per event on stdout, tab-separated: `retry`, the
/// step, the attempt, ms waited, ms to the next attempt, the blockers;
/// `batch`, the batches done; and last `ok` or `error` with the message.
pub fn sync_child() -> Option<ExitCode> {
    let scope = std::env::var(CHILD_SCOPE).ok()?;
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let ms = |name: &str| Duration::from_millis(var(name).parse().unwrap_or(0));
    let engine = Engine::named(&var(CHILD_ENGINE)).unwrap_or(Engine::Sqlite);
    let scope = if scope == "contract" { Scope::Contract } else { Scope::Expand };
    let say = |line: String| {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", line.replace('\n', " "));
        let _ = out.flush();
    };
    let migrator = Migrator::new(migrations(engine, Release::Two))
        .lock_timeout(ms(CHILD_LOCK_TIMEOUT))
        .lock_retry(ms(CHILD_LOCK_RETRY))
        .observe(move |event| match event {
            Event::LockRetry { step, attempt, waited, retry_in, blockers, .. } => {
                let blockers: Vec<String> = blockers
                    .iter()
                    .map(|b| match b.application.as_str() {
                        "" => format!("server process {} ({})", b.pid, b.state),
                        application => format!("{application} ({})", b.state),
                    })
                    .collect();
                say(format!(
                    "retry\t{step}\t{attempt}\t{}\t{}\t{}",
                    waited.as_millis(),
                    retry_in.as_millis(),
                    blockers.join("; ")
                ));
            }
            Event::Batch { batches, .. } => say(format!("batch\t{batches}")),
            _ => {}
        });
    let result = engine.backend(&var(CHILD_URL), &[], SqliteApplication::default()).sync(migrator, scope);
    let mut out = std::io::stdout().lock();
    match result {
        Ok(report) => {
            let _ = writeln!(out, "ok\t{}", report.to_string().replace('\n', "; "));
            Some(ExitCode::SUCCESS)
        }
        Err(e) => {
            let _ = writeln!(out, "error\t{}", chain(&*e).replace('\n', " "));
            Some(ExitCode::FAILURE)
        }
    }
}

/// Runs release 2's `sync` of `scope` in a child process, again after a
/// second while it fails and `options.reruns` allows.
fn sync(options: &Options, scope: &str) -> Result<SyncOutcome, Error> {
    let mut outcome = SyncOutcome::default();
    let started = Instant::now();
    while !outcome.succeeded && outcome.runs <= options.reruns {
        if outcome.runs > 0 {
            thread::sleep(Duration::from_secs(1));
        }
        outcome.runs += 1;
        let output = Command::new(std::env::current_exe()?)
            .env(CHILD_SCOPE, scope)
            .env(CHILD_ENGINE, options.engine.name())
            .env(CHILD_URL, &options.url)
            .env(CHILD_LOCK_TIMEOUT, options.lock_timeout.as_millis().to_string())
            .env(CHILD_LOCK_RETRY, options.lock_retry.as_millis().to_string())
            .output()?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        // Per retried step: how long it had waited at its last retry.
        let mut waits: HashMap<String, Duration> = HashMap::new();
        let mut ended = false;
        for line in stdout.lines() {
            let fields: Vec<&str> = line.split('\t').collect();
            match fields.as_slice() {
                ["retry", step, _attempt, waited, retry_in, blockers] => {
                    outcome.retries += 1;
                    let (waited, retry_in) =
                        (Duration::from_millis(waited.parse()?), Duration::from_millis(retry_in.parse()?));
                    outcome.retry_log.push((waited, retry_in));
                    waits.insert(step.to_string(), waited + retry_in);
                    outcome.blockers.extend(blockers.split("; ").filter(|b| !b.is_empty()).map(str::to_string));
                }
                ["batch", _] => outcome.batches += 1,
                ["ok", _] => {
                    outcome.succeeded = true;
                    ended = true;
                }
                ["error", message] => {
                    outcome.errors.push(message.to_string());
                    ended = true;
                }
                _ => {}
            }
        }
        outcome.retry_wait += waits.values().sum::<Duration>();
        if !ended {
            let stderr = String::from_utf8_lossy(&output.stderr);
            return Err(format!(
                "the sync process ended without a result ({}); did main call load::sync_child()?\n{stdout}{stderr}",
                output.status
            )
            .into());
        }
    }
    outcome.wall = started.elapsed();
    Ok(outcome)
}

/// The `q`-quantile of `sorted` microseconds.
fn quantile(sorted: &[u32], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let at = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    Duration::from_micros(u64::from(sorted[at]))
}

/// Compares what a release wrote with what is read now.
fn compare(written: &HashMap<i64, Name>, read: &HashMap<i64, Name>, shape: &str, samples: &mut Vec<String>) -> u64 {
    let mut wrong = 0;
    for (id, name) in written {
        if read.get(id) != Some(name) {
            wrong += 1;
            if samples.len() < 10 {
                samples.push(format!("user {id} reads {:?} in {shape}, written {name:?}", read.get(id)));
            }
        }
    }
    wrong
}

/// The scenario (see the module's documentation). Fails only when the
/// scenario cannot go on (the database unreachable, a release refusing
/// to start before its time); what the service saw is in the [`Outcome`].
pub fn run(options: &Options) -> Result<Outcome, Error> {
    let backend: Arc<dyn Backend> = Arc::from(options.engine.backend(&options.url, &options.nodes, options.sqlite));
    backend.prepare(options.rows)?;
    let housekeeping = Housekeeping::start(backend.clone());

    let release1 = Writers::start(&*backend, Release::One, options.writers, Phase::Before, options)?;
    let blocker = Blocker::start(backend.clone(), options.hold, options.gap);
    let wait_for_blocker = options.hold + options.gap + Duration::from_secs(5);
    thread::sleep(options.settle);

    release1.set_phase(Phase::Expand);
    blocker.next_transaction(wait_for_blocker)?;
    let expand = sync(options, "expand")?;
    let old_release_after_expand = verdict_text(&backend.check(Release::One)?);

    release1.set_phase(Phase::Deploy);
    thread::sleep(options.settle / 2);
    let release2 = Writers::start(&*backend, Release::Two, options.writers, Phase::Deploy, options)?;
    thread::sleep(options.settle);
    let written1 = release1.stop()?;

    // Release 1 is gone: everything it wrote must read the same in
    // release 2's shape, and no row may read differently in the two shapes.
    let mut samples = Vec::new();
    let mut wrong_rows = backend.shapes_disagree()?;
    if wrong_rows > 0 {
        samples.push(format!("{wrong_rows} rows read differently in the two shapes"));
    }
    let mut rows_checked = 0;
    let now = backend.users_above(options.rows)?.into_iter().collect();
    for w in &written1 {
        wrong_rows += compare(&w.written, &now, "release 2's shape before contract", &mut samples);
        rows_checked += w.written.len() as u64;
    }

    release2.set_phase(Phase::Contract);
    blocker.next_transaction(wait_for_blocker)?;
    let contract = sync(options, "contract")?;
    release2.set_phase(Phase::After);
    thread::sleep(options.settle);
    let written2 = release2.stop()?;
    let blocked = blocker.stop()?;
    housekeeping.stop()?;

    // Contracted: every row written by either release reads as last written.
    let now = backend.users_above(options.rows)?.into_iter().collect();
    for w in written1.iter().chain(&written2) {
        wrong_rows += compare(&w.written, &now, "release 2's shape after contract", &mut samples);
        rows_checked += w.written.len() as u64;
    }
    let seeded_wrong = backend.seeded_wrong(options.rows)?;
    if seeded_wrong > 0 {
        samples.push(format!("{seeded_wrong} seeded rows not backfilled as expected"));
    }
    wrong_rows += seeded_wrong;
    rows_checked += options.rows;

    // Release 1 restarted: its startup check must refuse.
    let verdict = backend.check(Release::One)?;
    let old_release_refused = !verdict.may_serve();

    Ok(summarize(
        options,
        written1.into_iter().chain(written2).collect(),
        Partial {
            wrong_rows,
            rows_checked,
            samples,
            expand,
            contract,
            blocked,
            old_release_after_expand,
            old_release_after_contract: verdict_text(&verdict),
            old_release_refused,
        },
    ))
}

/// What [`run`] knows besides the writers.
struct Partial {
    wrong_rows: u64,
    rows_checked: u64,
    samples: Vec<String>,
    expand: SyncOutcome,
    contract: SyncOutcome,
    blocked: Blocked,
    old_release_after_expand: String,
    old_release_after_contract: String,
    old_release_refused: bool,
}

fn summarize(options: &Options, writers: Vec<Writer>, p: Partial) -> Outcome {
    let started = writers.iter().map(|w| w.started).min().unwrap_or_else(Instant::now);
    let ended = writers.iter().map(|w| w.ended).max().unwrap_or(started);
    let mut samples: Vec<String> = writers.iter().flat_map(|w| w.samples.iter().cloned()).collect();
    samples.extend(p.samples);
    let mut all: Vec<u32> = Vec::new();
    let mut phases = Vec::new();
    let mut longest = (Duration::ZERO, String::new());
    for (i, phase) in Phase::ALL.iter().enumerate() {
        let mut lat: Vec<u32> = writers.iter().flat_map(|w| w.latencies[i].iter().copied()).collect();
        lat.sort_unstable();
        let here = writers.iter().map(|w| w.longest[i].clone()).max_by_key(|l| l.0).unwrap_or_default();
        if here.0 > longest.0 {
            longest = (here.0, format!("{} during {phase}", here.1));
        }
        phases.push((
            *phase,
            PhaseStats { ops: lat.len() as u64, longest: here.0, longest_op: here.1, p99: quantile(&lat, 0.99) },
        ));
        all.extend(lat);
    }
    all.sort_unstable();
    let nodes = (0..options.nodes.len().max(1))
        .map(|node| {
            let here: Vec<&Writer> = writers.iter().filter(|w| w.node == node).collect();
            let phase_ops: Vec<u64> =
                (0..Phase::ALL.len()).map(|i| here.iter().map(|w| w.latencies[i].len() as u64).sum()).collect();
            NodeStats {
                writers: here.len(),
                ops: phase_ops.iter().sum(),
                phase_ops,
                failed_writes: here.iter().map(|w| w.failed_writes).sum(),
                retried_writes: here.iter().map(|w| w.retried_writes).sum(),
                longest: here.iter().flat_map(|w| w.longest.iter().map(|l| l.0)).max().unwrap_or_default(),
            }
        })
        .collect();
    Outcome {
        engine: options.engine,
        rows: options.rows,
        writers: options.writers,
        lock_timeout: options.lock_timeout,
        lock_retry: options.lock_retry,
        sqlite: options.sqlite,
        ops: all.len() as u64,
        wall: ended - started,
        write_retries: options.write_retries,
        failed_writes: writers.iter().map(|w| w.failed_writes).sum(),
        failed_reads: writers.iter().map(|w| w.failed_reads).sum(),
        aborted_writes: writers.iter().map(|w| w.aborted_writes).sum(),
        retried_writes: writers.iter().map(|w| w.retried_writes).sum(),
        aborted_reads: writers.iter().map(|w| w.aborted_reads).sum(),
        retried_reads: writers.iter().map(|w| w.retried_reads).sum(),
        nodes,
        wrong_reads: writers.iter().map(|w| w.wrong_reads).sum(),
        wrong_rows: p.wrong_rows,
        rows_checked: p.rows_checked,
        samples,
        longest: longest.0,
        longest_op: longest.1,
        p99: quantile(&all, 0.99),
        phases,
        expand: p.expand,
        contract: p.contract,
        blocker_transactions: p.blocked.transactions,
        blocker_aborted: p.blocked.aborted,
        old_release_after_expand: p.old_release_after_expand,
        old_release_after_contract: p.old_release_after_contract,
        old_release_refused: p.old_release_refused,
    }
}

fn ms(d: Duration) -> String {
    if d >= Duration::from_secs(10) { format!("{:.1} s", d.as_secs_f64()) } else { format!("{} ms", d.as_millis()) }
}

fn setting(d: Duration) -> String {
    if d.is_zero() { "off".into() } else { ms(d) }
}

fn sync_cell(s: &SyncOutcome) -> String {
    let mut cell = match (s.succeeded, s.runs) {
        (true, 1) => "succeeded".to_string(),
        (true, runs) => format!("succeeded at run {runs}"),
        (false, runs) => format!("failed {runs} runs"),
    };
    cell += &format!(", {} retries, {} waiting, {} in all", s.retries, ms(s.retry_wait), ms(s.wall));
    cell
}

impl fmt::Display for Outcome {
    /// The measurements as Markdown tables: the totals, then each phase.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut lock_timeout = setting(self.lock_timeout);
        if self.engine == Engine::Mysql && !self.lock_timeout.is_zero() {
            // What ebbtide sets: MySQL's lock_wait_timeout counts whole seconds.
            let seconds = self.lock_timeout.as_millis().div_ceil(1000).max(1);
            lock_timeout += &format!(" (MySQL waits whole seconds: {seconds} s)");
        }
        if self.engine == Engine::Galera {
            lock_timeout += " (Galera's schema changes wait for no lock)";
        }
        let over = match self.nodes.len() {
            1 => String::new(),
            n => format!(" over {n} nodes"),
        };
        write!(
            f,
            "{}: {} rows, {} writers per release{over}, lock timeout {}, lock retry {}, an aborted operation tried again {}",
            self.engine,
            self.rows,
            self.writers,
            lock_timeout,
            setting(self.lock_retry),
            match self.write_retries {
                0 => "never".to_string(),
                n => format!("up to {n} times"),
            }
        )?;
        if self.engine == Engine::Sqlite {
            let wait = if self.sqlite.busy_poll { "polling every ms" } else { "busy timeout" };
            let checkpoints = if self.sqlite.checkpointer { "a checkpointer thread" } else { "automatic" };
            write!(f, "; the application waits for the write lock by {wait}, checkpoints: {checkpoints}")?;
        }
        writeln!(f, "\n")?;
        writeln!(f, "| metric | value |\n|---|---|")?;
        writeln!(f, "| operations (insert, rename, read) | {} in {:.1} s |", self.ops, self.wall.as_secs_f64())?;
        writeln!(f, "| operations per second | {:.0} |", self.ops_per_second())?;
        writeln!(f, "| failed writes | {} |", self.failed_writes)?;
        writeln!(f, "| failed reads | {} |", self.failed_reads)?;
        writeln!(
            f,
            "| writes aborted by the server / tried again | {} / {} |",
            self.aborted_writes, self.retried_writes
        )?;
        writeln!(f, "| reads aborted by the server / tried again | {} / {} |", self.aborted_reads, self.retried_reads)?;
        writeln!(f, "| wrong reads (writers' own reads) | {} |", self.wrong_reads)?;
        writeln!(f, "| wrong rows (of {} checked in both shapes) | {} |", self.rows_checked, self.wrong_rows)?;
        writeln!(f, "| longest writer stall | {} ({}) |", ms(self.longest), self.longest_op)?;
        writeln!(f, "| p99 operation | {:.1} ms |", self.p99.as_secs_f64() * 1000.0)?;
        writeln!(f, "| sync --expand | {} |", sync_cell(&self.expand))?;
        writeln!(f, "| sync --contract | {} |", sync_cell(&self.contract))?;
        let blockers = self.blockers();
        let named = if blockers.is_empty() { "none".to_string() } else { Vec::from_iter(blockers).join(", ") };
        writeln!(
            f,
            "| blocker transactions / aborted by the server / named by the retries | {} / {} / {} |",
            self.blocker_transactions, self.blocker_aborted, named
        )?;
        writeln!(f, "| release 1 after expand | {} |", self.old_release_after_expand)?;
        writeln!(
            f,
            "| release 1 restarted after contract | {}: {} |",
            if self.old_release_refused { "refuses" } else { "SERVES" },
            self.old_release_after_contract
        )?;
        writeln!(f, "\n| phase | operations | p99 | longest | longest was |\n|---|---|---|---|---|")?;
        for (phase, s) in &self.phases {
            writeln!(
                f,
                "| {phase} | {} | {:.1} ms | {} | {} |",
                s.ops,
                s.p99.as_secs_f64() * 1000.0,
                ms(s.longest),
                s.longest_op
            )?;
        }
        if self.nodes.len() > 1 {
            let phases: Vec<String> = Phase::ALL.iter().map(Phase::to_string).collect();
            writeln!(
                f,
                "\n| node | writers | operations: {} | failed writes | writes tried again | longest |\n|---|---|---|---|---|---|",
                phases.join(" / ")
            )?;
            for (i, node) in self.nodes.iter().enumerate() {
                let ops: Vec<String> = node.phase_ops.iter().map(u64::to_string).collect();
                writeln!(
                    f,
                    "| {} | {} | {} | {} | {} | {} |",
                    i + 1,
                    node.writers,
                    ops.join(" / "),
                    node.failed_writes,
                    node.retried_writes,
                    ms(node.longest)
                )?;
            }
        }
        for sample in &self.samples {
            writeln!(f, "\n- {sample}")?;
        }
        for (name, sync) in [("sync --expand", &self.expand), ("sync --contract", &self.contract)] {
            if !sync.retry_log.is_empty() {
                let log: Vec<String> = sync
                    .retry_log
                    .iter()
                    .map(|(waited, next)| {
                        format!("{:.2} s (next in {:.2} s)", waited.as_secs_f64(), next.as_secs_f64())
                    })
                    .collect();
                writeln!(f, "\n- {name} gave up waiting for a lock at {}", log.join(", "))?;
            }
        }
        for error in self.expand.errors.iter().chain(&self.contract.errors).take(3) {
            writeln!(f, "\n- a failed sync: {error}")?;
        }
        Ok(())
    }
}

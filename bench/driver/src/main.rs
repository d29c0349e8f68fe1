//! The benchmark driver. See bench/README.md for the commands.
//!
//! It runs the tool binaries (one process per run, interleaved: A B C D,
//! then B C D A, ...), checks every run's result against the database
//! itself (the version table must end with N rows), appends every raw
//! result to a JSON-lines file, and prints median, min, max and the ratio
//! to the floor per tool.

mod generate;
mod json;
mod proxy;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use json::{Object, Value};

/// A library under test, as the driver knows it.
#[derive(Clone, Copy, Debug)]
struct Tool {
    name: &'static str,
    /// The layout directory (see gen.rs).
    layout: &'static str,
    /// Its version table.
    table: &'static str,
    /// Built by bench/peers, not by the default bench workspace.
    peer: bool,
}

const TOOLS: &[Tool] = &[
    Tool { name: "ebbtide", layout: "ebbtide", table: "ebbtide_migrations", peer: false },
    Tool { name: "raw", layout: "flat", table: "raw_migrations", peer: false },
    Tool { name: "refinery", layout: "refinery", table: "refinery_schema_history", peer: true },
    Tool { name: "sqlx", layout: "flat", table: "_sqlx_migrations", peer: true },
    Tool { name: "diesel", layout: "diesel", table: "__diesel_schema_migrations", peer: true },
    // The floors' source built in the peers' workspace (SQLite 3.50.2, not
    // 3.54.1): not a floor, a control for the SQLite version. Only with --tools.
    Tool { name: "raw-peers", layout: "flat", table: "raw_migrations", peer: true },
];

const FLOOR: &str = "raw";

/// Measurement 2 on MySQL: every DDL statement commits the open transaction
/// (an implicit commit), so no library and no floor can apply DDL
/// all-or-nothing there; ebbtide refuses `all_or_nothing` on MySQL.
const NO_ONE_TX_ON_MYSQL: &str = "mysql: all-or-nothing apply: not possible for any tool \
     (DDL is not transactional on MySQL: each statement commits by itself)";

#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Engine {
    Sqlite,
    Postgres,
    /// The MySQL protocol; the measurements run it against MariaDB.
    Mysql,
}

impl Engine {
    fn as_str(self) -> &'static str {
        match self {
            Engine::Sqlite => "sqlite",
            Engine::Postgres => "postgres",
            Engine::Mysql => "mysql",
        }
    }

    /// A server (not a file): its own database per tool, a counting proxy.
    fn server(self) -> bool {
        self != Engine::Sqlite
    }
}

/// What a run measures, and what its result must show.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Label {
    /// Fresh database, apply N, one transaction per migration.
    Apply,
    /// Fresh database, apply N in one transaction.
    ApplyOneTx,
    /// N applied, sync: nothing to do.
    NoopSync,
    /// N applied, the startup check.
    Check,
}

impl Label {
    fn as_str(self) -> &'static str {
        match self {
            Label::Apply => "apply",
            Label::ApplyOneTx => "apply-one-tx",
            Label::NoopSync => "noop-sync",
            Label::Check => "check",
        }
    }
    fn op(self) -> &'static str {
        match self {
            Label::Apply | Label::NoopSync => "sync",
            Label::ApplyOneTx => "sync-one-tx",
            Label::Check => "check",
        }
    }
}

struct Options {
    engines: Vec<Engine>,
    ns: Vec<usize>,
    rounds: usize,
    tools: Vec<Tool>,
    out: PathBuf,
    work: PathBuf,
    pg: String,
    /// The MySQL server: `mysql://user[:password]@host:port`.
    my: String,
    one_tx: bool,
    reps: usize,
    embed_tools: Vec<String>,
    /// `embed --no-size`: debug builds only (no release build, no size).
    no_size: bool,
}

fn usage() -> ! {
    eprintln!(
        "usage: bench <command> [options]\n\
         commands:\n\
         \x20 gen    --n N --out DIR             write N migrations in every layout\n\
         \x20 apply  --engine E --n N --rounds R [--one-tx]   measurements 1 and 2\n\
         \x20 noop   --engine E --n N --rounds R            measurement 3: sync with nothing to do, and check\n\
         \x20 count  --engine E --n N                       measurement 3: statements sent (apply, noop sync, check)\n\
         \x20 memory --engine E --n N                       measurement 5: peak RSS (apply N, then noop sync)\n\
         \x20 embed  --n 100,1000,5000 [--reps R] [--embed-tools ebbtide,diesel,...] [--no-size]   measurements 4 and 5: build time, size\n\
         \x20 smoke                                        N = 10, every check, a few rounds (--engine all: MySQL too)\n\
         options:\n\
         \x20 --engine sqlite|postgres|mysql|both|all, or a list: postgres,mysql   (default both: sqlite and postgres)\n\
         \x20 --n N[,N...]                    (default 1000)\n\
         \x20 --rounds R                      (default 5)\n\
         \x20 --tools a,b,...                 (default: every tool whose binary is built)\n\
         \x20 --out FILE                      raw results, appended as JSON lines (default bench/target/work/results.jsonl)\n\
         \x20 --work DIR                      databases and generated migrations (default bench/target/work)\n\
         \x20 --pg URL                        admin URL (default $BENCH_POSTGRES_URL or postgres://postgres@127.0.0.1:5432/postgres)\n\
         \x20 --mysql URL                     MySQL/MariaDB server (default $BENCH_MYSQL_URL or mysql://root@127.0.0.1:3306)"
    );
    std::process::exit(2)
}

fn bin_dir() -> PathBuf {
    std::env::current_exe().expect("current_exe").parent().expect("exe dir").to_path_buf()
}

/// bench/, found from the binary (bench/target/<profile>/bench).
fn bench_root() -> PathBuf {
    let dir = bin_dir();
    dir.ancestors()
        .find(|a| a.join("driver").join("Cargo.toml").exists())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf())
}

fn tool_bin(tool: &Tool) -> PathBuf {
    bin_dir().join(format!("tool-{}", tool.name))
}

fn parse_options(args: &[String]) -> Options {
    let root = bench_root();
    let mut o = Options {
        engines: vec![Engine::Sqlite, Engine::Postgres],
        ns: vec![1000],
        rounds: 5,
        tools: TOOLS.iter().copied().filter(|t| t.name != "raw-peers" && tool_bin(t).exists()).collect(),
        out: PathBuf::new(),
        work: root.join("target").join("work"),
        pg: std::env::var("BENCH_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string()),
        my: std::env::var("BENCH_MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".to_string()),
        one_tx: false,
        reps: 3,
        embed_tools: vec!["ebbtide".into(), "diesel".into(), "sqlx".into(), "refinery".into()],
        no_size: false,
    };
    let mut out = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().cloned().unwrap_or_else(|| usage());
        match a.as_str() {
            "--engine" => {
                let mut engines = Vec::new();
                for name in value().split(',') {
                    match name.trim() {
                        "sqlite" => engines.push(Engine::Sqlite),
                        "postgres" => engines.push(Engine::Postgres),
                        "mysql" | "mariadb" => engines.push(Engine::Mysql),
                        "both" => engines.extend([Engine::Sqlite, Engine::Postgres]),
                        "all" => engines.extend([Engine::Sqlite, Engine::Postgres, Engine::Mysql]),
                        _ => usage(),
                    }
                }
                engines.sort();
                engines.dedup();
                o.engines = engines
            }
            "--n" => o.ns = value().split(',').map(|n| n.trim().parse().unwrap_or_else(|_| usage())).collect(),
            "--rounds" => o.rounds = value().parse().unwrap_or_else(|_| usage()),
            "--reps" => o.reps = value().parse().unwrap_or_else(|_| usage()),
            "--tools" => {
                let names = value();
                o.tools = names
                    .split(',')
                    .map(|n| {
                        let t = *TOOLS.iter().find(|t| t.name == n).unwrap_or_else(|| {
                            eprintln!("unknown tool {n}");
                            usage()
                        });
                        if !tool_bin(&t).exists() {
                            eprintln!("{} is not built: {}", n, tool_bin(&t).display());
                            std::process::exit(2);
                        }
                        t
                    })
                    .collect()
            }
            "--embed-tools" => o.embed_tools = value().split(',').map(str::to_string).collect(),
            "--no-size" => o.no_size = true,
            "--out" => out = Some(PathBuf::from(value())),
            "--work" => o.work = PathBuf::from(value()),
            "--pg" => o.pg = value(),
            "--mysql" => o.my = value(),
            "--one-tx" => o.one_tx = true,
            _ => usage(),
        }
    }
    o.out = out.unwrap_or_else(|| o.work.join("results.jsonl"));
    let missing: Vec<_> = TOOLS.iter().filter(|t| t.peer && !tool_bin(t).exists()).map(|t| t.name).collect();
    if !missing.is_empty() && o.tools.iter().all(|t| !t.peer) {
        eprintln!("bench: peers not built ({}): build bench/peers to compare with them", missing.join(", "));
    }
    o
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(command) = args.first().cloned() else { usage() };
    if command == "gen" {
        let mut n = None;
        let mut out = None;
        let mut it = args[1..].iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                "--n" => n = it.next().and_then(|v| v.parse().ok()),
                "--out" => out = it.next().map(PathBuf::from),
                _ => usage(),
            }
        }
        let (Some(n), Some(out)) = (n, out) else { usage() };
        for layout in generate::LAYOUTS {
            if let Err(e) = generate::write_layout(layout, &out.join(layout), n) {
                eprintln!("gen: {e}");
                return ExitCode::FAILURE;
            }
        }
        println!("wrote {n} migrations in {} layouts under {}", generate::LAYOUTS.len(), out.display());
        return ExitCode::SUCCESS;
    }
    let opts = parse_options(&args[1..]);
    let mut h = match Harness::new(opts) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match command.as_str() {
        "apply" => h.cmd_apply(),
        "noop" => h.cmd_noop(),
        "count" => h.cmd_count(),
        "memory" => h.cmd_memory(),
        "embed" => h.cmd_embed(),
        "smoke" => h.cmd_smoke(),
        _ => usage(),
    };
    h.cleanup();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The parts of the admin URL.
#[derive(Clone, Debug)]
struct PgTarget {
    user: String,
    password: Option<String>,
    host: String,
    port: u16,
}

impl PgTarget {
    fn parse(url: &str) -> Result<PgTarget, String> {
        let config: tokio_postgres::Config = url.parse().map_err(|e| format!("bad PostgreSQL URL {url}: {e}"))?;
        let host = match config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
            _ => "127.0.0.1".to_string(),
        };
        Ok(PgTarget {
            user: config.get_user().unwrap_or("postgres").to_string(),
            password: config.get_password().map(|p| String::from_utf8_lossy(p).into_owned()),
            host,
            port: config.get_ports().first().copied().unwrap_or(5432),
        })
    }

    fn url(&self, host: &str, port: u16, db: &str) -> String {
        let auth = match &self.password {
            Some(p) => format!("{}:{}", self.user, p),
            None => self.user.clone(),
        };
        format!("postgres://{auth}@{host}:{port}/{db}?sslmode=disable")
    }
}

/// The parts of the MySQL server URL.
#[derive(Clone, Debug)]
struct MyTarget {
    /// `user[:password]`
    auth: String,
    host: String,
    port: u16,
}

impl MyTarget {
    fn parse(url: &str) -> Result<MyTarget, String> {
        let bad = || format!("bad MySQL URL {url}: expected mysql://user[:password]@host[:port]");
        let rest = url.strip_prefix("mysql://").ok_or_else(bad)?;
        let rest = rest.split(['/', '?']).next().unwrap_or("");
        let (auth, hostport) = rest.rsplit_once('@').ok_or_else(bad)?;
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) => (h, p.parse().map_err(|_| bad())?),
            None => (hostport, 3306),
        };
        Ok(MyTarget { auth: auth.to_string(), host: host.to_string(), port })
    }

    /// `prefer_socket=false`: mysql_async (the floor, ebbtide, refinery)
    /// otherwise asks a server on a loopback address for its Unix socket and
    /// reconnects there, while sqlx and libmysqlclient (diesel) stay on TCP;
    /// this keeps every tool on the same TCP connection (and in sight of the
    /// counting proxy). sqlx and diesel ignore the parameter.
    fn url(&self, host: &str, port: u16, db: &str) -> String {
        format!("mysql://{}@{host}:{port}/{db}?prefer_socket=false", self.auth)
    }
}

struct Sample {
    round: usize,
    engine: Engine,
    label: Label,
    n: usize,
    tool: &'static str,
    ms: f64,
    wall_ms: f64,
}

struct Harness {
    o: Options,
    rt: tokio::runtime::Runtime,
    pg: PgTarget,
    admin: Option<tokio_postgres::Client>,
    proxy: Option<proxy::Proxy>,
    my: MyTarget,
    my_admin: Option<mysql_async::Conn>,
    my_proxy: Option<proxy::Proxy>,
    out: std::fs::File,
    created: Vec<String>,
    my_created: Vec<String>,
    samples: Vec<Sample>,
    failures: Vec<String>,
    retried: Vec<String>,
}

impl Harness {
    fn new(o: Options) -> Result<Harness, String> {
        std::fs::create_dir_all(o.work.join("db")).map_err(|e| e.to_string())?;
        if let Some(parent) = o.out.parent() {
            std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
        }
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&o.out)
            .map_err(|e| format!("{}: {e}", o.out.display()))?;
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
        let pg = PgTarget::parse(&o.pg)?;
        let my = MyTarget::parse(&o.my)?;
        Ok(Harness {
            o,
            rt,
            pg,
            admin: None,
            proxy: None,
            my,
            my_admin: None,
            my_proxy: None,
            out,
            created: Vec::new(),
            my_created: Vec::new(),
            samples: Vec::new(),
            failures: Vec::new(),
            retried: Vec::new(),
        })
    }

    // ----- databases -----

    fn admin(&mut self) -> Result<(), String> {
        if self.admin.is_none() {
            let url = self.pg.url(&self.pg.host.clone(), self.pg.port, "postgres");
            let (client, conn) = self
                .rt
                .block_on(tokio_postgres::connect(&url, tokio_postgres::NoTls))
                .map_err(|e| format!("cannot connect to PostgreSQL at {}: {e}", self.o.pg))?;
            self.rt.spawn(async move {
                let _ = conn.await;
            });
            self.admin = Some(client);
        }
        Ok(())
    }

    fn admin_exec(&mut self, sql: &str) -> Result<(), String> {
        self.admin()?;
        let admin = self.admin.as_ref().unwrap();
        self.rt.block_on(admin.batch_execute(sql)).map_err(|e| format!("{sql}: {e}"))
    }

    fn pg_name(tool: &Tool) -> String {
        format!("ebbtide_bench_{}", tool.name)
    }

    /// A MySQL scratch database: unique to this driver process (the server
    /// may be shared), dropped by `cleanup`.
    fn my_name(tool: &Tool) -> String {
        format!("ebbtide_bench_{}_{}", std::process::id(), tool.name.replace('-', "_"))
    }

    fn my_admin_exec(&mut self, sql: &str) -> Result<(), String> {
        use mysql_async::prelude::Queryable;
        if self.my_admin.is_none() {
            let url = self.my.url(&self.my.host, self.my.port, "");
            let conn = self
                .rt
                .block_on(async { mysql_async::Conn::new(mysql_async::Opts::from_url(&url)?).await })
                .map_err(|e| format!("cannot connect to MySQL at {}: {e}", self.o.my))?;
            self.my_admin = Some(conn);
        }
        let admin = self.my_admin.as_mut().unwrap();
        self.rt.block_on(admin.query_drop(sql)).map_err(|e| format!("{sql}: {e}"))
    }

    fn sqlite_path(&self, tool: &Tool) -> PathBuf {
        self.o.work.join("db").join(format!("{}.sqlite", tool.name))
    }

    /// The `<database>` argument of a tool, for its database (proxied: through
    /// the counting proxy).
    fn db_arg(&self, tool: &Tool, engine: Engine, proxied: bool) -> String {
        match engine {
            Engine::Sqlite => self.sqlite_path(tool).display().to_string(),
            Engine::Postgres => match (&self.proxy, proxied) {
                (Some(p), true) => self.pg.url("127.0.0.1", p.addr.port(), &Self::pg_name(tool)),
                _ => self.pg.url(&self.pg.host, self.pg.port, &Self::pg_name(tool)),
            },
            Engine::Mysql => match (&self.my_proxy, proxied) {
                (Some(p), true) => self.my.url("127.0.0.1", p.addr.port(), &Self::my_name(tool)),
                _ => self.my.url(&self.my.host, self.my.port, &Self::my_name(tool)),
            },
        }
    }

    /// Empties a tool's database.
    fn fresh(&mut self, tool: &Tool, engine: Engine) -> Result<(), String> {
        match engine {
            Engine::Sqlite => {
                let path = self.sqlite_path(tool);
                for suffix in ["", "-journal", "-wal", "-shm"] {
                    let p = PathBuf::from(format!("{}{suffix}", path.display()));
                    if p.exists() {
                        std::fs::remove_file(&p).map_err(|e| format!("{}: {e}", p.display()))?;
                    }
                }
                Ok(())
            }
            Engine::Postgres => {
                let name = Self::pg_name(tool);
                self.admin_exec(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))?;
                self.admin_exec(&format!("CREATE DATABASE {name}"))?;
                if !self.created.contains(&name) {
                    self.created.push(name);
                }
                Ok(())
            }
            Engine::Mysql => {
                let name = Self::my_name(tool);
                self.my_admin_exec(&format!("DROP DATABASE IF EXISTS {name}"))?;
                self.my_admin_exec(&format!("CREATE DATABASE {name}"))?;
                if !self.my_created.contains(&name) {
                    self.my_created.push(name);
                }
                Ok(())
            }
        }
    }

    /// Rows of a tool's version table, read by the driver itself.
    fn rows(&mut self, tool: &Tool, engine: Engine) -> Result<u64, String> {
        let sql = format!("SELECT count(*) FROM {}", tool.table);
        match engine {
            Engine::Sqlite => {
                let conn = rusqlite::Connection::open(self.sqlite_path(tool)).map_err(|e| e.to_string())?;
                conn.query_row(&sql, [], |r| r.get::<_, i64>(0)).map(|n| n as u64).map_err(|e| e.to_string())
            }
            Engine::Postgres => {
                let url = self.db_arg(tool, engine, false);
                self.rt.block_on(async {
                    let (client, conn) =
                        tokio_postgres::connect(&url, tokio_postgres::NoTls).await.map_err(|e| e.to_string())?;
                    let task = tokio::spawn(async move {
                        let _ = conn.await;
                    });
                    let n = client.query_one(&sql, &[]).await.map_err(|e| e.to_string())?.get::<_, i64>(0);
                    drop(client);
                    let _ = task.await;
                    Ok(n as u64)
                })
            }
            Engine::Mysql => {
                use mysql_async::prelude::Queryable;
                let url = self.db_arg(tool, engine, false);
                self.rt.block_on(async {
                    let mut conn = mysql_async::Conn::from_url(&url).await.map_err(|e| e.to_string())?;
                    let n = conn.query_first::<i64, _>(&sql).await.map_err(|e| e.to_string())?.unwrap_or(0);
                    let _ = conn.disconnect().await;
                    Ok(n as u64)
                })
            }
        }
    }

    fn cleanup(&mut self) {
        for name in std::mem::take(&mut self.my_created) {
            if let Err(e) = self.my_admin_exec(&format!("DROP DATABASE IF EXISTS {name}")) {
                eprintln!("bench: {e}");
            }
        }
        if let Some(conn) = self.my_admin.take() {
            let _ = self.rt.block_on(conn.disconnect());
        }
        let names = std::mem::take(&mut self.created);
        if names.is_empty() {
            return;
        }
        for name in names {
            let _ = self.admin_exec(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
        for tool in TOOLS {
            let _ = self.fresh(tool, Engine::Sqlite);
        }
    }

    fn postgres_up(&mut self) -> bool {
        self.admin().is_ok()
    }

    fn mysql_up(&mut self) -> bool {
        self.my_admin_exec("SELECT 1").is_ok()
    }

    // ----- running tools -----

    /// Runs one tool process, once more if the server cut the connection
    /// (the PostgreSQL server may be shared: `57P01`, "administrator
    /// command", is another session's doing, not the tool's).
    fn run(
        &mut self,
        tool: &Tool,
        engine: Engine,
        dir: &Path,
        op: &str,
        count: bool,
        memory: bool,
    ) -> Result<Option<Object>, String> {
        match self.run_once(tool, engine, dir, op, count, memory) {
            Err(e) if engine == Engine::Postgres && transient(&e) => {
                eprintln!("  retrying once: {e}");
                let mut note = Object::default();
                note.set("retried", Value::Str(e.clone()));
                let _ = writeln!(self.out, "{}", note.to_json());
                self.retried.push(e);
                self.run_once(tool, engine, dir, op, count, memory)
            }
            other => other,
        }
    }

    /// Runs one tool process; `Ok(None)` when the tool has no such operation.
    fn run_once(
        &mut self,
        tool: &Tool,
        engine: Engine,
        dir: &Path,
        op: &str,
        count: bool,
        memory: bool,
    ) -> Result<Option<Object>, String> {
        let mut cmd;
        let rss_file = self.o.work.join("rss.txt");
        if memory {
            cmd = Command::new("/usr/bin/time");
            cmd.arg("-f").arg("%M").arg("-o").arg(&rss_file).arg(tool_bin(tool));
        } else {
            cmd = Command::new(tool_bin(tool));
        }
        cmd.arg(engine.as_str()).arg(self.db_arg(tool, engine, count)).arg(dir).arg("--op").arg(op);
        if count {
            cmd.arg("--count");
        }
        for p in [&self.proxy, &self.my_proxy].into_iter().flatten() {
            p.reset();
        }
        let start = Instant::now();
        let output = cmd.stdin(Stdio::null()).output().map_err(|e| format!("{}: {e}", tool_bin(tool).display()))?;
        let wall_ms = start.elapsed().as_secs_f64() * 1e3;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let line = stdout.lines().rev().find(|l| l.trim_start().starts_with('{')).unwrap_or("");
        let mut obj = json::parse(line).map_err(|e| {
            format!(
                "{} {} {op}: no JSON line ({e}); exit {}; stderr: {stderr}",
                tool.name,
                engine.as_str(),
                output.status
            )
        })?;
        if output.status.code() == Some(3) {
            return Ok(None);
        }
        if !output.status.success() || obj.str("error").is_some() {
            return Err(format!(
                "{} {} {op}: {} (exit {}){}",
                tool.name,
                engine.as_str(),
                obj.str("error").unwrap_or("failed"),
                output.status,
                if stderr.trim().is_empty() { String::new() } else { format!("; stderr: {}", stderr.trim()) }
            ));
        }
        obj.set("wall_ms", Value::Num((wall_ms * 1e3).round() / 1e3));
        if memory {
            let kb: f64 = std::fs::read_to_string(&rss_file)
                .ok()
                .and_then(|s| s.lines().last().and_then(|l| l.trim().parse().ok()))
                .ok_or("no /usr/bin/time output")?;
            obj.set("max_rss_kb", Value::Num(kb));
        }
        if count && engine.server() {
            let proxy = if engine == Engine::Postgres { &self.proxy } else { &self.my_proxy };
            let c = proxy.as_ref().map(|p| p.counts()).unwrap_or_default();
            if c.tls {
                return Err("the tool asked for TLS; the proxy cannot count".into());
            }
            if c.windows != 1 {
                return Err(format!("{}: expected one marker window, saw {}", tool.name, c.windows));
            }
            obj.set("statements", Value::Num(c.statements as f64));
            obj.set("round_trips", Value::Num(c.round_trips as f64));
            obj.set("parses", Value::Num(c.parses as f64));
        }
        Ok(Some(obj))
    }

    /// Checks a run's result, and the version table with the driver's own query.
    fn verify(&mut self, tool: &Tool, engine: Engine, label: Label, n: usize, obj: &Object) -> Result<(), String> {
        let what = format!("{} {} {} N={n}", tool.name, engine.as_str(), label.as_str());
        if obj.num("migrations") != Some(n as f64) {
            return Err(format!("{what}: the tool loaded {:?} migrations", obj.num("migrations")));
        }
        match label {
            Label::Apply | Label::ApplyOneTx => {
                if let Some(a) = obj.num("applied")
                    && a != n as f64
                {
                    return Err(format!("{what}: applied {a}, expected {n}"));
                }
            }
            Label::NoopSync => {
                if let Some(a) = obj.num("applied")
                    && a != 0.0
                {
                    return Err(format!("{what}: applied {a} on an up-to-date database"));
                }
                if obj.bool("up_to_date") == Some(false) {
                    return Err(format!("{what}: not up to date"));
                }
            }
            Label::Check => {
                if obj.bool("up_to_date") != Some(true) {
                    return Err(format!("{what}: the check did not say up to date"));
                }
            }
        }
        let rows = self.rows(tool, engine)?;
        if rows != n as u64 {
            return Err(format!("{what}: the version table {} has {rows} rows, expected {n}", tool.table));
        }
        Ok(())
    }

    fn record(&mut self, tool: &Tool, engine: Engine, label: Label, n: usize, round: usize, mut obj: Object) {
        obj.set("label", Value::Str(label.as_str().into()));
        obj.set("n", Value::Num(n as f64));
        obj.set("round", Value::Num(round as f64));
        let _ = writeln!(self.out, "{}", obj.to_json());
        if let (Some(ms), Some(wall)) = (obj.num("ms"), obj.num("wall_ms")) {
            self.samples.push(Sample { round, engine, label, n, tool: tool.name, ms, wall_ms: wall });
        }
    }

    fn migrations_dir(&self, n: usize, tool: &Tool) -> Result<PathBuf, String> {
        let set = generate::ensure(&self.o.work.join("migrations"), n).map_err(|e| format!("gen: {e}"))?;
        Ok(set.join(tool.layout))
    }

    fn engines(&mut self) -> Result<Vec<Engine>, String> {
        let mut out = Vec::new();
        for e in self.o.engines.clone() {
            if e == Engine::Postgres && !self.postgres_up() {
                if std::env::var("CI").as_deref() == Ok("true") || self.o.engines.len() == 1 {
                    return Err(format!("PostgreSQL is not reachable at {}", self.o.pg));
                }
                eprintln!("bench: PostgreSQL is not reachable at {}: skipping it", self.o.pg);
                continue;
            }
            if e == Engine::Mysql && !self.mysql_up() {
                if std::env::var("CI").as_deref() == Ok("true") || self.o.engines.len() == 1 {
                    return Err(format!("MySQL is not reachable at {}", self.o.my));
                }
                eprintln!("bench: MySQL is not reachable at {}: skipping it", self.o.my);
                continue;
            }
            out.push(e);
        }
        Ok(out)
    }

    fn rotated(&self, round: usize) -> Vec<Tool> {
        let mut tools = self.o.tools.clone();
        if !tools.is_empty() {
            let k = round % tools.len();
            tools.rotate_left(k);
        }
        tools
    }

    /// Fresh database, one run, verified, recorded.
    fn apply_once(
        &mut self,
        tool: &Tool,
        engine: Engine,
        label: Label,
        n: usize,
        round: usize,
    ) -> Result<bool, String> {
        let dir = self.migrations_dir(n, tool)?;
        self.fresh(tool, engine)?;
        let obj = match self.run_once(tool, engine, &dir, label.op(), false, false) {
            Err(e) if engine == Engine::Postgres && transient(&e) => {
                eprintln!("  retrying once on a fresh database: {e}");
                self.retried.push(e);
                self.fresh(tool, engine)?;
                self.run_once(tool, engine, &dir, label.op(), false, false)?
            }
            other => other?,
        };
        let Some(obj) = obj else { return Ok(false) };
        self.verify(tool, engine, label, n, &obj)?;
        eprintln!(
            "  {:<9} {:<8} {:<12} N={n:<6} {:>10.3} ms",
            tool.name,
            engine.as_str(),
            label.as_str(),
            obj.num("ms").unwrap_or(f64::NAN)
        );
        self.record(tool, engine, label, n, round, obj);
        Ok(true)
    }

    // ----- commands -----

    fn cmd_apply(&mut self) -> Result<(), String> {
        let label = if self.o.one_tx { Label::ApplyOneTx } else { Label::Apply };
        for engine in self.engines()? {
            if label == Label::ApplyOneTx && engine == Engine::Mysql {
                println!("{NO_ONE_TX_ON_MYSQL}\n");
                continue;
            }
            for n in self.o.ns.clone() {
                let mut unsupported = Vec::new();
                for round in 0..self.o.rounds {
                    for tool in self.rotated(round) {
                        if unsupported.contains(&tool.name) {
                            continue;
                        }
                        if !self.apply_once(&tool, engine, label, n, round)? {
                            eprintln!("  {:<9} has no {} mode: skipped", tool.name, label.as_str());
                            unsupported.push(tool.name);
                        }
                    }
                }
            }
        }
        self.print_summary();
        Ok(())
    }

    fn cmd_noop(&mut self) -> Result<(), String> {
        for engine in self.engines()? {
            for n in self.o.ns.clone() {
                for tool in self.o.tools.clone() {
                    eprintln!("  setup: {} {} applies {n}", tool.name, engine.as_str());
                    let dir = self.migrations_dir(n, &tool)?;
                    self.fresh(&tool, engine)?;
                    // A cut connection leaves a partly applied database,
                    // which the retry completes: sync is resumable.
                    let obj = self.run(&tool, engine, &dir, "sync", false, false)?.ok_or("sync unsupported")?;
                    let rows = self.rows(&tool, engine)?;
                    if rows != n as u64 || obj.num("migrations") != Some(n as f64) {
                        return Err(format!(
                            "{} {} setup: {rows} rows in {}, {:?} migrations loaded, expected {n}",
                            tool.name,
                            engine.as_str(),
                            tool.table,
                            obj.num("migrations")
                        ));
                    }
                }
                for round in 0..self.o.rounds {
                    for label in [Label::NoopSync, Label::Check] {
                        for tool in self.rotated(round) {
                            let dir = self.migrations_dir(n, &tool)?;
                            let Some(obj) = self.run(&tool, engine, &dir, label.op(), false, false)? else {
                                continue;
                            };
                            self.verify(&tool, engine, label, n, &obj)?;
                            self.record(&tool, engine, label, n, round, obj);
                        }
                    }
                }
            }
        }
        self.print_summary();
        Ok(())
    }

    fn ensure_proxy(&mut self, engine: Engine) -> Result<(), String> {
        if engine == Engine::Mysql {
            if self.my_proxy.is_none() {
                let addr = std::net::ToSocketAddrs::to_socket_addrs(&(self.my.host.as_str(), self.my.port))
                    .map_err(|e| e.to_string())?
                    .next()
                    .ok_or("cannot resolve the MySQL host")?;
                self.my_proxy = Some(proxy::Proxy::start_mysql(addr).map_err(|e| format!("proxy: {e}"))?);
            }
            return Ok(());
        }
        if self.proxy.is_none() {
            let addr = std::net::ToSocketAddrs::to_socket_addrs(&(self.pg.host.as_str(), self.pg.port))
                .map_err(|e| e.to_string())?
                .next()
                .ok_or("cannot resolve the PostgreSQL host")?;
            self.proxy = Some(proxy::Proxy::start(addr).map_err(|e| format!("proxy: {e}"))?);
        }
        Ok(())
    }

    fn cmd_count(&mut self) -> Result<(), String> {
        let mut table = String::from(
            "| engine | N | tool | apply: statements (per migration) | noop sync: statements | check: statements | round trips, PostgreSQL and MySQL (apply / noop / check) |\n|---|---|---|---|---|---|---|\n",
        );
        for engine in self.engines()? {
            if engine.server() {
                self.ensure_proxy(engine)?;
            }
            for n in self.o.ns.clone() {
                for tool in self.o.tools.clone() {
                    let dir = self.migrations_dir(n, &tool)?;
                    self.fresh(&tool, engine)?;
                    let apply = self.run(&tool, engine, &dir, "sync", true, false)?.ok_or("sync unsupported")?;
                    self.verify(&tool, engine, Label::Apply, n, &apply)?;
                    let noop = self.run(&tool, engine, &dir, "sync", true, false)?.ok_or("sync unsupported")?;
                    self.verify(&tool, engine, Label::NoopSync, n, &noop)?;
                    let check = self.run(&tool, engine, &dir, "check", true, false)?.ok_or("check unsupported")?;
                    self.verify(&tool, engine, Label::Check, n, &check)?;
                    let s = |o: &Object| o.num("statements").map_or("?".to_string(), |v| format!("{v}"));
                    let rt = |o: &Object| o.num("round_trips").map_or("-".to_string(), |v| format!("{v}"));
                    let per = apply.num("statements").map_or("?".into(), |v| format!("{:.2}", v / n as f64));
                    let _ = writeln!(
                        table,
                        "| {} | {n} | {} | {} ({per}) | {} | {} | {} |",
                        engine.as_str(),
                        tool.name,
                        s(&apply),
                        s(&noop),
                        s(&check),
                        if engine.server() {
                            format!("{} / {} / {}", rt(&apply), rt(&noop), rt(&check))
                        } else {
                            "-".into()
                        }
                    );
                    for (label, obj) in [(Label::Apply, apply), (Label::NoopSync, noop), (Label::Check, check)] {
                        let mut obj = obj;
                        obj.set("counted", Value::Bool(true));
                        obj.set("label", Value::Str(label.as_str().into()));
                        obj.set("n", Value::Num(n as f64));
                        let _ = writeln!(self.out, "{}", obj.to_json());
                    }
                }
            }
        }
        println!("{table}");
        Ok(())
    }

    fn cmd_memory(&mut self) -> Result<(), String> {
        let mut table = String::from(
            "| engine | N | tool | apply N: peak RSS (MiB) | noop sync: peak RSS (MiB) | check: peak RSS (MiB) |\n|---|---|---|---|---|---|\n",
        );
        for engine in self.engines()? {
            for n in self.o.ns.clone() {
                for tool in self.o.tools.clone() {
                    let dir = self.migrations_dir(n, &tool)?;
                    self.fresh(&tool, engine)?;
                    let mut rss = Vec::new();
                    for label in [Label::Apply, Label::NoopSync, Label::Check] {
                        let obj = self.run(&tool, engine, &dir, label.op(), false, true)?.ok_or("unsupported")?;
                        self.verify(&tool, engine, label, n, &obj)?;
                        rss.push(obj.num("max_rss_kb").unwrap_or(f64::NAN) / 1024.0);
                        let mut obj = obj;
                        obj.set("label", Value::Str(format!("memory-{}", label.as_str())));
                        obj.set("n", Value::Num(n as f64));
                        let _ = writeln!(self.out, "{}", obj.to_json());
                    }
                    let _ = writeln!(
                        table,
                        "| {} | {n} | {} | {:.1} | {:.1} | {:.1} |",
                        engine.as_str(),
                        tool.name,
                        rss[0],
                        rss[1],
                        rss[2]
                    );
                }
            }
        }
        println!("{table}");
        Ok(())
    }

    fn cmd_smoke(&mut self) -> Result<(), String> {
        let started = Instant::now();
        self.o.ns = vec![10];
        self.o.rounds = 2;
        let n = 10;
        let engines = self.engines()?;
        eprintln!(
            "smoke: N = {n}, engines {:?}, tools {:?}",
            engines.iter().map(|e| e.as_str()).collect::<Vec<_>>(),
            self.o.tools.iter().map(|t| t.name).collect::<Vec<_>>()
        );
        if !self.o.tools.iter().any(|t| t.name == "ebbtide") || !self.o.tools.iter().any(|t| t.name == FLOOR) {
            return Err("tool-ebbtide and tool-raw must be built (cargo build --release in bench/)".into());
        }
        self.o.engines = engines.clone();
        for label in [Label::Apply, Label::ApplyOneTx] {
            for engine in &engines {
                if label == Label::ApplyOneTx && *engine == Engine::Mysql {
                    eprintln!("smoke: {NO_ONE_TX_ON_MYSQL}");
                    continue;
                }
                let mut unsupported = Vec::new();
                for round in 0..self.o.rounds {
                    for tool in self.rotated(round) {
                        if !unsupported.contains(&tool.name) && !self.apply_once(&tool, *engine, label, n, round)? {
                            unsupported.push(tool.name);
                        }
                    }
                }
            }
        }
        self.cmd_noop()?;
        self.cmd_count()?;
        eprintln!("smoke: passed in {:.1} s", started.elapsed().as_secs_f64());
        Ok(())
    }

    // ----- summary -----

    fn print_summary(&self) {
        println!("{}", summary(&self.samples));
        if !self.failures.is_empty() {
            eprintln!("failures:\n{}", self.failures.join("\n"));
        }
        if !self.retried.is_empty() {
            println!("({} run(s) retried after the server cut the connection; see the log)", self.retried.len());
        }
    }

    // ----- measurements 4 and 5: embedding -----

    fn cmd_embed(&mut self) -> Result<(), String> {
        let root = bench_root();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let target = root.join("target");
        let mut rows = Vec::new();
        for tool_name in self.o.embed_tools.clone() {
            let (workspace, package, layout) = match tool_name.as_str() {
                "ebbtide" => (root.clone(), "embed-ebbtide", "ebbtide"),
                "diesel" => (root.join("peers"), "embed-diesel", "diesel"),
                "sqlx" => (root.join("peers"), "embed-sqlx", "flat"),
                "refinery" => (root.join("peers"), "embed-refinery", "refinery"),
                other => return Err(format!("no embed crate for {other}")),
            };
            let crate_dir = match tool_name.as_str() {
                "ebbtide" => root.join("embed").join("ebbtide"),
                t => root.join("peers").join("embed").join(t),
            };
            let migrations = crate_dir.join("migrations");
            let cargo_build = |release: bool, embed: bool| -> Result<f64, String> {
                let mut cmd = Command::new("nice");
                cmd.arg("-n").arg("10").arg(&cargo).arg("build").arg("--quiet").arg("-p").arg(package);
                if release {
                    cmd.arg("--release");
                }
                if embed {
                    cmd.arg("--features").arg("embed");
                }
                cmd.current_dir(&workspace).env("CARGO_TARGET_DIR", &target);
                let start = Instant::now();
                let status = cmd.status().map_err(|e| format!("cargo: {e}"))?;
                let secs = start.elapsed().as_secs_f64();
                if !status.success() {
                    return Err(format!("cargo build -p {package} failed"));
                }
                Ok(secs)
            };
            let touch = || -> Result<(), String> {
                let main = crate_dir.join("src").join("main.rs");
                let text = std::fs::read(&main).map_err(|e| e.to_string())?;
                std::fs::write(&main, text).map_err(|e| e.to_string())
            };
            let stripped_size = |release: bool| -> Result<u64, String> {
                let bin = target.join(if release { "release" } else { "debug" }).join(package);
                let copy = self.o.work.join(format!("{package}.stripped"));
                let status =
                    Command::new("strip").arg("-o").arg(&copy).arg(&bin).status().map_err(|e| format!("strip: {e}"))?;
                if !status.success() {
                    return Err("strip failed".into());
                }
                Ok(std::fs::metadata(&copy).map_err(|e| e.to_string())?.len())
            };
            // N = 0: the same crate, same calls, no embedding.
            let mut ns = vec![0];
            ns.extend(self.o.ns.iter().copied());
            for n in ns {
                let embed = n > 0;
                if embed {
                    generate::write_layout(layout, &migrations, n).map_err(|e| e.to_string())?;
                } else {
                    generate::write_layout(layout, &migrations, 1).map_err(|e| e.to_string())?;
                }
                // Deps and the first build of this N: untimed.
                cargo_build(false, embed)?;
                let mut times = Vec::new();
                for _ in 0..self.o.reps {
                    touch()?;
                    times.push(cargo_build(false, embed)?);
                }
                times.sort_by(f64::total_cmp);
                let debug_size = std::fs::metadata(target.join("debug").join(package)).map(|m| m.len()).unwrap_or(0);
                // The size needs a release build, which for refinery at
                // thousands of migrations takes longer than the rest.
                let release_stripped = match self.o.no_size {
                    true => 0,
                    false => {
                        cargo_build(true, embed)?;
                        stripped_size(true)?
                    }
                };
                let median = times[times.len() / 2];
                eprintln!(
                    "  {tool_name:<9} N={n:<5} build after touch: median {median:.2} s (min {:.2}, max {:.2}); release stripped {} bytes",
                    times[0],
                    times[times.len() - 1],
                    release_stripped
                );
                let mut obj = Object::default();
                obj.set("label", Value::Str("embed".into()));
                obj.set("tool", Value::Str(tool_name.clone()));
                obj.set("n", Value::Num(n as f64));
                obj.set("build_s", Value::Str(times.iter().map(|t| format!("{t:.3}")).collect::<Vec<_>>().join(",")));
                obj.set("build_median_s", Value::Num(median));
                obj.set("debug_bytes", Value::Num(debug_size as f64));
                obj.set("release_stripped_bytes", Value::Num(release_stripped as f64));
                let _ = writeln!(self.out, "{}", obj.to_json());
                rows.push((
                    tool_name.clone(),
                    n,
                    median,
                    times[0],
                    times[times.len() - 1],
                    debug_size,
                    release_stripped,
                ));
            }
            // Leave one migration behind, so the crate builds fast next time.
            generate::write_layout(layout, &migrations, 1).map_err(|e| e.to_string())?;
        }
        let mut table = String::from(
            "| tool | N | build after touch, median s (min-max) | minus no-embedding, s | per migration, ms | release stripped size | added bytes per migration |\n|---|---|---|---|---|---|---|\n",
        );
        for (tool, n, median, min, max, _debug, size) in &rows {
            let base = rows.iter().find(|r| &r.0 == tool && r.1 == 0).unwrap();
            let (delta, per_ms, per_bytes) = if *n == 0 {
                ("-".to_string(), "-".to_string(), "-".to_string())
            } else {
                (
                    format!("{:.2}", median - base.2),
                    format!("{:.2}", (median - base.2) * 1e3 / *n as f64),
                    format!("{:.0}", (*size as f64 - base.6 as f64) / *n as f64),
                )
            };
            let _ = writeln!(
                table,
                "| {tool} | {} | {median:.2} ({min:.2}-{max:.2}) | {delta} | {per_ms} | {size} | {per_bytes} |",
                if *n == 0 { "0 (no embedding)".to_string() } else { n.to_string() }
            );
        }
        println!("{table}");
        Ok(())
    }
}

/// A connection cut by the server or another session, not the tool's fault.
fn transient(e: &str) -> bool {
    // 53200: out of shared memory, when another session holds most of the
    // server's lock table (a big all-or-nothing run elsewhere).
    e.contains("57P01") || e.contains("administrator command") || e.contains("connection closed") || e.contains("53200")
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 { v[m] } else { (v[m - 1] + v[m]) / 2.0 }
}

fn summary(samples: &[Sample]) -> String {
    type Runs = (Vec<f64>, Vec<f64>, BTreeMap<usize, f64>);
    let mut groups: BTreeMap<(Engine, &str, usize), BTreeMap<&str, Runs>> = BTreeMap::new();
    for s in samples {
        let e = groups.entry((s.engine, s.label.as_str(), s.n)).or_default().entry(s.tool).or_default();
        e.0.push(s.ms);
        e.1.push(s.wall_ms);
        e.2.insert(s.round, s.ms);
    }
    let mut out = String::from(
        "| engine | measurement | N | tool | runs | median ms | min ms | max ms | ratio to floor (medians) | paired ratio (median of per-round ratios) | process wall, median ms |\n|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for ((engine, label, n), tools) in &groups {
        let floor = tools.get(FLOOR).map(|(ms, _, _)| median(&mut ms.clone()));
        let floor_rounds = tools.get(FLOOR).map(|r| r.2.clone()).unwrap_or_default();
        let mut order: Vec<_> = tools.keys().copied().collect();
        order.sort_by_key(|t| TOOLS.iter().position(|x| x.name == *t));
        for tool in order {
            let (ms, wall, rounds) = &tools[tool];
            let mut ms = ms.clone();
            let med = median(&mut ms);
            let ratio = floor.map_or("-".to_string(), |f| format!("{:.2}x", med / f));
            let mut paired: Vec<f64> = rounds.iter().filter_map(|(r, v)| floor_rounds.get(r).map(|f| v / f)).collect();
            let paired = if paired.is_empty() { "-".to_string() } else { format!("{:.2}x", median(&mut paired)) };
            let _ = writeln!(
                out,
                "| {} | {label} | {n} | {tool} | {} | {med:.3} | {:.3} | {:.3} | {ratio} | {paired} | {:.1} |",
                engine.as_str(),
                ms.len(),
                ms[0],
                ms[ms.len() - 1],
                median(&mut wall.clone())
            );
        }
    }
    out
}

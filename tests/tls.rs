//! TLS to PostgreSQL against a real server: each `sslmode`, `sslrootcert`,
//! the errors a user meets (a wrong CA, a host name the certificate does
//! not hold, a missing CA file, a server without TLS), and a migration run
//! of the `ebbtide` binary over a verified connection.
//!
//! The server is a scratch PostgreSQL cluster of the test's own, not the
//! shared test server: the shared server's TLS is the machine's (Debian
//! turns it on with a self-signed "snakeoil" certificate no test can
//! verify, other machines leave it off), and reconfiguring it would pull
//! the ground from under the other suites. `initdb` and `pg_ctl` (found
//! under /usr/lib/postgresql/*/bin) make a cluster in a temporary
//! directory, listening on a free loopback port with `ssl = on`; as root
//! they run as the `postgres` user through `runuser`, since PostgreSQL
//! refuses to run as root. The `openssl` command line makes the
//! certificates: a CA, a server certificate it signs for `localhost` only
//! (so that `127.0.0.1` is a host name it does not hold), and an
//! unrelated CA. A real server rather than a TLS proxy, so that the
//! handshake is PostgreSQL's own (SSLRequest, then OpenSSL), as managed
//! services run it. It takes about three seconds, most of it `initdb`.
//!
//! Outside CI, a machine without PostgreSQL's server binaries or `openssl`
//! skips with one line; under `CI=true` it fails.
//!
//! Compiled as an integration test of the `ebbtide` package (see its
//! Cargo.toml), so cargo builds the binary it runs; the `cli` feature
//! includes `postgres-tls`.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::Dir;

/// A password the server never asks for (trust authentication), there to
/// be kept out of every message.
const PASSWORD: &str = "hunter2";

/// A PostgreSQL cluster of the test's own with TLS on; stopped and removed
/// when dropped.
struct TlsServer {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    /// `Some` when the test runs as root: the cluster runs as this user.
    owner: Option<(u32, u32)>,
}

impl TlsServer {
    /// Starts one, or returns `None` (after saying why) when this machine
    /// cannot, outside CI.
    fn start() -> Option<TlsServer> {
        let Some(bin) = server_binaries() else {
            return skip("PostgreSQL's server binaries are not installed (no /usr/lib/postgresql/*/bin/initdb)");
        };
        if Command::new("openssl").arg("version").output().is_err() {
            return skip("the openssl command line is not installed (apt-get install openssl)");
        }
        let root = std::fs::metadata("/proc/self").is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0);
        let owner = if root { Some(postgres_user()) } else { None };
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let server = TlsServer { dir, bin, port, owner };
        support::make_certificates(server.dir.path());
        if let Some((uid, gid)) = owner {
            for entry in std::fs::read_dir(server.dir.path()).unwrap() {
                std::os::unix::fs::chown(entry.unwrap().path(), Some(uid), Some(gid)).unwrap();
            }
            std::os::unix::fs::chown(server.dir.path(), Some(uid), Some(gid)).unwrap();
        }
        // PostgreSQL refuses a key others can read.
        std::fs::set_permissions(server.path("server.key"), std::fs::Permissions::from_mode(0o600)).unwrap();
        server.run("initdb", &["-D", &server.data(), "-A", "trust", "-U", "postgres", "--no-sync"]);
        let conf = format!(
            "\nssl = on\nssl_cert_file = '{}'\nssl_key_file = '{}'\n",
            server.path("server.pem").display(),
            server.path("server.key").display()
        );
        let mut file = std::fs::OpenOptions::new().append(true).open(server.path("data/postgresql.conf")).unwrap();
        std::io::Write::write_all(&mut file, conf.as_bytes()).unwrap();
        let options = format!(
            "-p {} -c listen_addresses=localhost -c unix_socket_directories='{}' -c fsync=off",
            server.port,
            server.dir.path().display()
        );
        let log = server.path("server.log").display().to_string();
        server.run("pg_ctl", &["-D", &server.data(), "-l", &log, "-w", "-t", "30", "-o", &options, "start"]);
        Some(server)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn data(&self) -> String {
        self.path("data").display().to_string()
    }

    /// Runs one of the server's programs, as the cluster's owner.
    fn run(&self, program: &str, args: &[&str]) {
        let program = self.bin.join(program);
        let mut command = match self.owner {
            Some(_) => {
                let mut runuser = Command::new("runuser");
                runuser.args(["-u", "postgres", "--"]).arg(&program);
                runuser
            }
            None => Command::new(&program),
        };
        let out = command.args(args).stdin(Stdio::null()).output().unwrap();
        let log = std::fs::read_to_string(self.path("server.log")).unwrap_or_default();
        assert!(
            out.status.success(),
            "{} {args:?}: {}{}\nserver log:\n{log}",
            program.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A URL of this server through `host`, with `query`.
    fn url(&self, host: &str, query: &str) -> String {
        format!("postgres://postgres:{PASSWORD}@{host}:{}/postgres?{query}", self.port)
    }

    /// `query` with `sslrootcert` naming one of the made files.
    fn root(&self, file: &str) -> String {
        self.path(file).display().to_string()
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let program = self.bin.join("pg_ctl");
        let data = self.data();
        let args = ["-D", data.as_str(), "-m", "immediate", "stop"];
        let _ = match self.owner {
            Some(_) => Command::new("runuser").args(["-u", "postgres", "--"]).arg(program).args(args).output(),
            None => Command::new(program).args(args).output(),
        };
    }
}

fn skip<T>(why: &str) -> Option<T> {
    assert!(!support::in_ci(), "the TLS tests need a PostgreSQL server of their own under CI=true: {why}");
    eprintln!("skipped: {why}");
    None
}

/// The newest PostgreSQL's server binaries installed.
fn server_binaries() -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| {
            let path = e.ok()?.path();
            let version = path.file_name()?.to_str()?.parse().ok()?;
            path.join("bin/initdb").exists().then(|| (version, path.join("bin")))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin)
}

/// The `postgres` user's uid and gid.
fn postgres_user() -> (u32, u32) {
    let id = |flag: &str| -> u32 {
        let out = Command::new("id").args([flag, "postgres"]).output().unwrap();
        assert!(out.status.success(), "a postgres user exists to run the scratch cluster (it comes with the server)");
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    };
    (id("-u"), id("-g"))
}

/// Whether a connection through `url` succeeds and is encrypted; or the
/// error's message.
async fn encrypted(url: &str) -> Result<bool, String> {
    let client = ebbtide::postgres::connect(url).await.map_err(|e| e.to_string())?;
    let rows = client.simple_query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").await.unwrap();
    let ssl = rows.iter().find_map(|m| match m {
        tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(|v| v == "t"),
        _ => None,
    });
    Ok(ssl.expect("pg_stat_ssl has the session's row"))
}

/// The error `url` meets: one line, naming the server without its
/// password, saying `expected`.
async fn refused(url: &str, expected: &str) -> String {
    let err = encrypted(url).await.expect_err(url);
    assert!(err.contains(expected), "expected {expected:?} in: {err}");
    assert!(!err.contains(PASSWORD), "the password shows: {err}");
    assert!(err.contains("postgres:***@"), "the server is named: {err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    err
}

fn ebbtide(dir: &Path, url: &str, args: &[&str]) -> Output {
    support::ebbtide_cli(env!("CARGO_BIN_EXE_ebbtide"), dir, url).args(args).output().expect("run ebbtide")
}

#[tokio::test]
async fn tls_modes_against_a_server_with_a_certificate_of_its_own() {
    let Some(server) = TlsServer::start() else { return };
    let (ca, other_ca) = (server.root("ca.pem"), server.root("other-ca.pem"));

    // verify-full: the right CA and a host name the certificate holds.
    let url = server.url("localhost", &format!("sslmode=verify-full&sslrootcert={ca}"));
    assert_eq!(encrypted(&url).await, Ok(true), "verify-full with the right CA and host");

    // verify-full: a host the certificate does not name (it holds only
    // localhost), then a CA that did not issue it.
    let url = server.url("127.0.0.1", &format!("sslmode=verify-full&sslrootcert={ca}"));
    let err = refused(&url, "the server's certificate does not name the host of the URL (sslmode=verify-full)").await;
    assert!(err.contains("127.0.0.1") && err.contains("localhost"), "names both: {err}");
    let url = server.url("localhost", &format!("sslmode=verify-full&sslrootcert={other_ca}"));
    refused(&url, &format!("not issued by a CA of sslrootcert {other_ca}")).await;
    // Nor do the built-in roots trust a private CA.
    let url = server.url("localhost", "sslmode=verify-full");
    refused(&url, "not issued by a CA of the built-in Mozilla roots (webpki-roots)").await;

    // verify-ca checks the chain whatever the host; require checks nothing
    // without a CA, and the chain when one is given (as libpq does).
    let url = server.url("127.0.0.1", &format!("sslmode=verify-ca&sslrootcert={ca}"));
    assert_eq!(encrypted(&url).await, Ok(true), "verify-ca by IP address");
    let url = server.url("127.0.0.1", &format!("sslmode=verify-ca&sslrootcert={other_ca}"));
    refused(&url, "not issued by a CA of sslrootcert").await;
    assert_eq!(encrypted(&server.url("127.0.0.1", "sslmode=require")).await, Ok(true), "require without a CA");
    let url = server.url("127.0.0.1", &format!("sslmode=require&sslrootcert={other_ca}"));
    refused(&url, "(sslmode=require)").await;
    // prefer takes TLS when the server offers it; disable never does.
    assert_eq!(encrypted(&server.url("localhost", "sslmode=prefer")).await, Ok(true), "prefer");
    assert_eq!(encrypted(&server.url("localhost", "sslmode=disable")).await, Ok(false), "disable");

    // A CA file that is not there.
    let missing = server.root("missing.pem");
    let url = server.url("localhost", &format!("sslmode=verify-full&sslrootcert={missing}"));
    refused(&url, &format!("cannot read sslrootcert {missing}: ")).await;

    // A migration run of the binary, end to end over verify-full: applied,
    // recorded, and told so by another verified run.
    let dir = Dir::new(&[
        ("expand/0001_create_users.sql", "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);\n"),
        ("contract/0002_drop_users_name.sql", "ALTER TABLE users DROP COLUMN name;\n"),
    ]);
    let url = server.url("localhost", &format!("sslmode=verify-full&sslrootcert={ca}"));
    let sync = ebbtide(dir.path(), &url, &["sync"]);
    let stderr = String::from_utf8_lossy(&sync.stderr);
    assert!(sync.status.success(), "sync over TLS: {stderr}");
    let check = ebbtide(dir.path(), &url, &["check"]);
    assert_eq!(check.status.code(), Some(0), "current after the sync: {}", String::from_utf8_lossy(&check.stderr));
    let client = ebbtide::postgres::connect(&url).await.unwrap();
    let recorded = client.simple_query("SELECT count(*) FROM ebbtide_migrations").await.unwrap();
    let count = recorded.iter().find_map(|m| match m {
        tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_string),
        _ => None,
    });
    assert_eq!(count.as_deref(), Some("2"), "both migrations recorded");
    drop(client);
    // The binary's refusal is the same one line.
    let url = server.url("127.0.0.1", &format!("sslmode=verify-full&sslrootcert={ca}"));
    let failed = ebbtide(dir.path(), &url, &["sync"]);
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert_ne!(failed.status.code(), Some(0), "sync through a host the certificate does not name");
    assert!(stderr.contains("does not name the host of the URL") && !stderr.contains(PASSWORD), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");

    // The same server with TLS turned off: require refuses, prefer goes on
    // without it.
    let admin = ebbtide::postgres::connect(&server.url("localhost", "sslmode=disable")).await.unwrap();
    admin.batch_execute("ALTER SYSTEM SET ssl = off").await.unwrap();
    admin.batch_execute("SELECT pg_reload_conf()").await.unwrap();
    let started = Instant::now();
    while encrypted(&server.url("localhost", "sslmode=prefer")).await != Ok(false) {
        assert!(started.elapsed() < Duration::from_secs(10), "the server reloads its configuration");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    refused(&server.url("localhost", "sslmode=require"), "the server does not accept TLS connections").await;
}

//! TLS to MariaDB: `ebbtide::mysql::connect`'s `sslmode` and `sslrootcert`
//! against a server of the test's own, and a migration run of the binary
//! over a verified connection.
//!
//! The machine's own MariaDB is not used: it may have TLS off or a
//! certificate no test can verify, and restarting it would pull the ground
//! from under the other suites. `mariadb-install-db` and `mariadbd` make a
//! server in a temporary directory, listening on a free loopback port with
//! certificates the `openssl` command line makes: a CA, a server
//! certificate it signs for `localhost` only (so that `127.0.0.1` is a host
//! name it does not hold), and an unrelated CA. The same data directory
//! is then started again with TLS off, for the refusals of a server without
//! it. A real server rather than a TLS proxy, so that the handshake is
//! MariaDB's own (an SSL request inside its protocol, then TLS). It takes
//! about two seconds.
//!
//! Outside CI, a machine without `mariadb-install-db`, `mariadbd` or
//! `openssl` skips with one line; under `CI=true` it fails.
//!
//! Compiled as an integration test of the `ebbtide` package (see its
//! Cargo.toml), so cargo builds the binary it runs; the `cli` feature
//! includes `mysql-tls`.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use support::Dir;

/// The password of the test's user, to be kept out of every message.
const PASSWORD: &str = "hunter2";

/// A MariaDB server of the test's own; killed, and its directory removed,
/// when dropped.
struct Server {
    dir: tempfile::TempDir,
    install_db: PathBuf,
    mariadbd: PathBuf,
    port: u16,
    process: Option<Child>,
}

impl Server {
    /// Starts one with TLS on, or returns `None` (after saying why) when
    /// this machine cannot, outside CI.
    fn start() -> Option<Server> {
        let (Some(install_db), Some(mariadbd)) = (program("mariadb-install-db"), program("mariadbd")) else {
            return skip("MariaDB's server programs are not installed (mariadb-install-db, mariadbd)");
        };
        if Command::new("openssl").arg("version").output().is_err() {
            return skip("the openssl command line is not installed (apt-get install openssl)");
        }
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut server = Server { dir, install_db, mariadbd, port, process: None };
        support::make_certificates(server.dir.path());
        let data = format!("--datadir={}", server.path("data").display());
        let mut install = Command::new(&server.install_db);
        install.args(["--no-defaults", &data, "--auth-root-authentication-method=normal", "--skip-test-db"]);
        if running_as_root() {
            install.arg("--user=root");
        }
        let out = install.stdin(Stdio::null()).output().unwrap();
        assert!(out.status.success(), "mariadb-install-db: {}", String::from_utf8_lossy(&out.stderr));
        server.run(true);
        Some(server)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Starts `mariadbd` on the data directory, with TLS or without, and
    /// waits until it takes connections.
    fn run(&mut self, tls: bool) {
        let path = |name: &str| self.path(name).display().to_string();
        let mut command = Command::new(&self.mariadbd);
        command.args([
            "--no-defaults".to_string(),
            format!("--datadir={}", path("data")),
            format!("--socket={}", path("sock")),
            format!("--pid-file={}", path("mariadbd.pid")),
            format!("--log-error={}", path("server.log")),
            format!("--port={}", self.port),
            "--bind-address=127.0.0.1".into(),
            "--innodb-buffer-pool-size=16M".into(),
        ]);
        if tls {
            command.args([
                format!("--ssl-ca={}", path("ca.pem")),
                format!("--ssl-cert={}", path("server.pem")),
                format!("--ssl-key={}", path("server.key")),
            ]);
        } else {
            command.arg("--skip-ssl");
        }
        if running_as_root() {
            command.arg("--user=root");
        }
        let mut child = command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        let started = Instant::now();
        // Its socket too: the test's user is made through it.
        while !(support::listening(self.port) && self.path("sock").exists()) {
            let log = || std::fs::read_to_string(self.path("server.log")).unwrap_or_default();
            if let Some(status) = child.try_wait().unwrap() {
                panic!("mariadbd ended ({status}) before it took connections; its log:\n{}", log());
            }
            if started.elapsed() > Duration::from_secs(30) {
                let _ = child.kill();
                panic!("mariadbd took no connection within 30 seconds; its log:\n{}", log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.process = Some(child);
    }

    /// Kills the server and waits for it to end.
    fn stop(&mut self) {
        if let Some(mut child) = self.process.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// A URL of the test's user on this server through `host`, with `query`.
    fn url(&self, host: &str, query: &str) -> String {
        format!("mysql://app:{PASSWORD}@{host}:{}/ebbtide?{query}", self.port)
    }

    fn file(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }

    /// The test's user (with a password) and its database, made by root
    /// over the Unix socket.
    async fn add_user(&self) {
        let socket = self.file("sock");
        let opts = mysql_async::OptsBuilder::default().user(Some("root")).socket(Some(socket));
        let mut conn = mysql_async::Conn::new(opts).await.unwrap();
        conn.query_drop(format!(
            "CREATE USER 'app'@'%' IDENTIFIED BY '{PASSWORD}'; GRANT ALL ON *.* TO 'app'@'%'; CREATE DATABASE ebbtide"
        ))
        .await
        .unwrap();
        conn.disconnect().await.unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn skip<T>(why: &str) -> Option<T> {
    assert!(!support::in_ci(), "the MySQL TLS tests need a MariaDB server of their own under CI=true: {why}");
    eprintln!("skipped: {why}");
    None
}

/// `name` on the PATH, or in the sbin directories a non-root PATH leaves
/// out.
fn program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// mariadbd refuses to run as root unless told `--user=root`.
fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
}

/// Whether a connection through `url` succeeds and is encrypted; or the
/// error's message.
async fn encrypted(url: &str) -> Result<bool, String> {
    let pool = ebbtide::mysql::connect(url).await.map_err(|e| e.to_string())?;
    let mut conn = pool.get_conn().await.unwrap();
    let cipher: Option<(String, String)> = conn.query_first("SHOW SESSION STATUS LIKE 'Ssl_cipher'").await.unwrap();
    drop(conn);
    pool.disconnect().await.unwrap();
    Ok(!cipher.expect("Ssl_cipher is a status variable").1.is_empty())
}

/// The error `url` meets: one line, naming the server without its
/// password, saying `expected`.
async fn refused(url: &str, expected: &str) -> String {
    let err = encrypted(url).await.expect_err(url);
    assert!(err.contains(expected), "expected {expected:?} in: {err}");
    assert!(!err.contains(PASSWORD), "the password shows: {err}");
    assert!(err.contains("app:***@"), "the server is named: {err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    err
}

fn ebbtide(dir: &Path, url: &str, args: &[&str]) -> Output {
    support::ebbtide_cli(env!("CARGO_BIN_EXE_ebbtide"), dir, url).args(args).output().expect("run ebbtide")
}

#[tokio::test]
async fn tls_modes_against_a_mariadb_server_with_a_certificate_of_its_own() {
    let Some(mut server) = Server::start() else { return };
    server.add_user().await;
    let (ca, other_ca) = (server.file("ca.pem"), server.file("other-ca.pem"));

    // verify-full: the right CA and a host name the certificate holds, in
    // libpq's and MySQL's spellings.
    let url = server.url("localhost", &format!("sslmode=verify-full&sslrootcert={ca}"));
    assert_eq!(encrypted(&url).await, Ok(true), "verify-full with the right CA and host");
    let url = server.url("localhost", &format!("sslmode=VERIFY_IDENTITY&sslrootcert={ca}"));
    assert_eq!(encrypted(&url).await, Ok(true), "VERIFY_IDENTITY");

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

    // verify-ca checks the chain, and under mysql_async 0.37 the host name
    // too: this pins it, so that the day it stops, the docs change.
    let url = server.url("localhost", &format!("sslmode=verify-ca&sslrootcert={ca}"));
    assert_eq!(encrypted(&url).await, Ok(true), "verify-ca with the right CA");
    let url = server.url("localhost", &format!("sslrootcert={other_ca}"));
    refused(&url, "not issued by a CA of sslrootcert").await;
    let url = server.url("127.0.0.1", &format!("sslmode=verify-ca&sslrootcert={ca}"));
    refused(&url, "(mysql_async checks it under verify-ca too)").await;
    // verify-ca without a CA is refused before any connection: this host
    // does not exist.
    let url = format!("mysql://app:{PASSWORD}@nowhere.invalid:1/ebbtide?sslmode=verify-ca");
    let err = ebbtide::mysql::connect(&url).await.expect_err("verify-ca without sslrootcert").to_string();
    assert!(err.contains("sslmode=verify-ca needs sslrootcert") && !err.contains(PASSWORD), "{err}");

    // require and prefer encrypt and check nothing; disable never encrypts.
    assert_eq!(encrypted(&server.url("127.0.0.1", "sslmode=REQUIRED")).await, Ok(true), "required");
    assert_eq!(encrypted(&server.url("127.0.0.1", "sslmode=prefer")).await, Ok(true), "prefer");
    assert_eq!(encrypted(&server.url("localhost", "sslmode=disable")).await, Ok(false), "disable");
    assert_eq!(encrypted(&server.url("localhost", "")).await, Ok(false), "no TLS unless asked");

    // A CA file that is not there.
    let missing = server.file("missing.pem");
    let url = server.url("localhost", &format!("sslmode=verify-full&sslrootcert={missing}"));
    refused(&url, &format!("cannot read sslrootcert {missing}: ")).await;

    // A migration run of the binary, end to end over verify-full: applied,
    // recorded, and told so by another verified run.
    let dir = Dir::new(&[
        ("expand/0001_create_users.sql", "CREATE TABLE users (id INT PRIMARY KEY, name TEXT);\n"),
        ("contract/0002_drop_users_name.sql", "ALTER TABLE users DROP COLUMN name;\n"),
    ]);
    let url = server.url("localhost", &format!("sslmode=verify-full&sslrootcert={ca}"));
    let sync = ebbtide(dir.path(), &url, &["sync"]);
    assert!(sync.status.success(), "sync over TLS: {}", String::from_utf8_lossy(&sync.stderr));
    let check = ebbtide(dir.path(), &url, &["check"]);
    assert_eq!(check.status.code(), Some(0), "current after the sync: {}", String::from_utf8_lossy(&check.stderr));
    let pool = ebbtide::mysql::connect(&url).await.unwrap();
    let mut conn = pool.get_conn().await.unwrap();
    let recorded: Option<u64> = conn.query_first("SELECT COUNT(*) FROM ebbtide_migrations").await.unwrap();
    assert_eq!(recorded, Some(2), "both migrations recorded");
    drop(conn);
    pool.disconnect().await.unwrap();
    // The binary's refusal is the same one line.
    let url = server.url("127.0.0.1", &format!("sslmode=verify-full&sslrootcert={ca}"));
    let failed = ebbtide(dir.path(), &url, &["sync"]);
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert_ne!(failed.status.code(), Some(0), "sync through a host the certificate does not name");
    assert!(stderr.contains("does not name the host of the URL") && !stderr.contains(PASSWORD), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");

    // The same server with TLS off: require refuses, prefer goes on
    // without it.
    server.stop();
    server.run(false);
    refused(&server.url("localhost", "sslmode=required"), "the server does not accept TLS connections").await;
    let url = server.url("localhost", &format!("sslmode=verify-full&sslrootcert={ca}"));
    refused(&url, "and sslmode=verify-full requires TLS").await;
    assert_eq!(encrypted(&server.url("localhost", "sslmode=PREFERRED")).await, Ok(false), "prefer, without TLS");
}

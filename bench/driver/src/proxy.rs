//! A PostgreSQL wire-protocol proxy that counts what clients send between
//! the markers `SELECT 'bench:start'` and `SELECT 'bench:end'`.
//!
//! It sees every library the same way, whatever its driver (tokio-postgres,
//! sqlx, libpq), without server configuration: no `pg_stat_statements`
//! (not preloaded on the server), no `log_statement`.
//!
//! - `statements`: SQL statements executed: each statement of a simple
//!   query ('Q', which may hold several separated by `;`), plus each
//!   extended-protocol Execute ('E');
//! - `round_trips`: requests the client waits on: each 'Q' and each Sync ('S');
//! - `parses`: extended-protocol Parse messages (statement preparations).
//!
//! Clients must connect with `sslmode=disable`: a TLS stream cannot be read.
//!
//! [`Proxy::start_mysql`] does the same for the MySQL protocol (MariaDB):
//! every command packet (sequence id 0) is read, and between the markers
//! `statements` are the statements of each `COM_QUERY` (split as above;
//! `#` comments and backslash escapes are not understood, and the libraries'
//! statements and the generated migrations use neither) plus each
//! `COM_STMT_EXECUTE`, `parses` each `COM_STMT_PREPARE`, and `round_trips`
//! each command the server answers (all but `COM_STMT_CLOSE`,
//! `COM_STMT_SEND_LONG_DATA` and `COM_QUIT`; a pooled connection's
//! `COM_RESET_CONNECTION` counts). Libraries that use a pool spread their
//! work over connections, so the MySQL window is one for the whole proxy:
//! whatever any connection sends between the markers counts.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;

#[derive(Clone, Copy, Debug, Default)]
pub struct Counts {
    pub statements: u64,
    pub round_trips: u64,
    pub parses: u64,
    /// Completed start..end windows.
    pub windows: u64,
    /// A TLS request passed through: nothing could be counted.
    pub tls: bool,
    /// MySQL: a start marker was seen and no end marker yet.
    pub open: bool,
}

pub struct Proxy {
    pub addr: SocketAddr,
    counts: Arc<Mutex<Counts>>,
}

impl Proxy {
    /// A PostgreSQL proxy.
    pub fn start(upstream: SocketAddr) -> io::Result<Proxy> {
        Proxy::listen(upstream, forward)
    }

    /// A MySQL proxy.
    pub fn start_mysql(upstream: SocketAddr) -> io::Result<Proxy> {
        Proxy::listen(upstream, forward_mysql)
    }

    fn listen(upstream: SocketAddr, forward: Forward) -> io::Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let counts = Arc::new(Mutex::new(Counts::default()));
        let shared = counts.clone();
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let counts = shared.clone();
                thread::spawn(move || {
                    let _ = serve(client, upstream, counts, forward);
                });
            }
        });
        Ok(Proxy { addr, counts })
    }

    pub fn reset(&self) {
        *self.counts.lock().unwrap() = Counts::default();
    }

    pub fn counts(&self) -> Counts {
        *self.counts.lock().unwrap()
    }
}

type Forward = fn(&mut TcpStream, &mut TcpStream, &Mutex<Counts>) -> io::Result<()>;

fn serve(client: TcpStream, upstream: SocketAddr, counts: Arc<Mutex<Counts>>, forward: Forward) -> io::Result<()> {
    let server = TcpStream::connect(upstream)?;
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    let (mut from_server, mut to_client) = (server.try_clone()?, client.try_clone()?);
    let back = thread::spawn(move || {
        let _ = io::copy(&mut from_server, &mut to_client);
        let _ = to_client.shutdown(Shutdown::Both);
    });
    let mut from_client = client;
    let mut to_server = server;
    let result = forward(&mut from_client, &mut to_server, &counts);
    let _ = to_server.shutdown(Shutdown::Write);
    let _ = back.join();
    result
}

fn read_exact_vec(r: &mut impl Read, n: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0; n];
    r.read_exact(&mut buf)?;
    Ok(buf)
}

fn forward(from: &mut TcpStream, to: &mut TcpStream, counts: &Mutex<Counts>) -> io::Result<()> {
    // Startup packets have no type byte: length (4) and body.
    loop {
        let len = read_exact_vec(from, 4)?;
        let n = u32::from_be_bytes(len[..].try_into().unwrap()) as usize;
        let body = read_exact_vec(from, n.saturating_sub(4))?;
        to.write_all(&len)?;
        to.write_all(&body)?;
        let code = body.get(..4).map(|c| u32::from_be_bytes(c.try_into().unwrap()));
        match code {
            // SSLRequest, GSSENCRequest: the server answers one byte; with
            // sslmode=disable we never get here.
            Some(80877103) | Some(80877104) => {
                counts.lock().unwrap().tls = true;
                // Pass everything through blind from now on.
                io::copy(from, to)?;
                return Ok(());
            }
            _ => break,
        }
    }
    let mut window = false;
    loop {
        let mut head = [0u8; 5];
        if from.read_exact(&mut head).is_err() {
            return Ok(());
        }
        let n = u32::from_be_bytes(head[1..5].try_into().unwrap()) as usize;
        let body = read_exact_vec(from, n.saturating_sub(4))?;
        to.write_all(&head)?;
        to.write_all(&body)?;
        let kind = head[0];
        match kind {
            b'Q' => {
                let sql = String::from_utf8_lossy(body.strip_suffix(&[0]).unwrap_or(&body));
                if sql.contains("bench:start") {
                    window = true;
                } else if sql.contains("bench:end") {
                    window = false;
                    counts.lock().unwrap().windows += 1;
                } else if window {
                    let mut c = counts.lock().unwrap();
                    c.round_trips += 1;
                    c.statements += statements_in(&sql);
                }
            }
            b'E' if window => counts.lock().unwrap().statements += 1,
            b'S' if window => counts.lock().unwrap().round_trips += 1,
            b'P' if window => counts.lock().unwrap().parses += 1,
            b'X' => return Ok(()),
            _ => {}
        }
    }
}

/// The client's side of a MySQL connection: 3 bytes of length (little
/// endian), a sequence id, the payload. A command is a packet with sequence
/// id 0 (the handshake response is 1; the auth exchange continues upwards).
fn forward_mysql(from: &mut TcpStream, to: &mut TcpStream, counts: &Mutex<Counts>) -> io::Result<()> {
    let mut first = true;
    loop {
        let mut head = [0u8; 4];
        if from.read_exact(&mut head).is_err() {
            return Ok(());
        }
        let n = u32::from_le_bytes([head[0], head[1], head[2], 0]) as usize;
        let body = read_exact_vec(from, n)?;
        to.write_all(&head)?;
        to.write_all(&body)?;
        let seq = head[3];
        if first && seq == 1 {
            first = false;
            // An SSLRequest: the capability flags alone, CLIENT_SSL set.
            let caps = body.get(..4).map_or(0, |c| u32::from_le_bytes(c.try_into().unwrap()));
            if n == 32 && caps & 0x800 != 0 {
                counts.lock().unwrap().tls = true;
                io::copy(from, to)?;
                return Ok(());
            }
            continue;
        }
        if seq != 0 || body.is_empty() {
            continue;
        }
        let mut c = counts.lock().unwrap();
        match body[0] {
            // COM_QUERY
            0x03 => {
                let sql = String::from_utf8_lossy(&body[1..]);
                if sql.contains("bench:start") {
                    c.open = true;
                } else if sql.contains("bench:end") {
                    c.open = false;
                    c.windows += 1;
                } else if c.open {
                    c.round_trips += 1;
                    c.statements += statements_in(&sql);
                }
            }
            // COM_STMT_PREPARE
            0x16 if c.open => {
                c.parses += 1;
                c.round_trips += 1;
            }
            // COM_STMT_EXECUTE
            0x17 if c.open => {
                c.statements += 1;
                c.round_trips += 1;
            }
            // COM_QUIT
            0x01 => return Ok(()),
            // COM_STMT_CLOSE, COM_STMT_SEND_LONG_DATA: no answer
            0x19 | 0x18 => {}
            _ if c.open => c.round_trips += 1,
            _ => {}
        }
    }
}

/// The number of non-empty statements of a simple query: `;` outside
/// quotes, dollar quotes and comments separates them.
pub fn statements_in(sql: &str) -> u64 {
    let b = sql.as_bytes();
    let mut i = 0;
    let mut count = 0;
    let mut content = false;
    while i < b.len() {
        match b[i] {
            b'\'' | b'"' => {
                let q = b[i];
                i += 1;
                while i < b.len() {
                    if b[i] == q {
                        if b.get(i + 1) == Some(&q) {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
                content = true;
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                    i += 1;
                }
                i += 1;
            }
            b'$' => {
                let tag_end = b[i + 1..].iter().position(|&c| !(c.is_ascii_alphanumeric() || c == b'_'));
                match tag_end.map(|t| i + 1 + t) {
                    Some(j) if b[j] == b'$' => {
                        let tag = &b[i..=j];
                        let close = b[j + 1..].windows(tag.len()).position(|w| w == tag);
                        i = close.map_or(b.len(), |c| j + 1 + c + tag.len() - 1);
                    }
                    _ => {}
                }
                content = true;
            }
            b';' => {
                if content {
                    count += 1;
                }
                content = false;
            }
            c if c.is_ascii_whitespace() => {}
            _ => content = true,
        }
        i += 1;
    }
    if content {
        count += 1;
    }
    count
}

#[cfg(test)]
mod tests {
    use super::statements_in;

    #[test]
    fn splits_statements() {
        assert_eq!(statements_in("BEGIN"), 1);
        assert_eq!(statements_in("CREATE TABLE t (a int);\nCREATE INDEX i ON t (a);\n"), 2);
        assert_eq!(statements_in("INSERT INTO x VALUES ('a;b', 'it''s');"), 1);
        assert_eq!(statements_in("-- c;\nSELECT 1; /* ; */ SELECT $$;$$; ;"), 2);
        assert_eq!(statements_in("CREATE FUNCTION f() AS $body$ a; b; $body$; SELECT 1"), 2);
    }
}

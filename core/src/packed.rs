//! The compact form `embed_migrations!` bakes into a binary.
//!
//! A list of [`Migration`]s written as Rust struct literals costs the
//! compiler a constant evaluation per field and the binary a pointer (and,
//! in a position-independent executable, a relocation) per string. Instead
//! the macro emits two literals:
//!
//! - `text`: every string of every migration, one after the other
//!   (checksum, fingerprint, the name when it is not part of the up path,
//!   up path, up SQL, then down path and down SQL);
//! - `table`: LEB128 numbers: first every script's statement offsets, as a
//!   section of known length, then each migration's lengths and flags.
//!
//! [`statements`] and [`unpack`] turn them back into the same `Migration`s
//! [`load`](crate::load) returned at build time, every string borrowed from
//! `text`. The macro and the runtime always come from the same ebbtide
//! release; the first byte of the table is a format number all the same.

use std::borrow::Cow;

use crate::backfill::Backfill;
use crate::migration::{Branch, Migration, Script, Statement, Version};

/// The table's format. Bumped whenever the layout below changes.
const FORMAT: u8 = 5;

const DOWN: u32 = 1;
const RELEASE: u32 = 2;
const NO_TRANSACTION: u32 = 1;
const LOCK_TIMEOUT: u32 = 2;
const FOREIGN_KEYS_OFF: u32 = 4;
const SETS_SESSION: u32 = 8;
const LOCK_RETRY: u32 = 16;
const BACKFILL: u32 = 32;

/// Writes `migrations` as `(text, table)`.
pub fn pack(migrations: &[Migration]) -> (String, Vec<u8>) {
    let mut text = String::new();
    let mut table = Vec::new();
    let mut statements = Vec::new();
    number(&mut table, migrations.len() as u32);
    for m in migrations {
        let branch = Branch::ALL.iter().position(|b| *b == m.branch).expect("every branch is in ALL") as u32;
        let flags =
            branch << 2 | if m.down.is_some() { DOWN } else { 0 } | if m.release.is_some() { RELEASE } else { 0 };
        number(&mut table, flags);
        number(&mut table, m.version.get());
        string(&mut text, &mut table, &m.checksum);
        string(&mut text, &mut table, &m.fingerprint);
        if let Some(release) = &m.release {
            string(&mut text, &mut table, release);
        }
        // The name is nearly always part of the up script's file name.
        // Written as where it starts there (plus one) and its length, or as
        // 0 and the name itself.
        match m.up.path.rfind(m.name.as_ref()) {
            Some(at) => {
                number(&mut table, at as u32 + 1);
                number(&mut table, m.name.len() as u32);
            }
            None => {
                number(&mut table, 0);
                string(&mut text, &mut table, &m.name);
            }
        }
        script(&mut text, &mut table, &mut statements, &m.up);
        if let Some(down) = &m.down {
            script(&mut text, &mut table, &mut statements, down);
        }
    }
    // The statements first, behind their length: `statements` reads them
    // without walking the migrations, `unpack` skips them.
    let mut packed = vec![FORMAT];
    number(&mut packed, statements.len() as u32);
    packed.extend_from_slice(&statements);
    packed.extend_from_slice(&table);
    (text, packed)
}

fn script(text: &mut String, table: &mut Vec<u8>, statements: &mut Vec<u8>, s: &Script) {
    string(text, table, &s.path);
    string(text, table, &s.sql);
    let flag = |set: bool, bit: u32| if set { bit } else { 0 };
    let flags = flag(s.no_transaction, NO_TRANSACTION)
        | flag(s.lock_timeout_ms.is_some(), LOCK_TIMEOUT)
        | flag(s.foreign_keys_off, FOREIGN_KEYS_OFF)
        | flag(s.sets_session, SETS_SESSION)
        | flag(s.lock_retry_ms.is_some(), LOCK_RETRY)
        | flag(s.backfill.is_some(), BACKFILL);
    number(table, flags);
    if let Some(ms) = s.lock_timeout_ms {
        number(table, ms);
    }
    if let Some(ms) = s.lock_retry_ms {
        number(table, ms);
    }
    if let Some(b) = &s.backfill {
        string(text, table, &b.table);
        string(text, table, &b.key);
        number(table, b.batch_size);
    }
    number(table, s.statements.len() as u32);
    number(statements, s.statements.len() as u32);
    // Statements run forward through the text: each start is written as
    // the distance from the previous end, each line from the previous line.
    let (mut end, mut line) = (0, 1);
    for st in s.statements.iter() {
        number(statements, st.start - end);
        number(statements, st.end - st.start);
        number(statements, st.line - line);
        (end, line) = (st.end, st.line);
    }
}

fn string(text: &mut String, table: &mut Vec<u8>, s: &str) {
    text.push_str(s);
    number(table, s.len() as u32);
}

fn number(out: &mut Vec<u8>, mut n: u32) {
    while n >= 0x80 {
        out.push(n as u8 | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Reads the table front to back. A table that does not parse was not
/// written by this release's [`pack`]: that is a bug, not an input error.
struct Reader<'t> {
    table: &'t [u8],
    at: usize,
}

impl Reader<'_> {
    fn number(&mut self) -> u32 {
        let mut n = 0u32;
        for shift in (0..35).step_by(7) {
            let byte = self.table[self.at];
            self.at += 1;
            n |= u32::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return n;
            }
        }
        panic!("ebbtide: corrupt table of embedded migrations")
    }
}

fn reader(table: &[u8]) -> Reader<'_> {
    assert!(
        table.first() == Some(&FORMAT),
        "ebbtide: the embedded migrations were packed by another ebbtide release; \
         `ebbtide` and `ebbtide-macros` must have the same version"
    );
    Reader { table, at: 1 }
}

/// Every statement of every script in a packed table, in order: the store
/// [`unpack`] borrows from.
pub fn statements(table: &[u8]) -> Vec<Statement> {
    let mut r = reader(table);
    let section_end = r.number() as usize + r.at;
    let mut out = Vec::new();
    while r.at < section_end {
        // Each script's count, then its statements: offsets start afresh
        // in every script.
        let count = r.number();
        let (mut end, mut line) = (0, 1);
        for _ in 0..count {
            let start = end + r.number();
            end = start + r.number();
            line += r.number();
            out.push(Statement { start, end, line });
        }
    }
    out
}

/// Rebuilds the migrations of `(text, table)`. `statements` is what
/// [`statements`] returned for this table, kept for as long as the result.
pub fn unpack(text: &'static str, table: &[u8], statements: &'static [Statement]) -> Vec<Migration> {
    let mut r = reader(table);
    r.at += r.number() as usize; // the statements' section
    let count = r.number() as usize;
    let mut migrations = Vec::with_capacity(count);
    let mut text = Text { text, at: 0 };
    let mut statements = statements;
    for _ in 0..count {
        let flags = r.number();
        let branch = Branch::ALL[(flags >> 2) as usize];
        let version = Version::new(r.number());
        let checksum = text.take(r.number());
        let fingerprint = text.take(r.number());
        let release = (flags & RELEASE != 0).then(|| Cow::Borrowed(text.take(r.number())));
        let (name_at, name_len) = (r.number() as usize, r.number());
        let name = match name_at {
            0 => text.take(name_len),
            // Part of the up path, which comes next in the text.
            at => &text.text[text.at + at - 1..][..name_len as usize],
        };
        let up = unpack_script(&mut r, &mut text, &mut statements);
        let down = (flags & DOWN != 0).then(|| unpack_script(&mut r, &mut text, &mut statements));
        migrations.push(Migration {
            version,
            branch,
            name: Cow::Borrowed(name),
            release,
            checksum: Cow::Borrowed(checksum),
            fingerprint: Cow::Borrowed(fingerprint),
            up,
            down,
        });
    }
    migrations
}

struct Text {
    text: &'static str,
    at: usize,
}

impl Text {
    fn take(&mut self, len: u32) -> &'static str {
        let start = self.at;
        self.at += len as usize;
        &self.text[start..self.at]
    }
}

fn unpack_script(r: &mut Reader<'_>, text: &mut Text, statements: &mut &'static [Statement]) -> Script {
    let path = text.take(r.number());
    let sql = text.take(r.number());
    let flags = r.number();
    let lock_timeout_ms = (flags & LOCK_TIMEOUT != 0).then(|| r.number());
    let lock_retry_ms = (flags & LOCK_RETRY != 0).then(|| r.number());
    let backfill = (flags & BACKFILL != 0).then(|| {
        let table = Cow::Borrowed(text.take(r.number()));
        let key = Cow::Borrowed(text.take(r.number()));
        Backfill { table, key, batch_size: r.number() }
    });
    let (own, rest) = statements.split_at(r.number() as usize);
    *statements = rest;
    Script {
        path: Cow::Borrowed(path),
        sql: Cow::Borrowed(sql),
        statements: Cow::Borrowed(own),
        no_transaction: flags & NO_TRANSACTION != 0,
        lock_timeout_ms,
        lock_retry_ms,
        foreign_keys_off: flags & FOREIGN_KEYS_OFF != 0,
        sets_session: flags & SETS_SESSION != 0,
        backfill,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(path: &str, sql: &str, statements: &[(u32, u32, u32)]) -> Script {
        Script {
            path: Cow::Owned(path.into()),
            sql: Cow::Owned(sql.into()),
            statements: statements.iter().map(|&(start, end, line)| Statement { start, end, line }).collect(),
            no_transaction: false,
            lock_timeout_ms: None,
            lock_retry_ms: None,
            foreign_keys_off: false,
            sets_session: false,
            backfill: None,
        }
    }

    fn round_trip(migrations: &[Migration]) -> Vec<Migration> {
        let (text, table) = pack(migrations);
        let text: &'static str = Box::leak(text.into_boxed_str());
        let statements: &'static [Statement] = Box::leak(statements(&table).into_boxed_slice());
        unpack(text, &table, statements)
    }

    #[test]
    fn every_field_survives_packing() {
        let sql = "CREATE TABLE a (x int);\n\n  CREATE INDEX a_x ON a (x);";
        let mut first = Migration {
            version: Version::new(1),
            branch: Branch::Initial,
            name: "create_a".into(),
            release: Some("1.0".into()),
            checksum: "c".repeat(64).into(),
            fingerprint: "f".repeat(16).into(),
            up: script("migrations/initial/0001_create_a.sql", sql, &[(0, 23, 1), (27, 54, 3)]),
            down: Some(script("migrations/initial/0001_create_a.down.sql", "DROP TABLE a;", &[(0, 13, 1)])),
        };
        first.up.lock_timeout_ms = Some(300_000);
        let mut second = first.clone();
        second.version = Version::new(2);
        second.branch = Branch::Contract;
        // A name that is not part of the path, a script without statements.
        second.name = "élan".into();
        second.release = None;
        second.up = script("migrations/contract/x.sql", "-- nothing", &[]);
        second.up.no_transaction = true;
        second.down = None;
        let mut third = first.clone();
        third.version = Version::new(3);
        third.branch = Branch::Expand;
        third.down.as_mut().unwrap().no_transaction = true;
        third.up.foreign_keys_off = true;
        third.up.backfill = Some(Backfill { table: "users".into(), key: "id".into(), batch_size: 500 });
        third.up.sets_session = true;
        let migrations = vec![first, second, third];
        assert_eq!(round_trip(&migrations), migrations);
    }

    #[test]
    fn an_empty_list_packs_to_an_empty_list() {
        let (text, table) = pack(&[]);
        assert_eq!((text.as_str(), table.as_slice()), ("", &[FORMAT, 0, 0][..]));
        assert!(round_trip(&[]).is_empty());
    }

    #[test]
    fn large_numbers_take_several_bytes_and_come_back() {
        for n in [0, 1, 127, 128, 16_383, 16_384, u32::MAX] {
            let mut out = Vec::new();
            number(&mut out, n);
            assert_eq!(out.len(), (32 - n.leading_zeros()).div_ceil(7).max(1) as usize);
            assert_eq!(Reader { table: &out, at: 0 }.number(), n);
        }
    }

    #[test]
    #[should_panic(expected = "must have the same version")]
    fn a_table_of_another_format_is_refused() {
        statements(&[FORMAT + 1, 0, 0]);
    }
}

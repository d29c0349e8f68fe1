//! Reading the version table: the records as the planner wants them, the
//! startup check's streamed analysis, and stored down scripts.

use crate::Script;
use crate::Version;
use crate::dialect::TableName;
use crate::engine::{DbError, Driver};
use crate::error::Error;
use crate::plan::Analysis;
use crate::record::{Cell, Record, State};
use crate::settings::Settings;

/// Reads the version table: `None` when it does not exist. `full` also
/// reads when each migration was recorded and how long it took (for
/// `status`); plans and the startup check do without.
pub(crate) async fn read_state<D: Driver>(d: &mut D, table: &TableName, full: bool) -> Result<State, Error> {
    let mut records = Vec::new();
    let mut corrupt: Option<String> = None;
    let sql = d.sql().select_records(table, full);
    let read = d
        .query(&sql, &mut |row| {
            if corrupt.is_some() {
                return;
            }
            match Record::from_row(row, full) {
                Ok(record) => records.push(record),
                Err(detail) => corrupt = Some(detail),
            }
        })
        .await;
    match read {
        Err(e) if e.undefined_table => Ok(None),
        Err(e) => Err(Error::database(format!("cannot read the version table {table}"), e)),
        Ok(()) => match corrupt {
            Some(detail) => Err(Error::CorruptRecord { table: table.to_string(), detail }),
            None => Ok(Some(records)),
        },
    }
}

/// Streams the version table into an [`Analysis`], comparing each record's
/// fingerprint with the embedded one's: the startup check, and the "nothing
/// to do" answer of `sync`, read two short columns per record, allocate
/// nothing per row, and send one query in the common case. Records of a
/// newer release (above this one's latest version) are named by a second
/// query, and records whose fingerprint differs (divergence) are read again
/// in full by another, to say what changed. `None`: no version table.
pub(crate) async fn read_analysis<D: Driver>(d: &mut D, settings: &Settings<'_>) -> Result<Option<Analysis>, Error> {
    let table = settings.table_name();
    let migrations = settings.migrations();
    let dialect = d.sql();
    let mut analysis = Analysis::default();
    let mut differ: Vec<Version> = Vec::new();
    let mut newer = false;
    let mut corrupt: Option<String> = None;
    let fingerprints = migrations.fingerprints();
    let read = d
        .query(&dialect.select_keys(table), &mut |row| {
            let cell = |i: usize| Cell::at(row, i);
            let Some(version) = cell(0).int().and_then(|v| u32::try_from(v).ok()).map(Version::new) else {
                corrupt.get_or_insert_with(|| format!("version {:?}", cell(0).text()));
                return;
            };
            let index = (version.get() as usize).wrapping_sub(1);
            let same = match fingerprints {
                Some(all) => all.get(index).map(|f| f[..] == *cell(1).bytes()),
                None => migrations.get(version).map(|m| m.fingerprint.as_bytes() == cell(1).bytes()),
            };
            match same {
                Some(true) => analysis.mark(version),
                Some(false) => differ.push(version),
                None => newer = true,
            }
        })
        .await;
    match read {
        Err(e) if e.undefined_table => return Ok(None),
        Err(e) => return Err(Error::database(format!("cannot read the version table {table}"), e)),
        Ok(()) => {}
    }
    let mut observe = |row: &[Cell<'_>]| match Record::key(row) {
        Ok(key) if Cell::at(row, 4).bytes() == crate::record::STARTED.as_bytes() => {
            let name = String::from_utf8_lossy(key.name).into_owned();
            analysis.started.push(crate::record::MigrationId { version: key.version, name });
        }
        Ok(key) => analysis.observe(migrations, key.version, key.branch, key.name, key.checksum),
        Err(detail) => {
            corrupt.get_or_insert(detail);
        }
    };
    let fail = |e: DbError| Error::database(format!("cannot read the version table {table}"), e);
    if newer {
        // A newer release's records: their branch and name say what they are.
        d.query(&dialect.select_newer(table, migrations.latest()), &mut |row| {
            observe(&[Cell::at(row, 0), Cell::at(row, 1), Cell::at(row, 2), Cell::Null, Cell::Null]);
        })
        .await
        .map_err(fail)?;
    }
    if !differ.is_empty() {
        d.query(&dialect.select_records_in(table, &differ), &mut observe).await.map_err(fail)?;
    }
    // A run in progress holds the lock: what it started is under way
    // (pending), not abandoned.
    if !analysis.started.is_empty() && d.lock_held(table).await.map_err(fail)? {
        analysis.started.clear();
    }
    match corrupt {
        Some(detail) => Err(Error::CorruptRecord { table: table.to_string(), detail }),
        None => Ok(Some(analysis)),
    }
}

/// The down script stored in the version table for `record`, split into
/// statements.
pub(crate) async fn stored_down<D: Driver>(d: &mut D, table: &TableName, record: &Record) -> Result<Script, Error> {
    let mut stored: Option<String> = None;
    d.query(&d.sql().select_down(table, record.version), &mut |row| {
        stored = row.first().filter(|c| **c != Cell::Null).map(|c| c.text().into_owned());
    })
    .await
    .map_err(|e| Error::database(format!("cannot read the down script of {}", record.id()), e))?;
    let sql = stored.ok_or_else(|| {
        Error::found(format!("cannot revert {}", record.id()), "its down script is no longer in the version table")
    })?;
    let path = format!("{} (down script stored in {table})", record.id());
    ebbtide_core::parse_script(path, sql).map_err(|u| {
        Error::found(
            format!("cannot revert {}", record.id()),
            format!("its stored down script has an unterminated {}", u.what),
        )
    })
}

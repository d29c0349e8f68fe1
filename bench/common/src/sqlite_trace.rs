//! Counts the statements every SQLite connection of this process runs
//! between the two markers, whatever library opened the connection.
//!
//! [`install`] registers an auto-extension: SQLite calls it for each new
//! connection, and it attaches a `sqlite3_trace_v2(SQLITE_TRACE_STMT)`
//! callback. That callback fires each time a statement starts running,
//! statements of a multi-statement batch included, so it counts exactly
//! what the library asked SQLite to execute.

use std::ffi::{CStr, c_char, c_int, c_uint, c_void};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use libsqlite3_sys as ffi;

static COUNTING: AtomicBool = AtomicBool::new(false);
static SEEN_END: AtomicBool = AtomicBool::new(false);
static COUNT: AtomicU64 = AtomicU64::new(0);

unsafe extern "C" fn on_trace(mask: c_uint, _ctx: *mut c_void, _stmt: *mut c_void, sql: *mut c_void) -> c_int {
    if mask != ffi::SQLITE_TRACE_STMT as c_uint || sql.is_null() {
        return 0;
    }
    // SAFETY: for SQLITE_TRACE_STMT, X is the statement's zero-terminated text.
    let text = unsafe { CStr::from_ptr(sql as *const c_char) }.to_bytes();
    if text.starts_with(b"--") {
        // A trigger subprogram starting, not a statement sent.
        return 0;
    }
    if contains(text, b"bench:start") {
        COUNT.store(0, Ordering::SeqCst);
        COUNTING.store(true, Ordering::SeqCst);
    } else if contains(text, b"bench:end") {
        COUNTING.store(false, Ordering::SeqCst);
        SEEN_END.store(true, Ordering::SeqCst);
    } else if COUNTING.load(Ordering::SeqCst) {
        COUNT.fetch_add(1, Ordering::SeqCst);
    }
    0
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

unsafe extern "C" fn on_open(
    db: *mut ffi::sqlite3,
    _err: *mut *mut c_char,
    _api: *const ffi::sqlite3_api_routines,
) -> c_int {
    // SAFETY: `db` is the connection being opened.
    unsafe { ffi::sqlite3_trace_v2(db, ffi::SQLITE_TRACE_STMT as c_uint, Some(on_trace), std::ptr::null_mut()) }
}

/// Traces every SQLite connection opened from now on.
pub fn install() {
    type Entry = unsafe extern "C" fn(*mut ffi::sqlite3, *mut *mut c_char, *const ffi::sqlite3_api_routines) -> c_int;
    let entry: Option<Entry> = Some(on_open);
    // SAFETY: SQLite calls the entry point with (db, error, api), which is
    // what `on_open` takes; some libsqlite3-sys versions declare the
    // parameter as `void(*)(void)`, so the pointer is transmuted into
    // whatever this version's binding expects (same size: a nullable
    // function pointer).
    #[allow(clippy::missing_transmute_annotations)]
    let rc = unsafe { ffi::sqlite3_auto_extension(std::mem::transmute(entry)) };
    assert_eq!(rc, ffi::SQLITE_OK, "sqlite3_auto_extension failed");
}

/// The statements run between the markers, once the end marker ran.
pub fn count() -> Option<u64> {
    SEEN_END.load(Ordering::SeqCst).then(|| COUNT.load(Ordering::SeqCst))
}

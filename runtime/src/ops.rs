//! The operations every engine offers, written once as async functions
//! over a [`Driver`]; the SQLite and PostgreSQL front-ends are thin
//! wrappers around them.

use crate::Error;
use crate::check::Verdict;
use crate::engine::Driver;
use crate::exec;
use crate::plan::{Request, Reversal, Step, VersionInfo};
use crate::record::State;
use crate::report::Report;
use crate::settings::Settings;
use crate::status::{self, Row};
use crate::version_table;

pub(crate) async fn run<D: Driver>(d: &mut D, m: &Settings<'_>, request: Request) -> Result<Report, Error> {
    exec::run(d, m, request).await
}

pub(crate) async fn script<D: Driver>(d: &mut D, m: &Settings<'_>, request: Request) -> Result<String, Error> {
    exec::script(d, m, request).await
}

pub(crate) async fn records<D: Driver>(d: &mut D, m: &Settings<'_>) -> Result<State, Error> {
    version_table::read_state(d, m.table_name(), true).await
}

/// One query, of the short form: the startup guard runs at every start.
/// Without a version table, a second one tells an empty database from
/// one that holds tables.
pub(crate) async fn check<D: Driver>(d: &mut D, m: &Settings<'_>) -> Result<Verdict, Error> {
    Ok(match version_table::read_analysis(d, m).await? {
        None => {
            let tables =
                d.existing_objects().await.map_err(|e| Error::database("cannot list the database's tables", e))?;
            if tables.is_empty() { Verdict::Empty } else { Verdict::Unmanaged }
        }
        Some(analysis) => Verdict::of(m.migrations(), analysis),
    })
}

pub(crate) async fn stored_down<D: Driver>(
    d: &mut D,
    m: &Settings<'_>,
    version: crate::Version,
) -> Result<Option<crate::Script>, Error> {
    let records = version_table::read_state(d, m.table_name(), true).await?.unwrap_or_default();
    match records.iter().find(|r| r.version == version) {
        Some(record) if record.has_down == Some(true) => {
            version_table::stored_down(d, m.table_name(), record).await.map(Some)
        }
        _ => Ok(None),
    }
}

/// What `downgrade(target)` would revert, each with what its down script
/// destroys; nothing is written.
pub(crate) async fn reversals<D: Driver>(
    d: &mut D,
    m: &Settings<'_>,
    target: crate::Version,
) -> Result<Vec<Reversal>, Error> {
    let table = m.table_name();
    let state = version_table::read_state(d, table, true).await?;
    let plan = m.plan(state.as_deref(), Request::Downgrade(target))?;
    let mut reversals = Vec::new();
    for step in &plan.steps {
        if let Step::Revert { record, embedded } = step {
            let reversal = match embedded.and_then(|m| m.down.as_ref()) {
                Some(down) => Reversal::new((*record).clone(), down, false),
                None => Reversal::new((*record).clone(), &version_table::stored_down(d, table, record).await?, true),
            };
            reversals.push(reversal);
        }
    }
    Ok(reversals)
}

pub(crate) async fn version<D: Driver>(d: &mut D, m: &Settings<'_>) -> Result<VersionInfo, Error> {
    let state = version_table::read_state(d, m.table_name(), false).await?;
    Ok(VersionInfo::new(m.migrations(), state.as_deref()))
}

pub(crate) async fn status<D: Driver>(d: &mut D, m: &Settings<'_>) -> Result<Vec<Row>, Error> {
    let state = records(d, m).await?;
    Ok(status::rows(m.migrations(), state.as_deref()))
}

/// Generates the public operations of a front-end type (`Sqlite`,
/// `Postgres`) once: `$finish` turns the shared async function's future
/// into the front-end's result (blocking for SQLite, `.await` for PostgreSQL).
macro_rules! front_end {
    ($ty:ident, [$($asyncness:tt)?], $finish:ident) => {
        impl $ty<'_> {
            /// Applies the pending migrations of `scope` (Keystone's `db_sync`,
            /// `--expand`, `--contract`). Each migration runs in its own
            /// transaction with its version-table row.
            pub $($asyncness)? fn sync(&self, scope: $crate::Scope) -> Result<$crate::Report, $crate::Error> {
                $finish!($crate::ops::run(&mut self.driver(), self.settings, $crate::Request::Sync(scope)))
            }

            /// Applies every pending migration up to and including `target`.
            pub $($asyncness)? fn upgrade(&self, target: impl Into<$crate::Version>) -> Result<$crate::Report, $crate::Error> {
                $finish!($crate::ops::run(&mut self.driver(), self.settings, $crate::Request::Upgrade(target.into())))
            }

            /// Reverts every recorded migration above `target` (0: all), newest
            /// first. Refused, with nothing executed, if one has no down script.
            pub $($asyncness)? fn downgrade(&self, target: impl Into<$crate::Version>) -> Result<$crate::Report, $crate::Error> {
                $finish!($crate::ops::run(&mut self.driver(), self.settings, $crate::Request::Downgrade(target.into())))
            }

            /// Records exactly the migrations up to `target` as present,
            /// without running them, and removes the records above it.
            pub $($asyncness)? fn goto(&self, target: impl Into<$crate::Version>) -> Result<$crate::Report, $crate::Error> {
                $finish!($crate::ops::run(&mut self.driver(), self.settings, $crate::Request::Goto(target.into())))
            }

            /// Puts an unmanaged database under version control, at version 0.
            pub $($asyncness)? fn version_control(&self) -> Result<$crate::Report, $crate::Error> {
                $finish!($crate::ops::run(&mut self.driver(), self.settings, $crate::Request::VersionControl))
            }

            /// Records every applied migration as this release embeds it,
            /// running nothing: after a deliberate edit of an applied
            /// migration (its statements, its name or its branch), once the
            /// database holds what the files now say. Records unknown to this
            /// release, and unfinished ones, stay as they are.
            pub $($asyncness)? fn repair(&self) -> Result<$crate::Report, $crate::Error> {
                $finish!($crate::ops::run(&mut self.driver(), self.settings, $crate::Request::Repair))
            }

            /// Runs any request.
            pub $($asyncness)? fn run(&self, request: $crate::Request) -> Result<$crate::Report, $crate::Error> {
                $finish!($crate::ops::run(&mut self.driver(), self.settings, request))
            }

            /// The SQL `request` would run, version-table writes included,
            /// without writing anything (the version table is read).
            pub $($asyncness)? fn script(&self, request: $crate::Request) -> Result<String, $crate::Error> {
                $finish!($crate::ops::script(&mut self.driver(), self.settings, request))
            }

            /// The startup guard's verdict: call it before serving. One query,
            /// whatever the number of migrations.
            pub $($asyncness)? fn check(&self) -> Result<$crate::Verdict, $crate::Error> {
                $finish!($crate::ops::check(&mut self.driver(), self.settings))
            }

            /// The down script the version table stores for the recorded
            /// migration `version`, with its directives, as a release that
            /// does not embed the migration would run it; `None` when it
            /// stores none.
            pub $($asyncness)? fn stored_down(&self, version: impl Into<$crate::Version>) -> Result<Option<$crate::Script>, $crate::Error> {
                $finish!($crate::ops::stored_down(&mut self.driver(), self.settings, version.into()))
            }

            /// What `downgrade(target)` would revert, newest first, each with
            /// what its down script destroys (its DROP, DELETE and TRUNCATE
            /// statements); nothing is written. Refused as the downgrade
            /// would be.
            pub $($asyncness)? fn reversals(&self, target: impl Into<$crate::Version>) -> Result<Vec<$crate::plan::Reversal>, $crate::Error> {
                $finish!($crate::ops::reversals(&mut self.driver(), self.settings, target.into()))
            }

            /// Keystone's `version`: the overall version and each branch's head.
            pub $($asyncness)? fn version(&self) -> Result<$crate::VersionInfo, $crate::Error> {
                $finish!($crate::ops::version(&mut self.driver(), self.settings))
            }

            /// Every migration, embedded or recorded, with its state.
            pub $($asyncness)? fn status(&self) -> Result<Vec<$crate::status::Row>, $crate::Error> {
                $finish!($crate::ops::status(&mut self.driver(), self.settings))
            }

            /// The version table's rows, or `None` when it does not exist.
            pub $($asyncness)? fn records(&self) -> Result<Option<Vec<$crate::Record>>, $crate::Error> {
                $finish!($crate::ops::records(&mut self.driver(), self.settings))
            }
        }
    };
}
pub(crate) use front_end;

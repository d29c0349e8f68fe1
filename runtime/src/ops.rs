//! The operations every engine offers, written once as async functions
//! over a [`Driver`]; the SQLite and PostgreSQL front-ends are thin
//! wrappers around them.

use crate::Error;
use crate::check::Verdict;
use crate::engine::Driver;
use crate::exec;
use crate::plan::{Request, Reversal, Step, VersionInfo};
use crate::record::{Cell, State};
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
    let mut info = VersionInfo::new(m.migrations(), state.as_deref());
    info.cluster = d.cluster().await.map_err(|e| Error::database("cannot read the cluster's state", e))?;
    Ok(info)
}

pub(crate) async fn status<D: Driver>(d: &mut D, m: &Settings<'_>) -> Result<Vec<Row>, Error> {
    let state = records(d, m).await?;
    let mut rows = status::rows(m.migrations(), state.as_deref());
    if m.migrations().iter().any(|m| m.up.backfill.is_some()) {
        let under_way = crate::backfill::under_way(d, m.table_name()).await?;
        status::backfilling(&mut rows, under_way.into_iter().map(|p| (p.version, p.key_done)));
    }
    if let Some(sql) =
        d.sql().select_partial(m.table_name()).filter(|_| rows.iter().any(|r| r.state == status::State::Started))
    {
        let mut stopped = Vec::new();
        d.query(&sql, &mut |row| {
            let count = |i| Cell::at(row, i).int().and_then(|n| usize::try_from(n).ok());
            let failure = Cell::at(row, 3);
            stopped.push((
                Cell::at(row, 0).int(),
                status::Stopped {
                    done: count(1).unwrap_or(0),
                    of: count(2),
                    failure: (failure != Cell::Null).then(|| failure.text().into_owned()),
                },
            ));
        })
        .await
        .map_err(|e| Error::database(format!("cannot read the version table {}", m.table_name()), e))?;
        for (version, s) in stopped {
            if let Some(row) = rows.iter_mut().find(|r| Some(i64::from(r.version.get())) == version) {
                row.stopped = Some(s);
            }
        }
    }
    Ok(rows)
}

/// The `# Errors` section of every operation that runs a request.
macro_rules! run_errors {
    () => {
        "\n# Errors\n\n\
         - [`Error::Refused`](crate::Error::Refused): the planner refused the request \
           (divergent or unmanaged database, missing down script, ...); nothing ran.\n\
         - [`Error::MigrationFailed`](crate::Error::MigrationFailed): a migration's SQL failed; \
           its [`aftermath`](crate::MigrationFailure::aftermath) says what that left.\n\
         - [`Error::Database`](crate::Error::Database) (or \
           [`CorruptRecord`](crate::Error::CorruptRecord)): the database failed outside a \
           migration, or holds a version-table row ebbtide cannot read.\n\
         - [`Error::LockWait`](crate::Error::LockWait): another run held the run lock longer \
           than [`Migrator::lock_wait`](crate::Migrator::lock_wait) allows.\n"
    };
}
pub(crate) use run_errors;

/// The `# Errors` section of every operation that only reads.
macro_rules! read_errors {
    () => {
        "\n# Errors\n\n\
         - [`Error::Database`](crate::Error::Database) (or \
           [`CorruptRecord`](crate::Error::CorruptRecord)): the database failed, or holds a \
           version-table row ebbtide cannot read.\n"
    };
}
pub(crate) use read_errors;

/// The line a planning read adds to [`read_errors!`].
macro_rules! refused_error {
    () => {
        "- [`Error::Refused`](crate::Error::Refused): the planner refused the request, as a run \
         of it would be refused.\n"
    };
}
pub(crate) use refused_error;

/// Generates the public operations of a front-end type (`Sqlite`,
/// `Postgres`) once: `$finish` turns the shared async function's future
/// into the front-end's result (blocking for SQLite, `.await` for PostgreSQL).
macro_rules! front_end {
    ($ty:ident, [$($asyncness:tt)?], $finish:ident) => {
        impl $ty<'_> {
            /// Applies the pending migrations of `scope` (Keystone's `db_sync`,
            /// `--expand`, `--contract`). Each migration runs in its own
            /// transaction with its version-table row.
            ///
            /// Cost: with nothing pending, one query, whatever the number of
            /// migrations (call it at every start); otherwise the run lock and
            /// each migration with its row (on PostgreSQL, one round trip per
            /// migration).
            #[doc = $crate::ops::run_errors!()]
            pub $($asyncness)? fn sync(&self, scope: $crate::Scope) -> Result<$crate::Report, $crate::Error> {
                $finish!($crate::ops::run(&mut self.driver(), self.settings, $crate::Request::Sync(scope)))
            }

            /// Applies every pending migration up to and including `target`.
            /// Costs what [`sync`](Self::sync) does.
            #[doc = $crate::ops::run_errors!()]
            pub $($asyncness)? fn upgrade(&self, target: impl Into<$crate::Version>) -> Result<$crate::Report, $crate::Error> {
                $finish!($crate::ops::run(&mut self.driver(), self.settings, $crate::Request::Upgrade(target.into())))
            }

            /// Reverts every recorded migration above `target` (0: all), newest
            /// first. Refused, with nothing executed, if one has no down script.
            #[doc = $crate::ops::run_errors!()]
            pub $($asyncness)? fn downgrade(&self, target: impl Into<$crate::Version>) -> Result<$crate::Report, $crate::Error> {
                $finish!($crate::ops::run(&mut self.driver(), self.settings, $crate::Request::Downgrade(target.into())))
            }

            /// Records exactly the migrations up to `target` as present,
            /// without running them, and removes the records above it.
            #[doc = $crate::ops::run_errors!()]
            pub $($asyncness)? fn goto(&self, target: impl Into<$crate::Version>) -> Result<$crate::Report, $crate::Error> {
                $finish!($crate::ops::run(&mut self.driver(), self.settings, $crate::Request::Goto(target.into())))
            }

            /// Puts an unmanaged database under version control, at version 0.
            #[doc = $crate::ops::run_errors!()]
            pub $($asyncness)? fn version_control(&self) -> Result<$crate::Report, $crate::Error> {
                $finish!($crate::ops::run(&mut self.driver(), self.settings, $crate::Request::VersionControl))
            }

            /// Records every applied migration as this release embeds it,
            /// running nothing: after a deliberate edit of an applied
            /// migration (its statements, its name or its branch), once the
            /// database holds what the files now say. Records unknown to this
            /// release, and unfinished ones, stay as they are.
            #[doc = $crate::ops::run_errors!()]
            pub $($asyncness)? fn repair(&self) -> Result<$crate::Report, $crate::Error> {
                $finish!($crate::ops::run(&mut self.driver(), self.settings, $crate::Request::Repair))
            }

            /// Records how a migration that started and did not finish
            /// ended (see [`Outcome`]($crate::Outcome)), once its changes
            /// were finished or undone by hand. Runs nothing.
            #[doc = $crate::ops::run_errors!()]
            pub $($asyncness)? fn resolve(&self, version: impl Into<$crate::Version>, outcome: $crate::Outcome) -> Result<$crate::Report, $crate::Error> {
                $finish!($crate::ops::run(&mut self.driver(), self.settings, $crate::Request::Resolve(version.into(), outcome)))
            }

            /// Runs any request.
            #[doc = $crate::ops::run_errors!()]
            pub $($asyncness)? fn run(&self, request: $crate::Request) -> Result<$crate::Report, $crate::Error> {
                $finish!($crate::ops::run(&mut self.driver(), self.settings, request))
            }

            /// The SQL `request` would run, version-table writes included,
            /// without writing anything (the version table is read).
            #[doc = $crate::ops::read_errors!()]
            #[doc = $crate::ops::refused_error!()]
            pub $($asyncness)? fn script(&self, request: $crate::Request) -> Result<String, $crate::Error> {
                $finish!($crate::ops::script(&mut self.driver(), self.settings, request))
            }

            /// The startup guard's verdict: call it before serving.
            ///
            /// Cost: one query, whatever the number of migrations (a second
            /// one only when there is no version table, to tell an empty
            /// database from an unmanaged one). Writes nothing, takes no lock.
            #[doc = $crate::ops::read_errors!()]
            pub $($asyncness)? fn check(&self) -> Result<$crate::Verdict, $crate::Error> {
                $finish!($crate::ops::check(&mut self.driver(), self.settings))
            }

            /// The down script the version table stores for the recorded
            /// migration `version`, with its directives, as a release that
            /// does not embed the migration would run it; `None` when it
            /// stores none.
            #[doc = $crate::ops::read_errors!()]
            pub $($asyncness)? fn stored_down(&self, version: impl Into<$crate::Version>) -> Result<Option<$crate::Script>, $crate::Error> {
                $finish!($crate::ops::stored_down(&mut self.driver(), self.settings, version.into()))
            }

            /// What `downgrade(target)` would revert, newest first, each with
            /// what its down script destroys (its DROP, DELETE and TRUNCATE
            /// statements); nothing is written. Refused as the downgrade
            /// would be.
            #[doc = $crate::ops::read_errors!()]
            #[doc = $crate::ops::refused_error!()]
            pub $($asyncness)? fn reversals(&self, target: impl Into<$crate::Version>) -> Result<Vec<$crate::plan::Reversal>, $crate::Error> {
                $finish!($crate::ops::reversals(&mut self.driver(), self.settings, target.into()))
            }

            /// Keystone's `version`: the overall version and each branch's head.
            #[doc = $crate::ops::read_errors!()]
            pub $($asyncness)? fn version(&self) -> Result<$crate::VersionInfo, $crate::Error> {
                $finish!($crate::ops::version(&mut self.driver(), self.settings))
            }

            /// Every migration, embedded or recorded, with its state; print it
            /// with [`status::table`]($crate::status::table). Reads the whole
            /// version table: for the operator, not for every start.
            #[doc = $crate::ops::read_errors!()]
            pub $($asyncness)? fn status(&self) -> Result<Vec<$crate::status::Row>, $crate::Error> {
                $finish!($crate::ops::status(&mut self.driver(), self.settings))
            }

            /// The version table's rows, or `None` when it does not exist.
            #[doc = $crate::ops::read_errors!()]
            pub $($asyncness)? fn records(&self) -> Result<Option<Vec<$crate::Record>>, $crate::Error> {
                $finish!($crate::ops::records(&mut self.driver(), self.settings))
            }
        }
    };
}
pub(crate) use front_end;

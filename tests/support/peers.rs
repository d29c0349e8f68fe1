//! The peers, for tests of import and adoption: an application's history
//! written in the layout of refinery 0.10, sqlx 0.9 or diesel_migrations
//! 2.3, and applied to a real database by the tool itself.
//!
//! The tools run in `peer-migrate` (tests/peers), a cargo workspace of its
//! own: they cannot share this one's `libsqlite3-sys` (cargo allows one
//! `links = "sqlite3"` package per workspace). It is built on first use,
//! into `<target>/peers`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// A peer migration tool: the tools ebbtide imports from.
pub use ebbtide::adopt::Tool;

/// The repository's root: both packages that include this module (runtime/
/// and tests/) sit one level below it.
const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// `peer-migrate`, built once per test process.
fn peer_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let repo = Path::new(REPO);
        // The test's own target directory (`<target>/debug/deps/<test>`),
        // whatever named it; the peers build beside the profiles.
        let exe = std::env::current_exe().expect("the test binary's path");
        let target = exe.ancestors().nth(3).expect("<target>/<profile>/deps/<test>").join("peers");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        // Built as by hand from tests/peers, as its lock file says, for
        // the host, without the flags of the build that runs the tests.
        let built = Command::new(&cargo)
            .current_dir(repo.join("tests/peers"))
            .args(["build", "--quiet", "--locked", "--target-dir"])
            .arg(&target)
            .env_remove("CARGO_BUILD_TARGET")
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env_remove("CARGO_TARGET_DIR")
            .output()
            .unwrap_or_else(|e| panic!("run {}: {e}", cargo.to_string_lossy()));
        assert!(
            built.status.success(),
            "building peer-migrate (tests/peers) failed:\n{}",
            String::from_utf8_lossy(&built.stderr)
        );
        target.join("debug").join(format!("peer-migrate{}", std::env::consts::EXE_SUFFIX))
    })
}

/// Applies every pending migration of `dir` to `url` with `tool`, as its
/// users do: its own directory loader, its default settings. `url` is
/// `sqlite:PATH`, `postgres://...` or `mysql://...`.
///
/// On success the status is 0 and stdout `applied N` (0 when up to date);
/// on the tool's failure 1, with its error on stderr; diesel on MySQL
/// (not built in) exits 3.
pub fn peer_migrate(tool: Tool, dir: &Path, url: &str) -> Output {
    Command::new(peer_binary())
        .arg(tool.name())
        .arg(dir)
        .arg(url)
        .output()
        .unwrap_or_else(|e| panic!("run peer-migrate {}: {e}", tool.name()))
}

/// One migration of an application's history, before any tool's layout.
#[derive(Clone, Debug)]
pub struct PeerMigration {
    /// snake_case, as file and directory names carry it.
    pub name: String,
    pub up: String,
    pub down: Option<String>,
    /// Whether it must run outside a transaction (sqlx's `-- no-transaction`,
    /// diesel's `run_in_transaction = false`).
    pub no_transaction: bool,
}

/// What differs between the engines in the history's SQL.
struct Dialect {
    /// A table's own key, generated on insert.
    id: &'static str,
    /// A column referring to such a key.
    key: &'static str,
    /// A point in time.
    time: &'static str,
}

impl Dialect {
    fn of(engine: &str) -> Dialect {
        match engine {
            "sqlite" => Dialect { id: "INTEGER PRIMARY KEY", key: "INTEGER", time: "TEXT" },
            "postgres" => {
                Dialect { id: "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY", key: "BIGINT", time: "TIMESTAMPTZ" }
            }
            "mysql" => Dialect { id: "BIGINT AUTO_INCREMENT PRIMARY KEY", key: "BIGINT", time: "DATETIME" },
            other => panic!("no peer history for engine {other}: sqlite, postgres or mysql"),
        }
    }

    /// `sql` with `{id}`, `{key}` and `{time}` spelled for the engine.
    fn spell(&self, sql: &str) -> String {
        sql.replace("{id}", self.id).replace("{key}", self.key).replace("{time}", self.time)
    }
}

/// `DROP INDEX` of `index` on `table`.
fn drop_index(engine: &str, index: &str, table: &str) -> String {
    match engine {
        "mysql" => format!("DROP INDEX {index} ON {table};\n"),
        _ => format!("DROP INDEX {index};\n"),
    }
}

const SESSIONS: &str = "CREATE TABLE sessions (
    id {id},
    user_id {key} NOT NULL,
    token VARCHAR(64) NOT NULL UNIQUE,
    expires_at {time} NOT NULL,
    FOREIGN KEY (user_id) REFERENCES users (id)
);
";

const ORDER_TOTALS: &str = "CREATE VIEW order_totals AS
SELECT o.id AS order_id, o.user_id, SUM(i.quantity * i.unit_price_cents) AS total_cents
FROM orders o JOIN order_items i ON i.order_id = o.id
GROUP BY o.id, o.user_id;
";

const ORDER_TOTALS_WITH_STATUS: &str = "CREATE VIEW order_totals AS
SELECT o.id AS order_id, o.user_id, o.status, SUM(i.quantity * i.unit_price_cents) AS total_cents
FROM orders o JOIN order_items i ON i.order_id = o.id
GROUP BY o.id, o.user_id, o.status;
";

/// A shop's history of 24 migrations, each accepted by `engine` ("sqlite",
/// "postgres" or "mysql"): tables with foreign keys, added columns, indexes,
/// a view (dropped and created again), data inserted and updated, a column
/// renamed, a table dropped, multi-statement migrations; number 10 holds
/// only comments, number 16 runs outside a transaction (`CREATE INDEX
/// CONCURRENTLY` on PostgreSQL, an ordinary `CREATE INDEX` elsewhere). All
/// but 6, 10, 19 and 24 have a down script. The final schema: users (with
/// `legacy_note`, for a later migration to drop), products, orders,
/// order_items, addresses, audit_log, coupons, shipments, the view
/// order_totals.
pub fn history(engine: &str) -> Vec<PeerMigration> {
    let d = Dialect::of(engine);
    let concurrently = if engine == "postgres" { " CONCURRENTLY" } else { "" };
    let orders_created_at_down = match engine {
        "postgres" => "DROP INDEX CONCURRENTLY orders_created_at;\n".to_string(),
        _ => drop_index(engine, "orders_created_at", "orders"),
    };
    let m = |name: &str, up: &str, down: Option<&str>| PeerMigration {
        name: name.into(),
        up: d.spell(up),
        down: down.map(|s| d.spell(s)),
        no_transaction: false,
    };
    vec![
        m(
            "create_users",
            "CREATE TABLE users (
    id {id},
    email VARCHAR(255) NOT NULL UNIQUE,
    name VARCHAR(255) NOT NULL,
    created_at {time} NOT NULL DEFAULT CURRENT_TIMESTAMP
);
",
            Some("DROP TABLE users;\n"),
        ),
        m(
            "create_products",
            "CREATE TABLE products (
    id {id},
    sku VARCHAR(64) NOT NULL UNIQUE,
    title VARCHAR(255) NOT NULL,
    price_cents INTEGER NOT NULL
);
",
            Some("DROP TABLE products;\n"),
        ),
        m(
            "create_orders",
            "CREATE TABLE orders (
    id {id},
    user_id {key} NOT NULL,
    status VARCHAR(32) NOT NULL DEFAULT 'pending',
    created_at {time} NOT NULL DEFAULT CURRENT_TIMESTAMP,
    FOREIGN KEY (user_id) REFERENCES users (id)
);
CREATE INDEX orders_user_id ON orders (user_id);
",
            Some("DROP TABLE orders;\n"),
        ),
        m(
            "create_order_items",
            "CREATE TABLE order_items (
    order_id {key} NOT NULL,
    product_id {key} NOT NULL,
    quantity INTEGER NOT NULL CHECK (quantity > 0),
    unit_price_cents INTEGER NOT NULL,
    PRIMARY KEY (order_id, product_id),
    FOREIGN KEY (order_id) REFERENCES orders (id),
    FOREIGN KEY (product_id) REFERENCES products (id)
);
",
            Some("DROP TABLE order_items;\n"),
        ),
        m(
            "add_users_legacy_note",
            "ALTER TABLE users ADD COLUMN legacy_note VARCHAR(255);\n",
            Some("ALTER TABLE users DROP COLUMN legacy_note;\n"),
        ),
        m(
            "seed_products",
            "INSERT INTO products (sku, title, price_cents) VALUES
    ('widget', 'Widget', 250),
    ('gadget', 'Gadget', 1200),
    ('gizmo', 'Gizmo', 999);
",
            None,
        ),
        m(
            "create_addresses",
            "CREATE TABLE addresses (
    id {id},
    user_id {key} NOT NULL,
    line1 VARCHAR(255) NOT NULL,
    city VARCHAR(128) NOT NULL,
    country CHAR(2) NOT NULL,
    FOREIGN KEY (user_id) REFERENCES users (id)
);
CREATE INDEX addresses_user_id ON addresses (user_id);
",
            Some("DROP TABLE addresses;\n"),
        ),
        m(
            "add_users_display_name",
            "ALTER TABLE users ADD COLUMN display_name VARCHAR(255);
UPDATE users SET display_name = name;
",
            Some("ALTER TABLE users DROP COLUMN display_name;\n"),
        ),
        m("create_order_totals", ORDER_TOTALS, Some("DROP VIEW order_totals;\n")),
        m(
            "keep_loyalty_slot",
            "-- The loyalty programme planned for this release moved to a service
-- of its own. This migration stays, empty, so that the version numbers
-- of every environment keep matching production's.
",
            None,
        ),
        m("create_sessions", SESSIONS, Some("DROP TABLE sessions;\n")),
        m(
            "add_products_active",
            "ALTER TABLE products ADD COLUMN active BOOLEAN NOT NULL DEFAULT TRUE;\n",
            Some("ALTER TABLE products DROP COLUMN active;\n"),
        ),
        m(
            "rename_products_title",
            "ALTER TABLE products RENAME COLUMN title TO name;\n",
            Some("ALTER TABLE products RENAME COLUMN name TO title;\n"),
        ),
        m(
            "create_audit_log",
            "CREATE TABLE audit_log (
    id {id},
    actor_id {key},
    action VARCHAR(64) NOT NULL,
    created_at {time} NOT NULL DEFAULT CURRENT_TIMESTAMP
);
",
            Some("DROP TABLE audit_log;\n"),
        ),
        m("drop_sessions", "DROP TABLE sessions;\n", Some(SESSIONS)),
        PeerMigration {
            no_transaction: true,
            ..m(
                "index_orders_created_at",
                &format!("CREATE INDEX{concurrently} orders_created_at ON orders (created_at);\n"),
                Some(&orders_created_at_down),
            )
        },
        m(
            "create_coupons",
            "CREATE TABLE coupons (
    code VARCHAR(32) PRIMARY KEY,
    percent_off INTEGER NOT NULL CHECK (percent_off BETWEEN 1 AND 100)
);
INSERT INTO coupons (code, percent_off) VALUES ('WELCOME10', 10), ('SPRING25', 25);
",
            Some("DROP TABLE coupons;\n"),
        ),
        m(
            "add_orders_coupon_code",
            "ALTER TABLE orders ADD COLUMN coupon_code VARCHAR(32);
CREATE INDEX orders_coupon_code ON orders (coupon_code);
",
            Some(&format!(
                "{}ALTER TABLE orders DROP COLUMN coupon_code;\n",
                drop_index(engine, "orders_coupon_code", "orders")
            )),
        ),
        m("backfill_users_display_name", "UPDATE users SET display_name = email WHERE display_name IS NULL;\n", None),
        m(
            "create_shipments",
            "CREATE TABLE shipments (
    id {id},
    order_id {key} NOT NULL,
    address_id {key} NOT NULL,
    shipped_at {time},
    FOREIGN KEY (order_id) REFERENCES orders (id),
    FOREIGN KEY (address_id) REFERENCES addresses (id)
);
CREATE INDEX shipments_order_id ON shipments (order_id);
",
            Some("DROP TABLE shipments;\n"),
        ),
        m(
            "seed_admin_user",
            "INSERT INTO users (email, name, display_name) VALUES ('admin@example.com', 'Admin', 'Administrator');
INSERT INTO audit_log (action) VALUES ('seed admin user');
",
            Some(
                "DELETE FROM audit_log WHERE action = 'seed admin user';
DELETE FROM users WHERE email = 'admin@example.com';
",
            ),
        ),
        m(
            "add_users_last_login_at",
            "ALTER TABLE users ADD COLUMN last_login_at {time};
CREATE INDEX users_last_login_at ON users (last_login_at);
",
            Some(&format!(
                "{}ALTER TABLE users DROP COLUMN last_login_at;\n",
                drop_index(engine, "users_last_login_at", "users")
            )),
        ),
        m(
            "order_totals_with_status",
            &format!("DROP VIEW order_totals;\n{ORDER_TOTALS_WITH_STATUS}"),
            Some(&format!("DROP VIEW order_totals;\n{ORDER_TOTALS}")),
        ),
        m(
            "reprice_products",
            "UPDATE products SET price_cents = 300 WHERE sku = 'widget';
UPDATE products SET active = FALSE WHERE sku = 'gizmo';
",
            None,
        ),
    ]
}

/// Whether `sql` holds nothing but comments and blank lines.
fn comments_only(sql: &str) -> bool {
    sql.lines().map(str::trim).all(|line| line.is_empty() || line.starts_with("--"))
}

/// `m`'s up script as `tool`'s users can write it, where the tool cannot
/// run it as it is:
///
/// - refinery runs every migration in a transaction and has no way out of
///   it: a no-transaction migration's `CREATE INDEX CONCURRENTLY` (which
///   PostgreSQL refuses in a transaction) is written as a plain
///   `CREATE INDEX`;
/// - diesel on PostgreSQL refuses a script of comments alone ("Received an
///   empty query": libpq reports it as an empty query): a `SELECT 1;`
///   follows the comments, on every engine, as diesel's users write it.
fn up_for(tool: Tool, m: &PeerMigration) -> String {
    match tool {
        Tool::Refinery if m.no_transaction => m.up.replace("CREATE INDEX CONCURRENTLY", "CREATE INDEX"),
        Tool::Diesel if comments_only(&m.up) => format!("{}SELECT 1;\n", m.up),
        _ => m.up.clone(),
    }
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// Writes `migrations` into `dir` (created if missing) in `tool`'s own
/// layout, numbered from 1 in order:
///
/// - refinery: `V{i}__{name}.sql` (no down scripts, no no-transaction
///   marker);
/// - sqlx: `{v}_{name}.up.sql` and `{v}_{name}.down.sql` with a down script,
///   `{v}_{name}.sql` without, v = 20240101000000 + i; a no-transaction
///   script starts with the line `-- no-transaction`;
/// - diesel: a directory `2024-01-01-{i:06}_{name}` holding `up.sql`,
///   `down.sql` if any, and `metadata.toml` with `run_in_transaction =
///   false` for a no-transaction migration.
///
/// Where a tool cannot run a script as it is, it is written as the tool's
/// users write it: see [`up_for`].
pub fn write_layout(tool: Tool, dir: &Path, migrations: &[PeerMigration]) {
    std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    for (i, m) in (1..).zip(migrations) {
        let up = up_for(tool, m);
        match tool {
            Tool::Refinery => write(&dir.join(format!("V{i}__{}.sql", m.name)), &up),
            Tool::Sqlx => {
                let marked = |sql: &str| {
                    if m.no_transaction { format!("-- no-transaction\n{sql}") } else { sql.to_string() }
                };
                let stem = format!("{}_{}", 20240101000000_i64 + i, m.name);
                match &m.down {
                    Some(down) => {
                        write(&dir.join(format!("{stem}.up.sql")), &marked(&up));
                        write(&dir.join(format!("{stem}.down.sql")), &marked(down));
                    }
                    None => write(&dir.join(format!("{stem}.sql")), &marked(&up)),
                }
            }
            Tool::Diesel => {
                let migration = dir.join(format!("2024-01-01-{i:06}_{}", m.name));
                std::fs::create_dir_all(&migration).unwrap_or_else(|e| panic!("create {}: {e}", migration.display()));
                write(&migration.join("up.sql"), &up);
                if let Some(down) = &m.down {
                    write(&migration.join("down.sql"), down);
                }
                if m.no_transaction {
                    write(&migration.join("metadata.toml"), "run_in_transaction = false\n");
                }
            }
        }
    }
}

fn main() {
    // New migration files rebuild the examples that embed them.
    println!("cargo:rerun-if-changed=../migrations");
    println!("cargo:rerun-if-changed=rolling_upgrade/release1/migrations");
    println!("cargo:rerun-if-changed=rolling_upgrade/release2/migrations");
    println!("cargo:rerun-if-changed=rolling_upgrade/mysql/release1/migrations");
    println!("cargo:rerun-if-changed=rolling_upgrade/mysql/release2/migrations");
    println!("cargo:rerun-if-changed=zero_downtime/postgres/release1/migrations");
    println!("cargo:rerun-if-changed=zero_downtime/postgres/release2/migrations");
    println!("cargo:rerun-if-changed=zero_downtime/sqlite/release1/migrations");
    println!("cargo:rerun-if-changed=zero_downtime/sqlite/release2/migrations");
    println!("cargo:rerun-if-changed=zero_downtime/mysql/release1/migrations");
    println!("cargo:rerun-if-changed=zero_downtime/mysql/release2/migrations");
}

fn main() {
    // New migration files rebuild the examples that embed them.
    println!("cargo:rerun-if-changed=../migrations");
    println!("cargo:rerun-if-changed=rolling_upgrade/release1/migrations");
    println!("cargo:rerun-if-changed=rolling_upgrade/release2/migrations");
}

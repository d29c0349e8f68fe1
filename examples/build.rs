fn main() {
    // New migration files rebuild the examples that embed them.
    println!("cargo:rerun-if-changed=../migrations");
}

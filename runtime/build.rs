fn main() {
    // The doctests embed the workspace's example migrations.
    println!("cargo:rerun-if-changed=../migrations");
}

fn main() {
    // The doctests embed the workspace's example migrations, and the tests
    // this package holds (../tests/cli.rs, ...) their MySQL copy too.
    println!("cargo:rerun-if-changed=../migrations");
    println!("cargo:rerun-if-changed=../tests/fixtures/mysql_example/migrations");
}

fn main() {
    println!("cargo:rerun-if-changed=../migrations");
    println!("cargo:rerun-if-changed=fixtures/real_history/migrations");
    println!("cargo:rerun-if-changed=../tests/fixtures/mysql_example/migrations");
}

//! `sqlx::migrate!` embeds the migration files at compile time but cannot tell cargo to watch
//! them on stable Rust: do it here so a new migration always triggers a rebuild.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}

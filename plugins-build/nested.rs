// The nested `cargo build` for wasm32-wasip2 components, shared by the build scripts of
// `plugins-build` (the plugin crates) and `tests/fixtures-build` (the test fixtures), which
// include this file with `#[path]`.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The plugins' target.
pub(crate) const TARGET: &str = "wasm32-wasip2";

/// A `cargo build --release --target wasm32-wasip2` run in `dir` into `target_dir`, cleaned of
/// what the outer build's environment would wrongly pass on. Add `-p`/`--manifest-path` and run.
pub(crate) fn wasm_cargo(dir: &Path, target_dir: &Path) -> Command {
    ensure_target();
    let mut cargo = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cargo
        .current_dir(dir)
        .arg("build")
        .arg("--release")
        .arg(format!("--target={TARGET}"))
        .arg("--target-dir")
        .arg(target_dir)
        // Small components: no debug info in the artifacts.
        .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
        .env("CARGO_PROFILE_RELEASE_STRIP", "debuginfo")
        // Flags and wrappers meant for the outer, native build: host RUSTFLAGS, clippy-driver
        // (`cargo clippy` sets RUSTC_WORKSPACE_WRAPPER), the outer target and build dirs.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("CLIPPY_ARGS")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("CARGO_BUILD_BUILD_DIR")
        .env_remove("CARGO_PRIMARY_PACKAGE");
    // Offline-safe: the lock files already pin every crate and the outer build fetched them; an
    // offline outer build (`CARGO_NET_OFFLINE`, inherited) stays offline.
    if env::var("CARGO_NET_OFFLINE").is_ok_and(|v| v == "true") {
        cargo.arg("--offline");
    }
    cargo
}

/// Adds the target to the toolchain when its standard library is missing. rustup installs the
/// targets `rust-toolchain.toml` lists only when it installs the toolchain itself, not into one
/// that was already there (or is linked to another), and the README promises that
/// `cargo test --workspace` needs no manual step. Without rustup the build fails with rustc's own
/// message naming the missing target.
fn ensure_target() {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let libdir = Command::new(rustc)
        .args(["--print", "target-libdir", "--target", TARGET])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let installed = libdir
        .and_then(|dir| std::fs::read_dir(dir).ok())
        .is_some_and(|mut entries| entries.next().is_some());
    if installed {
        return;
    }
    // `RUSTUP_TOOLCHAIN` (set by rustup's proxies) makes this the toolchain building us.
    match Command::new("rustup")
        .args(["target", "add", TARGET])
        .status()
    {
        Ok(s) if s.success() => {}
        Ok(s) => println!("cargo:warning=`rustup target add {TARGET}` failed: {s}"),
        Err(e) => println!("cargo:warning={TARGET} is not installed and rustup could not run: {e}"),
    }
}

/// `<target>/<name>` when OUT_DIR has cargo's usual shape
/// (`<target>[/<triple>]/<profile>/build/<pkg>-<hash>/out`), else a directory under OUT_DIR, so
/// the nested build never waits on the lock the outer cargo holds on its own profile directory
/// and is shared by every profile of the outer build.
pub(crate) fn wasm_target_dir(out_dir: &Path, name: &str) -> PathBuf {
    let profile_dir = out_dir.ancestors().nth(3);
    let build_dir = out_dir.ancestors().nth(2);
    match (build_dir, profile_dir.and_then(Path::parent)) {
        (Some(build), Some(target)) if build.file_name().is_some_and(|n| n == "build") => {
            target.join(name)
        }
        _ => out_dir.join(name),
    }
}

/// Reads a built component and checks it is one: wasm32-wasip2 links a component, so a core
/// module here means the toolchain is wrong.
pub(crate) fn read_component(wasm: &Path) -> Vec<u8> {
    let bytes = std::fs::read(wasm).unwrap_or_else(|e| panic!("read {}: {e}", wasm.display()));
    assert!(
        wasmparser::Parser::is_component(&bytes),
        "{} is not a WebAssembly component",
        wasm.display()
    );
    bytes
}

//! The wasmtime engine, its epoch ticker, and the on-disk cache of compiled components.
//!
//! Compiling a component with cranelift takes ~100 ms; deserialising a cached one ~0.2 ms. The
//! cache lives under `data_dir/plugin-cache/`, one file per component, named by the SHA-256 of
//! the `.wasm` and the engine's `precompile_compatibility_hash()`, so a new wasmtime version or
//! different engine settings simply miss the cache instead of loading incompatible code.

use std::hash::{Hash as _, Hasher};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest as _, Sha256};
use wasmtime::component::Component;
use wasmtime::{Config, Engine};

/// How often the epoch advances. A guest runs at most this long past its deadline, and a busy
/// guest yields its worker thread at least this often.
pub(crate) const TICK: Duration = Duration::from_millis(5);

/// The engine every plugin shares: epoch interruption on, so guests can be stopped.
pub(crate) fn engine() -> wasmtime::Result<Engine> {
    let mut config = Config::new();
    config.epoch_interruption(true);
    Engine::new(&config)
}

/// Starts the thread that advances the engine's epoch every [`TICK`]. It holds only a weak
/// reference and ends by itself once the engine is gone, so nothing needs to stop it. A plain
/// thread rather than a tokio task: the ticker must keep ticking when every worker thread is
/// busy, which is exactly when a runaway guest needs stopping.
pub(crate) fn start_ticker(engine: &Engine) -> std::io::Result<()> {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("tessera-epoch".to_owned())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(TICK);
            }
        })
        .map(drop)
}

/// A `Hasher` feeding SHA-256, for `precompile_compatibility_hash()` (which is only `Hash`).
struct ShaHasher(Sha256);

impl Hasher for ShaHasher {
    fn finish(&self) -> u64 {
        let digest = self.0.clone().finalize();
        u64::from_le_bytes(
            digest[..8]
                .try_into()
                .expect("invariant: a SHA-256 digest has 32 bytes"),
        )
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// The SHA-256 of a component, hex.
pub(crate) fn digest(wasm: &[u8]) -> String {
    hex(&Sha256::digest(wasm))
}

/// The cache file for `wasm` under `dir`.
fn cache_path(engine: &Engine, dir: &Path, wasm_digest: &str) -> PathBuf {
    let mut h = ShaHasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut h);
    let compat = hex(&h.0.finalize()[..8]);
    dir.join(format!("{wasm_digest}-{compat}.cwasm"))
}

/// Compiles `wasm`, or loads it from the cache under `dir` (`None`: no cache). A cache that
/// cannot be read or written is only logged: the component is then compiled from scratch.
///
/// Blocking (cranelift, file I/O): call it from `spawn_blocking`.
pub(crate) fn compile_cached(
    engine: &Engine,
    dir: Option<&Path>,
    wasm: &[u8],
) -> wasmtime::Result<Component> {
    let Some(dir) = dir else {
        return Component::new(engine, wasm);
    };
    let path = cache_path(engine, dir, &digest(wasm));
    if path.exists() {
        match deserialize_cached(engine, &path) {
            Ok(component) => return Ok(component),
            Err(error) => tracing::warn!(
                path = %path.display(),
                error = %error,
                "compiled plugin cache unusable; recompiling"
            ),
        }
    }
    let component = Component::new(engine, wasm)?;
    if let Err(error) = write_cache(&component, dir, &path) {
        tracing::warn!(path = %path.display(), %error, "cannot write the compiled plugin cache");
    }
    Ok(component)
}

fn write_cache(component: &Component, dir: &Path, path: &Path) -> std::io::Result<()> {
    let bytes = component
        .serialize()
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    std::fs::create_dir_all(dir)?;
    // Write then rename, so a concurrent reader or a crash never sees half a file.
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// Loads a component from our compile cache.
#[allow(
    unsafe_code,
    reason = "wasmtime cannot validate precompiled machine code; see the SAFETY comment"
)]
fn deserialize_cached(engine: &Engine, path: &Path) -> wasmtime::Result<Component> {
    // SAFETY: `Component::deserialize_file` requires bytes produced by `Component::serialize`
    // of a compatible engine, and not tampered with. The file is one this module wrote (via
    // rename, so never partial) into the operator's `data_dir`, named after the engine's
    // compatibility hash, so an incompatible engine never looks it up, and wasmtime itself also
    // checks the header's version and settings. Anyone able to write `data_dir` can already
    // replace the database and the TLS key, so the cache adds no new trust boundary.
    unsafe { Component::deserialize_file(engine, path) }
}

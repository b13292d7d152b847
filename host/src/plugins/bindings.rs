//! The one `bindgen!` over the repository's `wit/` (world `tessera:plugin/plugin@0.1.2`;
//! components built against the released 0.1.0 and 0.1.1 link to it too, see
//! `load::API_VERSIONS`).
//!
//! Imports are `async | trappable`: every host function returns `wasmtime::Result<…>`, the outer
//! result being a trap and, for WIT functions returning `result<T, error>`, the inner one the
//! guest's error (STYLE.md §16). Exports are async, so a call runs on the caller's task and
//! yields at every epoch tick.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "plugin",
    imports: { default: async | trappable },
    exports: { default: async },
});

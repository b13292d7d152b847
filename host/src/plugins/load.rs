//! Loading one plugin: read, compile (or load from the cache), check its imports against its
//! grants, pre-instantiate, `describe`, validate the manifest, `init`.

use std::sync::{Arc, OnceLock};

use wasmtime::component::{Component, Linker};

use super::bindings::PluginPre;
use super::ephemeral::Ephemeral;
use super::instance::{self, HostState, LoadedPlugin, PluginCtx};
use super::{Manifest, PluginError, Runtime};
use crate::config::{Capability, PluginConfig, PluginSource};

/// The WIT package every plugin import must come from, and the versions the host serves: the
/// current one (`wit/`) and the released ones it only adds to (`wit/0.1.0/`, `wit/0.1.1/`).
/// wasmtime's linker resolves a `@0.1.0` or `@0.1.1` import to its semver-compatible `@0.1.2`
/// definition.
const PACKAGE: &str = "tessera:plugin/";
const API_VERSIONS: [&str; 3] = ["0.1.0", "0.1.1", "0.1.2"];

/// Interfaces that came after 0.1.0, with the first version that has them: an import of one
/// under an older version names something that version never had, and is refused.
const SINCE: [(&str, &str); 3] = [("scope", "0.1.1"), ("caps", "0.1.2"), ("requests", "0.1.2")];

/// Interfaces that need no grant: those that only define types, and `scope` (0.1.1), which
/// narrows the plugin's own hooks and touches nothing else.
const FREE: [&str; 4] = ["types", "manifest", "http-types", "scope"];

/// One import of a component, sorted into what the host makes of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Import {
    /// A `tessera:plugin` capability interface.
    Capability(Capability),
    /// A `tessera:plugin` interface that needs no grant ([`FREE`]).
    Free(String),
    /// A WASI interface, linked to an empty context.
    Wasi(String),
    /// Anything else, or another API version: the host cannot provide it.
    Unknown(String),
}

/// Sorts the component's imports.
pub(crate) fn imports(engine: &wasmtime::Engine, component: &Component) -> Vec<Import> {
    let ty = component.component_type();
    ty.imports(engine)
        .map(|(name, _)| classify_import(name))
        .collect()
}

/// The plugin API version the component was built against: that of its `handler` export.
pub(crate) fn api_version(engine: &wasmtime::Engine, component: &Component) -> Option<String> {
    let ty = component.component_type();
    ty.exports(engine).find_map(|(name, _)| {
        name.strip_prefix(PACKAGE)?
            .strip_prefix("handler@")
            .map(str::to_owned)
    })
}

fn classify_import(name: &str) -> Import {
    if name.starts_with("wasi:") {
        return Import::Wasi(name.to_owned());
    }
    let Some(rest) = name.strip_prefix(PACKAGE) else {
        return Import::Unknown(name.to_owned());
    };
    let Some((interface, version)) = rest.split_once('@') else {
        return Import::Unknown(name.to_owned());
    };
    if !API_VERSIONS.contains(&version) || too_old(interface, version) {
        return Import::Unknown(name.to_owned());
    }
    if FREE.contains(&interface) {
        return Import::Free(interface.to_owned());
    }
    match Capability::ALL
        .into_iter()
        .find(|c| c.interface() == interface)
    {
        Some(cap) => Import::Capability(cap),
        None => Import::Unknown(name.to_owned()),
    }
}

/// Whether `interface` did not exist yet in `version` (one of [`API_VERSIONS`], which sort as
/// strings since they differ in the last digit only).
fn too_old(interface: &str, version: &str) -> bool {
    SINCE
        .iter()
        .any(|&(name, since)| name == interface && version < since)
}

/// The linker every plugin is instantiated with: WASI (empty context) and all capabilities
/// (grants are enforced by the import check and again in each host function).
pub(crate) fn linker(engine: &wasmtime::Engine) -> wasmtime::Result<Linker<HostState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    super::bindings::Plugin::add_to_linker::<HostState, wasmtime::component::HasSelf<HostState>>(
        &mut linker,
        |s| s,
    )?;
    Ok(linker)
}

/// Loads `config`'s plugin. `ephemeral` carries the state over a reload.
pub(crate) async fn load(
    runtime: &Runtime,
    config: PluginConfig,
    ephemeral: Option<Arc<Ephemeral>>,
) -> Result<LoadedPlugin, PluginError> {
    let plugin = config.name.clone();
    let wasm: std::borrow::Cow<'static, [u8]> = match &config.source {
        PluginSource::File(path) => tokio::fs::read(path)
            .await
            .map_err(|source| PluginError::Read {
                plugin: plugin.clone(),
                path: path.clone(),
                source,
            })?
            .into(),
        PluginSource::Builtin(name) => super::builtin::get(name)
            .ok_or_else(|| PluginError::Compile {
                plugin: plugin.clone(),
                message: format!("no built-in plugin named {name}"),
            })?
            .into(),
    };
    let engine = runtime.engine.clone();
    let cache = runtime.cache_dir.clone();
    let component = tokio::task::spawn_blocking(move || {
        super::engine::compile_cached(&engine, cache.as_deref(), &wasm)
    })
    .await
    .map_err(|e| PluginError::Compile {
        plugin: plugin.clone(),
        message: format!("compiler task failed: {e}"),
    })?
    .map_err(|e| PluginError::Compile {
        plugin: plugin.clone(),
        message: instance::chain(&e),
    })?;

    let mut granted_imports = Vec::new();
    for import in imports(&runtime.engine, &component) {
        match import {
            Import::Capability(cap) if config.grants.contains(&cap) => {
                granted_imports.push(cap.interface().to_owned());
            }
            Import::Capability(cap) => {
                return Err(PluginError::NotGranted {
                    plugin,
                    interface: cap.interface().to_owned(),
                });
            }
            Import::Free(_) | Import::Wasi(_) => {}
            Import::Unknown(import) => return Err(PluginError::UnknownImport { plugin, import }),
        }
    }

    let pre = runtime
        .linker
        .instantiate_pre(&component)
        .and_then(PluginPre::new)
        .map_err(|e| PluginError::Compile {
            plugin: plugin.clone(),
            message: instance::chain(&e),
        })?;
    let ctx = Arc::new(PluginCtx {
        name: plugin.clone(),
        grants: config.grants.clone(),
        impersonate: config.impersonate,
        service_domains: OnceLock::new(),
        data: OnceLock::new(),
        ephemeral: ephemeral.unwrap_or_else(|| Arc::new(Ephemeral::new(config.ephemeral_bytes))),
        blob_limits: super::blobs::BlobLimits::of(&config),
        server: runtime.server.clone(),
        domain: runtime.domain.clone(),
        scope: super::scope::Scope::new(runtime.marks.of(&plugin)),
    });

    let trap = |what: &'static str| {
        let plugin = plugin.clone();
        move |e: wasmtime::Error| PluginError::Trap {
            plugin,
            what,
            message: instance::chain(&e),
        }
    };
    let mut store = instance::new_store(&runtime.engine, ctx.clone(), config.memory);
    // Start-up gets a generous deadline: first calls fault in pages and run static
    // initialisers, and nothing is waiting on them.
    let startup = config.timeout.max(std::time::Duration::from_secs(1));
    instance::arm(&mut store, startup);
    let bindings = pre
        .instantiate_async(&mut store)
        .await
        .map_err(trap("instantiation"))?;
    instance::arm(&mut store, startup);
    let manifest = bindings
        .tessera_plugin_handler()
        .call_describe(&mut store)
        .await
        .map_err(trap("describe"))?;
    check_manifest(&plugin, &manifest)?;
    let manifest = rename_services(&config, manifest)?;
    let domains = manifest
        .services
        .iter()
        .map(|label| format!("{label}.{}", runtime.domain))
        .collect();
    let _ = ctx.service_domains.set(domains);
    let _ = ctx.data.set(super::data::categories(&config, &manifest));
    instance::arm(&mut store, startup);
    bindings
        .tessera_plugin_handler()
        .call_init(&mut store, &config.config)
        .await
        .map_err(trap("init"))?
        .map_err(|message| PluginError::Init {
            plugin: plugin.clone(),
            message,
        })?;

    let first = instance::Instance { store, bindings };
    Ok(LoadedPlugin::new(
        config,
        ctx,
        manifest,
        granted_imports,
        runtime.engine.clone(),
        pre,
        first,
    ))
}

/// What a manifest must satisfy on its own (clashes between plugins are checked in `dispatch`).
fn check_manifest(plugin: &str, m: &Manifest) -> Result<(), PluginError> {
    let bad = |problem: String| PluginError::Manifest {
        plugin: plugin.to_owned(),
        problem,
    };
    if m.name.is_empty() {
        return Err(bad("empty name".to_owned()));
    }
    super::timers::check(&m.timers).map_err(bad)?;
    for label in &m.services {
        let ok = !label.is_empty()
            && label
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !ok {
            return Err(bad(format!(
                "service label \"{label}\" is not a DNS label (a-z, 0-9, '-')"
            )));
        }
    }
    Ok(())
}

/// Applies the operator's `[plugins.<name>.services]` renames to the declared labels; renaming
/// a label the plugin does not declare is an error naming the key.
fn rename_services(config: &PluginConfig, mut manifest: Manifest) -> Result<Manifest, PluginError> {
    for declared in config.services.keys() {
        if !manifest.services.contains(declared) {
            return Err(PluginError::Manifest {
                plugin: config.name.clone(),
                problem: format!(
                    "plugins.{}.services.{declared}: the plugin serves no \"{declared}\" \
                     (it declares: {})",
                    config.name,
                    manifest.services.join(", ")
                ),
            });
        }
    }
    for label in &mut manifest.services {
        if let Some(served) = config.services.get(label.as_str()) {
            label.clone_from(served);
        }
    }
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imports_are_sorted_by_package_and_version() {
        assert_eq!(
            classify_import("tessera:plugin/accounts@0.1.0"),
            Import::Capability(Capability::Accounts)
        );
        assert_eq!(
            classify_import("tessera:plugin/http-outbound@0.1.0"),
            Import::Capability(Capability::HttpOutbound)
        );
        assert_eq!(
            classify_import("tessera:plugin/types@0.1.0"),
            Import::Free("types".to_owned())
        );
        assert_eq!(
            classify_import("tessera:plugin/kv@0.1.1"),
            Import::Capability(Capability::Kv)
        );
        assert_eq!(
            classify_import("tessera:plugin/scope@0.1.1"),
            Import::Free("scope".to_owned())
        );
        // `scope` came with 0.1.1.
        assert!(matches!(
            classify_import("tessera:plugin/scope@0.1.0"),
            Import::Unknown(_)
        ));
        // `caps` came with 0.1.2, and is a capability the operator grants.
        assert_eq!(
            classify_import("tessera:plugin/caps@0.1.2"),
            Import::Capability(Capability::Caps)
        );
        for old in ["0.1.0", "0.1.1"] {
            assert!(matches!(
                classify_import(&format!("tessera:plugin/caps@{old}")),
                Import::Unknown(_)
            ));
        }
        assert_eq!(
            classify_import("tessera:plugin/scope@0.1.2"),
            Import::Free("scope".to_owned())
        );
        assert!(matches!(
            classify_import("wasi:cli/environment@0.2.6"),
            Import::Wasi(_)
        ));
        assert!(matches!(
            classify_import("tessera:plugin/accounts@0.2.0"),
            Import::Unknown(_)
        ));
        assert!(matches!(
            classify_import("evil:net/socket@1.0.0"),
            Import::Unknown(_)
        ));
    }
}

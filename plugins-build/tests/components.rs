//! The components the build script produced: they exist, are components, and import exactly
//! the capabilities their manifests need.

use std::collections::BTreeSet;

use wasmparser::{Parser, Payload};

/// The top-level import names of a component.
fn component_imports(path: &str) -> BTreeSet<String> {
    let bytes = std::fs::read(path).expect("component exists");
    assert!(Parser::is_component(&bytes), "{path} is a component");
    let mut depth = 0usize;
    let mut names = BTreeSet::new();
    for payload in Parser::new(0).parse_all(&bytes) {
        match payload.expect("component parses") {
            Payload::Version { .. } => depth += 1,
            Payload::End(_) => depth -= 1,
            Payload::ComponentImportSection(reader) if depth == 1 => {
                for import in reader {
                    names.insert(import.expect("import parses").name.name.to_owned());
                }
            }
            _ => {}
        }
    }
    names
}

/// The `tessera:plugin` interfaces a component imports, without the package and version.
fn tessera_imports(path: &str) -> BTreeSet<String> {
    component_imports(path)
        .into_iter()
        .filter_map(|n| {
            n.strip_prefix("tessera:plugin/")
                .map(|i| i.split('@').next().unwrap_or(i).to_owned())
        })
        .collect()
}

/// Interfaces that need no grant: type-only ones (they hold the records `handler` uses) and
/// `scope` (0.1.1), which only narrows the plugin's own hooks.
const TYPE_ONLY: [&str; 4] = ["types", "manifest", "http-types", "scope"];

#[test]
fn echo_bot_imports_only_log_and_router() {
    let capabilities: BTreeSet<String> = tessera_imports(plugins_build::ECHO_BOT)
        .into_iter()
        .filter(|i| !TYPE_ONLY.contains(&i.as_str()))
        .collect();
    assert_eq!(
        capabilities,
        BTreeSet::from(["log".to_owned(), "router".to_owned()])
    );
}

/// `external-services` is not a default (it needs the operator's TURN secret), so the test
/// below does not see it: its documented grants (`docs/operators.md`, `examples/tessera.toml`,
/// with `router.impersonate` on top of `router`) are checked here instead.
#[test]
fn external_services_imports_log_router_and_clock() {
    let capabilities: BTreeSet<String> = tessera_imports(plugins_build::PLUGIN_EXTERNAL_SERVICES)
        .into_iter()
        .filter(|i| !TYPE_ONLY.contains(&i.as_str()))
        .collect();
    assert_eq!(
        capabilities,
        BTreeSet::from(["clock".to_owned(), "log".to_owned(), "router".to_owned()])
    );
}

/// Every built-in default (`host/src/config/default_plugins.toml`) is granted exactly what its
/// component imports: nothing it cannot use (least privilege), nothing missing (it would be
/// refused at load). `router.impersonate` widens `router`.
#[test]
fn default_plugins_are_granted_exactly_their_imports() {
    let defaults: toml::Table = include_str!("../../host/src/config/default_plugins.toml")
        .parse()
        .expect("default_plugins.toml is TOML");
    assert!(!defaults.is_empty());
    for (name, table) in &defaults {
        let (_, path) = plugins_build::ALL
            .iter()
            .find(|(krate, _)| *krate == format!("plugin-{name}") || krate == name)
            .unwrap_or_else(|| panic!("default plugin {name} is built"));
        let imports: BTreeSet<String> = tessera_imports(path)
            .into_iter()
            .filter(|i| !TYPE_ONLY.contains(&i.as_str()))
            .collect();
        let grants: BTreeSet<String> = table["grants"]
            .as_array()
            .expect("grants is a list")
            .iter()
            .map(|g| {
                let g = g.as_str().expect("a grant is a string");
                g.strip_suffix(".impersonate").unwrap_or(g).to_owned()
            })
            .collect();
        assert_eq!(imports, grants, "default plugin {name}");
    }
}

#[test]
fn every_plugin_is_a_component_in_all() {
    assert!(!plugins_build::ALL.is_empty());
    for (name, path) in plugins_build::ALL {
        let imports = component_imports(path);
        assert!(
            imports
                .iter()
                .all(|i| i.starts_with("tessera:plugin/") || i.starts_with("wasi:")),
            "{name} imports only tessera and WASI interfaces: {imports:?}"
        );
    }
}

// One line per plugin, at compile time: a new plugin crate without an entry here still
// compiles, but `foreach_plugin!` makes its constant reachable by name.
macro_rules! assert_listed {
    ($krate:ident, $konst:ident) => {
        assert!(
            plugins_build::ALL
                .iter()
                .any(|(_, p)| *p == plugins_build::$konst),
            stringify!($krate)
        );
    };
}

#[test]
fn foreach_plugin_names_every_constant() {
    plugins_build::foreach_plugin!(assert_listed);
}

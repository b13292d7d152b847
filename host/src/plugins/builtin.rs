//! Components embedded in the binary: every crate `plugins-build` compiles (`plugins/*` and
//! `examples/echo-bot`), so one binary carries its default plugins and `[plugins.<name>]` needs
//! no file for them. Their code is compiled (or taken from the compile cache) at load like any
//! file's; the config's grants still decide what each may import.

/// The embedded component named `name`: its crate name without the `plugin-` prefix of feature
/// crates (`echo-bot`, `offline` for `plugin-offline`).
pub fn get(name: &str) -> Option<&'static [u8]> {
    plugins_build::EMBEDDED
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, bytes)| *bytes)
}

/// The names of the embedded components, sorted.
pub fn names() -> impl Iterator<Item = &'static str> {
    let mut names: Vec<_> = plugins_build::EMBEDDED.iter().map(|(n, _)| *n).collect();
    names.sort_unstable();
    names.into_iter()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_is_embedded_as_a_component() {
        let echo = get("echo-bot").expect("echo-bot is embedded");
        // A component's preamble: `\0asm`, then version 0x0d and layer 1.
        assert_eq!(&echo[..4], b"\0asm");
        assert_eq!(&echo[6..8], &[1, 0]);
        assert!(names().any(|n| n == "echo-bot"));
        assert!(get("no-such-plugin").is_none());
        // Feature crates are named without their `plugin-` prefix.
        assert!(get("offline").is_some() && get("plugin-offline").is_none());
    }
}

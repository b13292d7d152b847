//! Operator configuration helpers for `Plugin::init`.

/// For a plugin with no settings of its own: accepts the empty table the host hands over when the
/// operator wrote no `[plugins.<name>.config]`, and refuses anything else naming the first key
/// (a plugin's retention is set in `[plugins.<name>.retention.<category>]`, which the host reads,
/// not the plugin). `category` is the plugin's data category, for that hint.
///
/// # Errors
/// The text is not a TOML table, or the table has a key.
pub fn no_settings(config: &str, category: &str) -> Result<(), String> {
    let table: toml::Table = config
        .parse()
        .map_err(|e| format!("config: not a TOML table: {e}"))?;
    match table.keys().next() {
        None => Ok(()),
        Some(key) => Err(format!(
            "config.{key}: unknown key (the plugin has no settings; retention is \
             [plugins.<name>.retention.{category}])"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_empty_table_is_accepted() {
        assert_eq!(no_settings("", "notes"), Ok(()));
        let err = no_settings("max_items = 3", "notes").expect_err("a key");
        assert!(err.starts_with("config.max_items: unknown key"), "{err}");
        assert!(err.contains("[plugins.<name>.retention.notes]"), "{err}");
        let err = no_settings("not toml = = 1", "notes").expect_err("not TOML");
        assert!(err.starts_with("config: not a TOML table"), "{err}");
    }
}

//! [`ConfigError`]: what is wrong with a config file, named by key.
//!
//! serde and `toml` report a problem by byte span only. To name the key, the document is parsed a
//! second time into `toml`'s spanned tree and the span is located in it: `limits.depth`, `tls`.

use std::ops::Range;
use std::path::PathBuf;

use toml::de::{DeTable, DeValue};

/// A configuration file that cannot be used. The message names the key and the problem, e.g.
/// `limits.stanza_bytes: must be at least 4096` or `unknown key "foo" in [tls]`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {}: {io}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why (shown in the message rather than as a `source`, so it is not printed twice).
        io: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("invalid TOML at line {line}, column {column}: {message}")]
    Syntax {
        /// 1-based line.
        line: usize,
        /// 1-based column (in characters).
        column: usize,
        /// The parser's message.
        message: String,
    },
    /// A key that Tessera does not know: usually a typo, so it is an error rather than ignored.
    #[error("unknown key \"{key}\" in {}", table_name(table))]
    UnknownKey {
        /// The unknown key itself.
        key: String,
        /// The dotted path of the table that holds it; empty for the top level.
        table: String,
    },
    /// A known key with an unusable value.
    #[error("{key}: {problem}")]
    Invalid {
        /// The dotted key, e.g. `limits.stanza_bytes`.
        key: String,
        /// What is wrong with it.
        problem: String,
    },
}

impl ConfigError {
    /// The dotted key the error is about (`tls.foo` for an unknown key `foo` in `[tls]`), if any.
    pub fn key(&self) -> Option<String> {
        match self {
            Self::UnknownKey { key, table } if table.is_empty() => Some(key.clone()),
            Self::UnknownKey { key, table } => Some(format!("{table}.{key}")),
            Self::Invalid { key, .. } => Some(key.clone()),
            Self::Read { .. } | Self::Syntax { .. } => None,
        }
    }

    pub(crate) fn invalid(key: &str, problem: impl Into<String>) -> Self {
        Self::Invalid {
            key: key.to_owned(),
            problem: problem.into(),
        }
    }

    /// Turns a `toml` deserialization error for `source` into one that names its key.
    pub(crate) fn from_toml(source: &str, err: &toml::de::Error) -> Self {
        let message = err.message().trim().to_owned();
        let Ok(doc) = DeTable::parse(source) else {
            // Not even TOML: a syntax error, located by line and column.
            let (line, column) = err
                .span()
                .map_or((1, 1), |span| line_column(source, span.start));
            return Self::Syntax {
                line,
                column,
                message,
            };
        };
        let path = err
            .span()
            .map(|span| key_path(doc.get_ref(), &span))
            .unwrap_or_default();
        if let Some(key) = unknown_field(&message) {
            // The span points at the unknown key itself, so the table is the path without it.
            let table = match path.split_last() {
                Some((last, parent)) if *last == key => parent.join("."),
                _ => path.join("."),
            };
            return Self::UnknownKey { key, table };
        }
        let key = if path.is_empty() {
            "(top level)".to_owned()
        } else {
            path.join(".")
        };
        Self::Invalid {
            key,
            problem: message,
        }
    }
}

fn table_name(table: &str) -> String {
    if table.is_empty() {
        "the top level".to_owned()
    } else {
        format!("[{table}]")
    }
}

/// The field name in serde's ``unknown field `foo`, expected one of …`` message.
fn unknown_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    let end = rest.find('`')?;
    Some(rest[..end].to_owned())
}

/// The dotted path of the key or value whose span holds `span.start`, deepest match wins.
fn key_path(table: &DeTable<'_>, span: &Range<usize>) -> Vec<String> {
    let mut path = Vec::new();
    locate_in_table(table, span.start, &mut path);
    path
}

fn locate_in_table(table: &DeTable<'_>, pos: usize, path: &mut Vec<String>) -> bool {
    for (key, value) in table {
        path.push(key.get_ref().to_string());
        if key.span().contains(&pos) {
            return true;
        }
        // A `[table]`'s own span does not cover its body, so descend into every table.
        if locate_in_value(value.get_ref(), pos, path) || value.span().contains(&pos) {
            return true;
        }
        path.pop();
    }
    false
}

fn locate_in_value(value: &DeValue<'_>, pos: usize, path: &mut Vec<String>) -> bool {
    match value {
        DeValue::Table(table) => locate_in_table(table, pos, path),
        DeValue::Array(items) => items
            .iter()
            .any(|item| locate_in_value(item.get_ref(), pos, path)),
        DeValue::String(_)
        | DeValue::Integer(_)
        | DeValue::Float(_)
        | DeValue::Boolean(_)
        | DeValue::Datetime(_) => false,
    }
}

/// 1-based line and column of byte offset `pos`.
fn line_column(source: &str, pos: usize) -> (usize, usize) {
    let before = source.get(..pos).unwrap_or(source);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_column_counts_from_one() {
        assert_eq!(line_column("a\nbc", 3), (2, 2));
        assert_eq!(line_column("", 0), (1, 1));
    }

    #[test]
    fn unknown_field_extracts_the_name() {
        let msg = "unknown field `foo`, expected one of `cert`, `key`";
        assert_eq!(unknown_field(msg).as_deref(), Some("foo"));
        assert_eq!(unknown_field("invalid type: string"), None);
    }
}

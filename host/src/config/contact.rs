//! `[contact]`: the service's contact addresses, published in the server's disco#info as
//! XEP-0157 (an XEP-0128 `http://jabber.org/network/serverinfo` form), so clients can show users
//! where to report abuse or ask for help.
//!
//! Kept apart from `raw`/`validate` like `http`: the raw serde type, the validated type and the
//! checks in one place.

use serde::Deserialize;

use super::ConfigError;

/// `[contact]`: each key a list of URIs.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawContact {
    pub(crate) abuse: Vec<String>,
    pub(crate) admin: Vec<String>,
    pub(crate) feedback: Vec<String>,
    pub(crate) sales: Vec<String>,
    pub(crate) security: Vec<String>,
    pub(crate) support: Vec<String>,
}

/// The contact addresses (XEP-0157), each a URI (`mailto:`, `xmpp:`, `https:`, `http:`, `tel:`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ContactConfig {
    /// Where to report abuse.
    pub abuse: Vec<String>,
    /// The service's administrators.
    pub admin: Vec<String>,
    /// Feedback.
    pub feedback: Vec<String>,
    /// Sales.
    pub sales: Vec<String>,
    /// Where to report security issues.
    pub security: Vec<String>,
    /// Help for users.
    pub support: Vec<String>,
}

impl ContactConfig {
    /// Whether no address is set (then no form is published).
    pub fn is_empty(&self) -> bool {
        self.fields().all(|(_, v)| v.is_empty())
    }

    /// `(XEP-0157 field var, addresses)` in the XEP's order.
    pub(crate) fn fields(&self) -> impl Iterator<Item = (&'static str, &[String])> {
        [
            ("abuse-addresses", &self.abuse),
            ("admin-addresses", &self.admin),
            ("feedback-addresses", &self.feedback),
            ("sales-addresses", &self.sales),
            ("security-addresses", &self.security),
            ("support-addresses", &self.support),
        ]
        .into_iter()
        .map(|(var, v)| (var, v.as_slice()))
    }
}

/// The URI schemes XEP-0157 §2 shows and clients open.
const SCHEMES: &[&str] = &["mailto:", "xmpp:", "https:", "http:", "tel:"];

pub(crate) fn validate(raw: &RawContact) -> Result<ContactConfig, ConfigError> {
    let check = |key: &str, values: &[String]| -> Result<Vec<String>, ConfigError> {
        values
            .iter()
            .map(|v| {
                let v = v.trim();
                let scheme_ok = SCHEMES
                    .iter()
                    .any(|s| v.len() > s.len() && v[..s.len()].eq_ignore_ascii_case(s));
                if !scheme_ok || v.chars().any(|c| c.is_whitespace() || c.is_control()) {
                    return Err(ConfigError::invalid(
                        &format!("contact.{key}"),
                        format!(
                            "\"{v}\" is not a URI starting with one of {}",
                            SCHEMES.join(", ")
                        ),
                    ));
                }
                Ok(v.to_owned())
            })
            .collect()
    };
    Ok(ContactConfig {
        abuse: check("abuse", &raw.abuse)?,
        admin: check("admin", &raw.admin)?,
        feedback: check("feedback", &raw.feedback)?,
        sales: check("sales", &raw.sales)?,
        security: check("security", &raw.security)?,
        support: check("support", &raw.support)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_with_known_schemes_pass_and_others_name_their_key() {
        let raw = RawContact {
            abuse: vec![
                "mailto:abuse@example.org".into(),
                "xmpp:abuse@example.org".into(),
            ],
            support: vec!["https://example.org/help".into()],
            ..RawContact::default()
        };
        let c = validate(&raw).expect("valid");
        assert_eq!(c.abuse.len(), 2);
        assert!(!c.is_empty());
        assert!(validate(&RawContact::default()).expect("empty").is_empty());

        for bad in [
            "abuse@example.org",
            "mailto:",
            "ftp://x",
            "mailto:a b@example.org",
        ] {
            let raw = RawContact {
                security: vec![bad.into()],
                ..RawContact::default()
            };
            let err = validate(&raw).expect_err(bad).to_string();
            assert!(err.contains("contact.security"), "{err}");
        }
    }
}

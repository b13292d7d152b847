//! XEP-0004 data forms, on top of `xmpp-parsers`' [`DataForm`]: finding a form in a payload,
//! reading submitted values, building result forms.

use minidom::Element;
pub use xmpp_parsers::data_forms::{DataForm, DataFormType, Field, FieldType};

use crate::error::ParseError;

/// `jabber:x:data` (XEP-0004 §9).
pub const NS: &str = "jabber:x:data";

/// The first data form child of `element` whose `FORM_TYPE` (XEP-0068) is `form_type`, or the
/// first form at all when `form_type` is `None`.
///
/// # Errors
///
/// A matching `<x xmlns='jabber:x:data'/>` child is not a valid form.
pub fn find(element: &Element, form_type: Option<&str>) -> Result<Option<DataForm>, ParseError> {
    for child in element.children().filter(|c| c.is("x", NS)) {
        let form = DataForm::try_from(child.clone()).map_err(|e| ParseError::new(e.to_string()))?;
        if form_type.is_none() || form.form_type() == form_type {
            return Ok(Some(form));
        }
    }
    Ok(None)
}

/// The first value of field `var`.
pub fn value<'a>(form: &'a DataForm, var: &str) -> Option<&'a str> {
    values(form, var).first().map(String::as_str)
}

/// All values of field `var` (empty if absent).
pub fn values<'a>(form: &'a DataForm, var: &str) -> &'a [String] {
    form.fields
        .iter()
        .find(|f| f.var.as_deref() == Some(var))
        .map_or(&[], |f| f.values.as_slice())
}

/// A boolean field's value (XEP-0004 §3.3: `1`/`true` or `0`/`false`); `None` if absent or not a
/// boolean.
pub fn boolean(form: &DataForm, var: &str) -> Option<bool> {
    match value(form, var)? {
        "1" | "true" => Some(true),
        "0" | "false" => Some(false),
        _ => None,
    }
}

/// A `type='result'` form with `FORM_TYPE` `form_type` (skipped when empty) and `fields`.
pub fn result(form_type: &str, fields: Vec<Field>) -> DataForm {
    DataForm::new(DataFormType::Result_, form_type, fields)
}

/// A `type='form'` form to be filled in, with a title and instructions.
pub fn form(form_type: &str, title: &str, instructions: &str, fields: Vec<Field>) -> DataForm {
    let mut form = DataForm::new(DataFormType::Form, form_type, fields);
    form.title = Some(title.to_owned());
    form.instructions = Some(instructions.to_owned());
    form
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_submitted_form_and_reads_values() {
        let command: Element = "<command xmlns='http://jabber.org/protocol/commands' node='n'>\
            <x xmlns='jabber:x:data' type='submit'>\
              <field var='FORM_TYPE' type='hidden'><value>urn:example:purge</value></field>\
              <field var='user'><value>juliet@example.com</value></field>\
              <field var='all'><value>true</value></field>\
              <field var='days'><value>1</value><value>2</value></field>\
            </x></command>"
            .parse()
            .unwrap();
        let f = find(&command, Some("urn:example:purge")).unwrap().unwrap();
        assert_eq!(value(&f, "user"), Some("juliet@example.com"));
        assert_eq!(boolean(&f, "all"), Some(true));
        assert_eq!(values(&f, "days"), ["1", "2"]);
        assert!(values(&f, "missing").is_empty());
        assert!(find(&command, Some("urn:other")).unwrap().is_none());
    }

    #[test]
    fn invalid_form_is_an_error() {
        let e: Element = "<a xmlns='b'><x xmlns='jabber:x:data' type='bogus'/></a>"
            .parse()
            .unwrap();
        assert!(find(&e, None).is_err());
    }

    #[test]
    fn built_forms_serialise() {
        let f = result("urn:example:stats", vec![Field::text_single("users", "3")]);
        let e = Element::from(f);
        assert_eq!(e.attr("type"), Some("result"));
        let back = DataForm::try_from(e).unwrap();
        assert_eq!(back.form_type(), Some("urn:example:stats"));
        assert_eq!(value(&back, "users"), Some("3"));
        let f = form(
            "",
            "Purge",
            "Pick a user",
            vec![Field::new("user", FieldType::JidSingle)],
        );
        assert_eq!(Element::from(f).attr("type"), Some("form"));
    }
}

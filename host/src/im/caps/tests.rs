//! Verification against the examples of XEP-0115 §5.2 and §5.3, and the parsing of `<c/>`.

use sha2::Digest as _;

use super::*;

fn el(s: &str) -> Element {
    s.parse().expect("test XML")
}

fn sha1(ver: &str) -> Key {
    Key {
        algo: HashAlgo::Sha1,
        ver: ver.into(),
    }
}

/// XEP-0115 §5.2, "Simple Generation Example".
const SIMPLE: &str = "<query xmlns='http://jabber.org/protocol/disco#info' \
    node='http://code.google.com/p/exodus#QgayPKawpkPSDYmwT/WM94uAlu0='>\
    <identity category='client' name='Exodus 0.9.1' type='pc'/>\
    <feature var='http://jabber.org/protocol/caps'/>\
    <feature var='http://jabber.org/protocol/disco#info'/>\
    <feature var='http://jabber.org/protocol/disco#items'/>\
    <feature var='http://jabber.org/protocol/muc'/>\
    </query>";
const SIMPLE_VER: &str = "QgayPKawpkPSDYmwT/WM94uAlu0=";
/// The §5.2 verification string S.
const SIMPLE_S: &str = "client/pc//Exodus 0.9.1<http://jabber.org/protocol/caps<\
    http://jabber.org/protocol/disco#info<http://jabber.org/protocol/disco#items<\
    http://jabber.org/protocol/muc<";

/// XEP-0115 §5.3, "Complex Generation Example" (two identities, an extended-info form).
const COMPLEX: &str = "<query xmlns='http://jabber.org/protocol/disco#info' \
    node='http://psi-im.org#q07IKJEyjvHSyhy//CH0CxmKi8w='>\
    <identity xml:lang='en' category='client' name='Psi 0.11' type='pc'/>\
    <identity xml:lang='el' category='client' name='Ψ 0.11' type='pc'/>\
    <feature var='http://jabber.org/protocol/caps'/>\
    <feature var='http://jabber.org/protocol/disco#info'/>\
    <feature var='http://jabber.org/protocol/disco#items'/>\
    <feature var='http://jabber.org/protocol/muc'/>\
    <x xmlns='jabber:x:data' type='result'>\
    <field var='FORM_TYPE' type='hidden'><value>urn:xmpp:dataforms:softwareinfo</value></field>\
    <field var='ip_version'><value>ipv4</value><value>ipv6</value></field>\
    <field var='os'><value>Mac</value></field>\
    <field var='os_version'><value>10.5.1</value></field>\
    <field var='software'><value>Psi</value></field>\
    <field var='software_version'><value>0.11</value></field>\
    </x></query>";
const COMPLEX_VER: &str = "q07IKJEyjvHSyhy//CH0CxmKi8w=";

#[test]
fn xep_0115_5_2_simple_example_verifies() {
    let Answer::Verified(features) = verify(&el(SIMPLE), &sha1(SIMPLE_VER)) else {
        panic!("the §5.2 example must verify");
    };
    assert_eq!(
        &*features,
        [
            "http://jabber.org/protocol/caps",
            "http://jabber.org/protocol/disco#info",
            "http://jabber.org/protocol/disco#items",
            "http://jabber.org/protocol/muc",
        ]
        .map(Box::<str>::from)
    );
}

#[test]
fn xep_0115_5_3_complex_example_verifies() {
    assert!(matches!(
        verify(&el(COMPLEX), &sha1(COMPLEX_VER)),
        Answer::Verified(_)
    ));
}

#[test]
fn sha_256_verifies_against_the_specification_string() {
    // The same S as §5.2, hashed with SHA-256 here rather than by the code under test.
    let ver = BASE64.encode(sha2::Sha256::digest(SIMPLE_S.as_bytes()));
    let key = Key {
        algo: HashAlgo::Sha256,
        ver: ver.into(),
    };
    assert!(matches!(verify(&el(SIMPLE), &key), Answer::Verified(_)));
    // …and SHA-1's ver under SHA-256 is a mismatch.
    let wrong = Key {
        algo: HashAlgo::Sha256,
        ver: SIMPLE_VER.into(),
    };
    assert!(matches!(verify(&el(SIMPLE), &wrong), Answer::Unverified(_)));
}

#[test]
fn a_wrong_hash_is_unverified_but_well_formed() {
    let Answer::Unverified(features) = verify(&el(SIMPLE), &sha1(COMPLEX_VER)) else {
        panic!("a mismatching hash must not verify");
    };
    assert_eq!(features.len(), 4);
    // One feature more than the ver was computed over.
    let extra = SIMPLE.replace(
        "</query>",
        "<feature var='http://jabber.org/protocol/pubsub+notify'/></query>",
    );
    assert!(matches!(
        verify(&el(&extra), &sha1(SIMPLE_VER)),
        Answer::Unverified(_)
    ));
}

#[test]
fn ill_formed_answers_teach_nothing() {
    // §5.4 3.3: a duplicate feature (a set would hide it, and the hash would match).
    let dup = SIMPLE.replace(
        "</query>",
        "<feature var='http://jabber.org/protocol/muc'/></query>",
    );
    assert_eq!(verify(&el(&dup), &sha1(SIMPLE_VER)), Answer::Nothing);
    // §5.4 3.2: a duplicate identity.
    let dup = SIMPLE.replace(
        "</query>",
        "<identity category='client' name='Exodus 0.9.1' type='pc'/></query>",
    );
    assert_eq!(verify(&el(&dup), &sha1(SIMPLE_VER)), Answer::Nothing);
    // §5.4 3.4: two forms with the same FORM_TYPE.
    let form = "<x xmlns='jabber:x:data' type='result'><field var='FORM_TYPE' type='hidden'>\
        <value>urn:x</value></field></x>";
    let dup = SIMPLE.replace("</query>", &format!("{form}{form}</query>"));
    assert_eq!(verify(&el(&dup), &sha1(SIMPLE_VER)), Answer::Nothing);
    // Too many features.
    let many: String = (0..=MAX_FEATURES)
        .map(|i| format!("<feature var='urn:f:{i}'/>"))
        .collect();
    let big = SIMPLE.replace("</query>", &format!("{many}</query>"));
    assert_eq!(verify(&el(&big), &sha1(SIMPLE_VER)), Answer::Nothing);
}

#[test]
fn announced_caps_are_parsed() {
    let p = el(
        "<presence xmlns='jabber:client'><c xmlns='http://jabber.org/protocol/caps' \
        hash='sha-1' node='https://example.org' ver='QgayPKawpkPSDYmwT/WM94uAlu0='/></presence>",
    );
    assert_eq!(
        announced(&p),
        Some((sha1(SIMPLE_VER), "https://example.org"))
    );
    let sha256 = el(
        "<presence xmlns='jabber:client'><c xmlns='http://jabber.org/protocol/caps' \
        hash='sha-256' node='n' ver='x'/></presence>",
    );
    assert_eq!(
        announced(&sha256).map(|(k, _)| k.algo),
        Some(HashAlgo::Sha256)
    );
    // No caps; legacy caps (no hash); an unknown hash function; no ver; another namespace.
    for xml in [
        "<presence xmlns='jabber:client'/>",
        "<presence xmlns='jabber:client'><c xmlns='http://jabber.org/protocol/caps' \
         node='n' ver='1.0' ext='a b'/></presence>",
        "<presence xmlns='jabber:client'><c xmlns='http://jabber.org/protocol/caps' \
         hash='md5' node='n' ver='x'/></presence>",
        "<presence xmlns='jabber:client'><c xmlns='http://jabber.org/protocol/caps' \
         hash='sha-1' node='n'/></presence>",
        "<presence xmlns='jabber:client'><c xmlns='urn:other' hash='sha-1' node='n' \
         ver='x'/></presence>",
    ] {
        assert_eq!(announced(&el(xml)), None, "{xml}");
    }
}

//! `jid`: the JID handling the host relies on, fed arbitrary text.
//!
//! - `jid` crate parsing (RFC 7622), as the host parses every `to` (`im::stanza::parse_to`):
//!   `Display` → reparse gives the same JID, `to_bare` reparses as a bare JID, the bare and full
//!   constructors agree with the general one, and rebuilding a full JID from its bare part and
//!   resource (what resource binding does, RFC 6120 §7.6) gives it back.
//! - `tessera::storage::Owner`, the text stored in every plugin data `owner` column:
//!   `FromStr` ∘ `Display` is the identity, for owners made from any JID and for any text that
//!   parses as an owner.
//! - `tessera::accounts::normalize_username` (the CLI's and plugins' account names): idempotent,
//!   and its output is the localpart of a JID on our domain, so the account it creates is the
//!   account a `user@domain` stanza reaches.
//!
//! Never panics; every invariant is an assertion.

#![no_main]

use jid::{BareJid, FullJid, Jid};
use libfuzzer_sys::fuzz_target;
use tessera::storage::Owner;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    jids(text);
    owner_text(text);
    username(text);
});

fn jids(text: &str) {
    // jid 0.12.3 strips a domainpart's final dot (RFC 7622 §3.2) from the domain but keeps it in
    // the JID's string, so every later part is off by one: `a.168./x` parses with resource `/x`
    // (found by this target; see README "Crashes found"). The host strips the dot itself before
    // parsing a peer's JID (`im::stanza::parse_jid`); the crate's own invariants are checked on
    // the other inputs only.
    let domain_end = text.find('/').unwrap_or(text.len());
    if text[..domain_end].ends_with('.') {
        return;
    }
    let Ok(first) = Jid::new(text) else {
        assert!(
            BareJid::new(text).is_err(),
            "bare accepted what Jid refused"
        );
        assert!(
            FullJid::new(text).is_err(),
            "full accepted what Jid refused"
        );
        return;
    };
    // jid 0.12.3's normalisation is not idempotent: nameprep/nodeprep case-fold before NFKC, so
    // `\u{A7F3}oo` (MODIFIER LETTER CAPITAL F) becomes `Foo`, which parses again as `foo` (found by
    // this target). The host re-normalises a peer's JID once (`im::stanza::parse_jid`); from
    // there on, parsing must be a fixpoint.
    // It also accepts a domainpart that nameprep maps to nothing (`\u{1806}`, MONGOLIAN TODO
    // SOFT HYPHEN, gives an empty domain), whose string then fails to parse (found by this
    // target); `parse_jid`'s second round refuses it.
    let Ok(jid) = Jid::new(first.as_str()) else {
        return;
    };
    let shown = jid.to_string();
    assert_eq!(shown, jid.as_str());
    assert_eq!(Jid::new(&shown).as_ref(), Ok(&jid), "Display → reparse");
    let text = jid.as_str();

    let bare = jid.to_bare();
    assert_eq!(bare.node(), jid.node());
    assert_eq!(bare.domain(), jid.domain());
    assert_eq!(
        BareJid::new(bare.as_str()).as_ref(),
        Ok(&bare),
        "bare reparse"
    );
    owner_round_trip(&Owner::User(bare.clone()));
    owner_round_trip(&Owner::Room(bare.clone()));

    match jid.resource() {
        Some(resource) => {
            assert!(BareJid::new(text).is_err(), "bare accepted a resource");
            let full = FullJid::new(text).expect("Jid had a resource");
            assert_eq!(full.as_str(), jid.as_str());
            // Resource binding: bare JID + resource → the same full JID.
            let rebuilt = bare
                .with_resource_str(resource.as_str())
                .expect("a parsed resource is a valid resource");
            assert_eq!(rebuilt, full);
            assert_eq!(rebuilt.to_bare(), bare);
        }
        None => {
            assert!(FullJid::new(text).is_err(), "full accepted no resource");
            assert_eq!(BareJid::new(text).as_ref(), Ok(&bare));
        }
    }
}

fn owner_round_trip(owner: &Owner) {
    let stored = owner.to_string();
    assert_eq!(
        stored.parse::<Owner>().as_ref(),
        Ok(owner),
        "owner round trip"
    );
}

fn owner_text(text: &str) {
    // `Owner::from_str` parses with the crate directly, so it inherits the non-idempotent
    // normalisation (see `jids`): the first parse may need one more round to settle.
    if let Ok(owner) = text.parse::<Owner>() {
        let settled = owner
            .to_string()
            .parse::<Owner>()
            .expect("owner text reparses");
        owner_round_trip(&settled);
    }
}

fn username(text: &str) {
    let Ok(user) = tessera::accounts::normalize_username(text) else {
        return;
    };
    assert_eq!(
        tessera::accounts::normalize_username(&user).ok().as_deref(),
        Some(user.as_str()),
        "normalize_username is not idempotent"
    );
    let account = BareJid::new(&format!("{user}@localhost")).expect("a localpart makes a JID");
    assert_eq!(account.node().map(|n| n.as_str()), Some(user.as_str()));
}

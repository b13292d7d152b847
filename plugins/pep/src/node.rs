//! One account's nodes in `kv` (category [`CATEGORY`], owned by the account, so the host
//! deletes them with it), and their configuration (XEP-0060 §16.4.4).
//!
//! Layout, per account:
//! - `node/<name>`: the node's metadata, an XML element in the plugin's own namespace: its
//!   serial number, configuration, whitelist members and item ids, oldest first;
//! - `item/<serial>/<item id>`: one item's payload, serialised as published. The serial (not
//!   the node's name, which may hold any character) keys the items, so a node deleted and
//!   created again never sees its predecessor's items;
//! - `serial`: the next serial number.
//!
//! A publish reads and writes the node's metadata once and writes one item (and deletes the
//! one it pushes out): no scan of the account's other nodes or items.

use tessera_sdk::kv::Kv;
use tessera_sdk::minidom::Element;
use tessera_sdk::{HostError, Owner};

use crate::config::Settings;
use crate::error::PubsubError;
use crate::{ns, xml};

/// The `kv` category (declared in the manifest).
pub(crate) const CATEGORY: &str = "pep";
/// The longest node name and item id accepted: both are part of `kv` keys, which are indexed.
pub(crate) const MAX_NAME_BYTES: usize = 1024;

/// `pubsub#access_model` (XEP-0060 §4.5): who may read the node and gets its notifications.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Anyone.
    Open,
    /// The owner and contacts subscribed to the owner's presence (`from`/`both`); PEP's
    /// default (XEP-0163 §4.1.2.1).
    Presence,
    /// The owner and the members it lists (`pubsub#owner` affiliations).
    Whitelist,
}

impl Access {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Access::Open => "open",
            Access::Presence => "presence",
            Access::Whitelist => "whitelist",
        }
    }

    pub(crate) fn parse(value: &str) -> Option<Self> {
        match value {
            "open" => Some(Access::Open),
            "presence" => Some(Access::Presence),
            "whitelist" => Some(Access::Whitelist),
            _ => None,
        }
    }
}

/// `pubsub#send_last_published_item` (XEP-0060 §16.4.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SendLast {
    Never,
    OnSub,
    OnSubAndPresence,
}

impl SendLast {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            SendLast::Never => "never",
            SendLast::OnSub => "on_sub",
            SendLast::OnSubAndPresence => "on_sub_and_presence",
        }
    }

    pub(crate) fn parse(value: &str) -> Option<Self> {
        match value {
            "never" => Some(SendLast::Never),
            "on_sub" => Some(SendLast::OnSub),
            "on_sub_and_presence" => Some(SendLast::OnSubAndPresence),
            _ => None,
        }
    }
}

/// A node's configuration: the `pubsub#node_config` fields the plugin acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Config {
    pub(crate) access: Access,
    /// Items kept, at most the operator's `max_items`.
    pub(crate) max_items: u32,
    /// Reported as configured; items are kept either way (a PEP node keeps at least its last
    /// item for XEP-0163 §4.3.2).
    pub(crate) persist_items: bool,
    pub(crate) send_last: SendLast,
    pub(crate) notify_retract: bool,
    pub(crate) notify_delete: bool,
    pub(crate) title: Option<String>,
}

impl Config {
    /// XEP-0163 §4.1.2.1 defaults: `presence` access, the last item sent on presence; one item,
    /// as Prosody and ejabberd do (PEP nodes mostly hold the one current state).
    pub(crate) fn default_for(_settings: &Settings) -> Self {
        Self {
            access: Access::Presence,
            max_items: 1,
            persist_items: true,
            send_last: SendLast::OnSubAndPresence,
            notify_retract: true,
            notify_delete: true,
            title: None,
        }
    }

    /// A `pubsub#max_items` value: a number (clamped to the operator's cap: a client asking for
    /// 1000 bookmarks gets the cap, not an error) or `max` (XEP-0060 §16.4.4, the cap).
    pub(crate) fn parse_max_items(value: &str, settings: &Settings) -> Option<u32> {
        if value == "max" {
            return Some(settings.max_items);
        }
        let n: u64 = value.trim().parse().ok()?;
        if n == 0 {
            return None;
        }
        Some(u32::try_from(n.min(u64::from(settings.max_items))).unwrap_or(settings.max_items))
    }

    /// Applies one submitted field. `Ok(false)` for a field the plugin does not know (ignored);
    /// an `Err` for a known field with a value it cannot take.
    pub(crate) fn apply(
        &mut self,
        var: &str,
        value: &str,
        settings: &Settings,
    ) -> Result<bool, PubsubError> {
        let bad = || {
            PubsubError::from(
                tessera_sdk::StanzaError::not_acceptable()
                    .with_text(format!("bad value for {var}")),
            )
        };
        match var {
            "pubsub#access_model" => match Access::parse(value) {
                Some(a) => self.access = a,
                None if matches!(value, "roster" | "authorize") => {
                    return Err(PubsubError::unsupported(if value == "roster" {
                        "access-roster"
                    } else {
                        "access-authorize"
                    }));
                }
                None => return Err(bad()),
            },
            "pubsub#max_items" => {
                self.max_items = Self::parse_max_items(value, settings).ok_or_else(bad)?;
            }
            "pubsub#persist_items" => self.persist_items = xml::boolean(value).ok_or_else(bad)?,
            "pubsub#send_last_published_item" => {
                self.send_last = SendLast::parse(value).ok_or_else(bad)?;
            }
            "pubsub#notify_retract" => self.notify_retract = xml::boolean(value).ok_or_else(bad)?,
            "pubsub#notify_delete" => self.notify_delete = xml::boolean(value).ok_or_else(bad)?,
            "pubsub#title" => self.title = Some(value.to_owned()).filter(|t| !t.is_empty()),
            // Fixed: payloads and notifications are always delivered, only the owner publishes.
            "pubsub#deliver_payloads" | "pubsub#deliver_notifications" => {
                if xml::boolean(value) != Some(true) {
                    return Err(bad());
                }
            }
            "pubsub#publish_model" => {
                if value != "publishers" {
                    return Err(bad());
                }
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Whether the node's configuration already has `value` for `var` (XEP-0060 §7.1.5:
    /// publish-options are preconditions against an existing node). Unknown fields hold.
    pub(crate) fn satisfies(&self, var: &str, value: &str, settings: &Settings) -> bool {
        let mut wanted = self.clone();
        match wanted.apply(var, value, settings) {
            Ok(_) => wanted == *self,
            Err(_) => false,
        }
    }

    /// The `pubsub#node_config` fields, for the configure form (XEP-0060 §8.2.1).
    pub(crate) fn fields(&self) -> Vec<(&'static str, &'static str, Vec<String>)> {
        let b = |v: bool| vec![if v { "1" } else { "0" }.to_owned()];
        vec![
            (
                "pubsub#access_model",
                "list-single",
                vec![self.access.as_str().to_owned()],
            ),
            (
                "pubsub#max_items",
                "text-single",
                vec![self.max_items.to_string()],
            ),
            ("pubsub#persist_items", "boolean", b(self.persist_items)),
            (
                "pubsub#send_last_published_item",
                "list-single",
                vec![self.send_last.as_str().to_owned()],
            ),
            ("pubsub#notify_retract", "boolean", b(self.notify_retract)),
            ("pubsub#notify_delete", "boolean", b(self.notify_delete)),
            ("pubsub#deliver_payloads", "boolean", b(true)),
            ("pubsub#deliver_notifications", "boolean", b(true)),
            (
                "pubsub#publish_model",
                "list-single",
                vec!["publishers".to_owned()],
            ),
            (
                "pubsub#title",
                "text-single",
                self.title.iter().cloned().collect(),
            ),
        ]
    }
}

/// A node's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Node {
    pub(crate) name: String,
    serial: u64,
    /// Publishes so far, for generated item ids.
    seq: u64,
    pub(crate) config: Config,
    /// Whitelist members (bare JIDs), besides the owner.
    pub(crate) members: Vec<String>,
    /// Item ids, oldest first.
    pub(crate) items: Vec<String>,
}

/// The `kv` store of `owner`'s nodes.
pub(crate) struct Store {
    owner: String,
    kv: Kv,
}

fn node_key(name: &str) -> String {
    format!("node/{name}")
}

impl Node {
    fn item_key(&self, id: &str) -> String {
        format!("item/{}/{id}", self.serial)
    }

    /// A new id for an item published without one (XEP-0060 §7.1.1: the service generates a
    /// unique id): the time and this node's publish count, unique per node.
    pub(crate) fn new_item_id(&mut self, now_ms: u64) -> String {
        self.seq += 1;
        format!("{now_ms:x}-{}", self.seq)
    }

    fn to_element(&self) -> Element {
        let c = &self.config;
        let mut el = xml::el(
            "node",
            ns::STORED,
            &[
                ("serial", &self.serial.to_string()),
                ("seq", &self.seq.to_string()),
                ("access", c.access.as_str()),
                ("max", &c.max_items.to_string()),
                ("persist", if c.persist_items { "1" } else { "0" }),
                ("send-last", c.send_last.as_str()),
                ("notify-retract", if c.notify_retract { "1" } else { "0" }),
                ("notify-delete", if c.notify_delete { "1" } else { "0" }),
            ],
        );
        if let Some(title) = &c.title {
            xml::set(&mut el, "title", title.as_str());
        }
        for m in &self.members {
            el.append_child(xml::el("member", ns::STORED, &[("jid", m)]));
        }
        for id in &self.items {
            el.append_child(xml::el("item", ns::STORED, &[("id", id)]));
        }
        el
    }

    fn from_element(name: &str, el: &Element) -> Option<Self> {
        let num = |a: &str| el.attr(a).and_then(|v| v.parse::<u64>().ok());
        let flag = |a: &str| el.attr(a).and_then(xml::boolean);
        let config = Config {
            access: Access::parse(el.attr("access")?)?,
            max_items: u32::try_from(num("max")?).ok()?,
            persist_items: flag("persist")?,
            send_last: SendLast::parse(el.attr("send-last")?)?,
            notify_retract: flag("notify-retract")?,
            notify_delete: flag("notify-delete")?,
            title: el.attr("title").map(str::to_owned),
        };
        let list = |child: &str, attr: &str| {
            el.children()
                .filter(|c| c.is(child, ns::STORED))
                .filter_map(|c| c.attr(attr).map(str::to_owned))
                .collect::<Vec<_>>()
        };
        Some(Node {
            name: name.to_owned(),
            serial: num("serial")?,
            seq: num("seq")?,
            config,
            members: list("member", "jid"),
            items: list("item", "id"),
        })
    }

    /// The id of the newest item.
    pub(crate) fn last(&self) -> Option<&str> {
        self.items.last().map(String::as_str)
    }
}

impl Store {
    pub(crate) fn of(owner: &str) -> Self {
        Self {
            owner: owner.to_owned(),
            kv: Kv::new(CATEGORY, Owner::user(owner)),
        }
    }

    pub(crate) fn owner(&self) -> &str {
        &self.owner
    }

    fn fail(&self, doing: &str, e: &HostError) -> PubsubError {
        PubsubError::internal(doing, &self.owner, e)
    }

    /// The node `name`, if it exists.
    pub(crate) fn load(&self, name: &str) -> Result<Option<Node>, PubsubError> {
        let Some(text) = self
            .kv
            .get_string(&node_key(name))
            .map_err(|e| self.fail("read a PEP node", &e))?
        else {
            return Ok(None);
        };
        match text
            .parse::<Element>()
            .ok()
            .and_then(|el| Node::from_element(name, &el))
        {
            Some(node) => Ok(Some(node)),
            None => {
                tessera_sdk::log::error(&format!(
                    "a stored PEP node of {} does not parse",
                    self.owner
                ));
                Err(tessera_sdk::StanzaError::internal_server_error().into())
            }
        }
    }

    /// The names of the account's nodes, at most `limit`.
    pub(crate) fn names(&self, limit: u32) -> Result<Vec<String>, PubsubError> {
        Ok(self
            .kv
            .keys("node/", limit)
            .map_err(|e| self.fail("list PEP nodes", &e))?
            .into_iter()
            .filter_map(|k| k.strip_prefix("node/").map(str::to_owned))
            .collect())
    }

    /// A new node `name` with `config`, not yet saved; refused past the operator's
    /// `max_nodes` (`not-allowed` with `<max-nodes-exceeded/>`, XEP-0060 §14.4).
    pub(crate) fn create(
        &self,
        name: &str,
        config: Config,
        settings: &Settings,
    ) -> Result<Node, PubsubError> {
        if name.is_empty() || name.len() > MAX_NAME_BYTES {
            return Err(PubsubError::bad_request("nodeid-required"));
        }
        if self.names(settings.max_nodes)?.len() >= settings.max_nodes as usize {
            return Err(PubsubError::app(
                tessera_sdk::StanzaError::not_allowed(),
                "max-nodes-exceeded",
            ));
        }
        let serial = self
            .kv
            .get_string("serial")
            .map_err(|e| self.fail("read the node serial", &e))?
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(0);
        self.kv
            .set_str("serial", &(serial + 1).to_string())
            .map_err(|e| self.fail("write the node serial", &e))?;
        Ok(Node {
            name: name.to_owned(),
            serial,
            seq: 0,
            config,
            members: Vec::new(),
            items: Vec::new(),
        })
    }

    /// Saves the node's metadata.
    pub(crate) fn save(&self, node: &Node) -> Result<(), PubsubError> {
        self.kv
            .set_str(&node_key(&node.name), &String::from(&node.to_element()))
            .map_err(|e| self.fail("write a PEP node", &e))
    }

    /// The payload of item `id`.
    pub(crate) fn item(&self, node: &Node, id: &str) -> Result<Option<Element>, PubsubError> {
        let Some(text) = self
            .kv
            .get_string(&node.item_key(id))
            .map_err(|e| self.fail("read a PEP item", &e))?
        else {
            return Ok(None);
        };
        Ok(text.parse::<Element>().ok())
    }

    /// Stores `payload` as item `id`, the newest, and drops the oldest past the node's
    /// `max_items` (the metadata is saved too). Returns the ids dropped.
    pub(crate) fn put(
        &self,
        node: &mut Node,
        id: &str,
        payload: &Element,
    ) -> Result<Vec<String>, PubsubError> {
        self.kv
            .set_str(&node.item_key(id), &String::from(payload))
            .map_err(|e| self.fail("write a PEP item", &e))?;
        node.items.retain(|i| i != id);
        node.items.push(id.to_owned());
        let excess = node
            .items
            .len()
            .saturating_sub(node.config.max_items as usize);
        let dropped: Vec<String> = node.items.drain(..excess).collect();
        self.save(node)?;
        for old in &dropped {
            self.kv
                .delete(&node.item_key(old))
                .map_err(|e| self.fail("delete a PEP item", &e))?;
        }
        Ok(dropped)
    }

    /// Trims the items past a lowered `max_items` (after a reconfiguration); saves the node.
    pub(crate) fn trim(&self, node: &mut Node) -> Result<(), PubsubError> {
        let excess = node
            .items
            .len()
            .saturating_sub(node.config.max_items as usize);
        let dropped: Vec<String> = node.items.drain(..excess).collect();
        self.save(node)?;
        for old in &dropped {
            self.kv
                .delete(&node.item_key(old))
                .map_err(|e| self.fail("delete a PEP item", &e))?;
        }
        Ok(())
    }

    /// Deletes item `id`; whether it existed. Saves the node.
    pub(crate) fn remove(&self, node: &mut Node, id: &str) -> Result<bool, PubsubError> {
        if !node.items.iter().any(|i| i == id) {
            return Ok(false);
        }
        node.items.retain(|i| i != id);
        self.save(node)?;
        self.kv
            .delete(&node.item_key(id))
            .map_err(|e| self.fail("delete a PEP item", &e))?;
        Ok(true)
    }

    /// Deletes every item (XEP-0060 §8.5, purge); saves the node.
    pub(crate) fn purge(&self, node: &mut Node) -> Result<(), PubsubError> {
        let ids = std::mem::take(&mut node.items);
        self.save(node)?;
        for id in &ids {
            self.kv
                .delete(&node.item_key(id))
                .map_err(|e| self.fail("delete a PEP item", &e))?;
        }
        Ok(())
    }

    /// Deletes the node and its items (XEP-0060 §8.4).
    pub(crate) fn delete(&self, node: &mut Node) -> Result<(), PubsubError> {
        self.kv
            .delete(&node_key(&node.name))
            .map_err(|e| self.fail("delete a PEP node", &e))?;
        for id in std::mem::take(&mut node.items) {
            self.kv
                .delete(&node.item_key(&id))
                .map_err(|e| self.fail("delete a PEP item", &e))?;
        }
        Ok(())
    }
}

//! The `archive` capability: append-only streams of entries per owner (message archives, offline
//! queues, room history), queried with XEP-0313 / XEP-0059 semantics. [`crate::rsm`] maps RSM
//! requests and results onto [`Query`] and [`Page`].

use crate::error::HostError;
use crate::owner::Owner;

/// One entry.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Entry {
    /// Host-assigned, unique and time-ordered within the stream (usable as a XEP-0359 stanza-id).
    pub id: String,
    /// When it was appended, ms since the epoch.
    pub timestamp: u64,
    /// The bare JID of the other party.
    pub with: String,
    /// The stored payload (typically a serialised stanza).
    pub data: String,
}

/// A query; every filter is optional. Built with chained calls from [`Query::new`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Query {
    /// Only entries with this counterpart (bare JID: any resource; full JID: exact).
    pub with: Option<String>,
    /// Entries at or after this time (ms).
    pub start: Option<u64>,
    /// Entries at or before this time (ms).
    pub end: Option<u64>,
    /// Entries strictly after this id (RSM `after`).
    pub after_id: Option<String>,
    /// Entries strictly before this id (RSM `before`).
    pub before_id: Option<String>,
    /// Exactly these ids (XEP-0313 `ids`); empty for no filter.
    pub ids: Vec<String>,
    /// Most entries returned.
    pub limit: u32,
    /// Take the page from the newest end (RSM `before` paging, XEP-0313 flip-page).
    pub reverse: bool,
}

impl Query {
    /// The oldest `limit` entries.
    pub fn new(limit: u32) -> Self {
        Self {
            with: None,
            start: None,
            end: None,
            after_id: None,
            before_id: None,
            ids: Vec::new(),
            limit,
            reverse: false,
        }
    }

    /// Only entries with `jid`.
    #[must_use]
    pub fn with(mut self, jid: impl Into<String>) -> Self {
        self.with = Some(jid.into());
        self
    }

    /// Only entries in `[start, end]` (ms; either bound optional).
    #[must_use]
    pub fn between(mut self, start: Option<u64>, end: Option<u64>) -> Self {
        self.start = start;
        self.end = end;
        self
    }

    /// Entries after `id`.
    #[must_use]
    pub fn after(mut self, id: impl Into<String>) -> Self {
        self.after_id = Some(id.into());
        self
    }

    /// Entries before `id`, newest end first.
    #[must_use]
    pub fn before(mut self, id: impl Into<String>) -> Self {
        self.before_id = Some(id.into());
        self.reverse = true;
        self
    }

    /// The newest `limit` entries (RSM `<before/>`).
    #[must_use]
    pub fn last_page(mut self) -> Self {
        self.reverse = true;
        self
    }

    /// Exactly these ids.
    #[must_use]
    pub fn ids(mut self, ids: Vec<String>) -> Self {
        self.ids = ids;
        self
    }

    #[cfg(target_arch = "wasm32")]
    fn to_wit(&self) -> crate::bindings::tessera::plugin::archive::ArchiveQuery {
        crate::bindings::tessera::plugin::archive::ArchiveQuery {
            with: self.with.clone(),
            start: self.start,
            end: self.end,
            after_id: self.after_id.clone(),
            before_id: self.before_id.clone(),
            ids: self.ids.clone(),
            limit: self.limit,
            reverse: self.reverse,
        }
    }
}

/// A page of results, **always oldest first** (the SDK puts a `reverse` page back in order, so
/// the first entry is RSM `first` and the last is RSM `last`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Page {
    /// Entries, oldest first.
    pub entries: Vec<Entry>,
    /// Entries matching the filters, ignoring paging (RSM `count`).
    pub count: u64,
    /// True when the page reaches the end of the results in its direction (XEP-0313 `complete`).
    pub complete: bool,
}

impl Page {
    /// A page (for fakes and tests); `entries` oldest first.
    pub fn new(entries: Vec<Entry>, count: u64, complete: bool) -> Self {
        Self {
            entries,
            count,
            complete,
        }
    }
}

/// One stream of a category for one owner, e.g. a user's message archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Archive {
    category: String,
    owner: Owner,
    stream: String,
}

impl Archive {
    /// The stream `stream` of `category` owned by `owner`.
    pub fn new(category: impl Into<String>, owner: Owner, stream: impl Into<String>) -> Self {
        Self {
            category: category.into(),
            owner,
            stream: stream.into(),
        }
    }

    /// Appends an entry; returns its id.
    ///
    /// # Errors
    ///
    /// The category is undeclared or of another owner kind, a quota was reached, or storage is
    /// unavailable.
    pub fn append(&self, with: &str, data: &str) -> Result<String, HostError> {
        #[cfg(target_arch = "wasm32")]
        return crate::bindings::tessera::plugin::archive::append(
            &self.category,
            &self.owner.to_wit(),
            &self.stream,
            with,
            data,
        )
        .map_err(HostError::from);
        #[cfg(not(target_arch = "wasm32"))]
        return crate::testing::fake::archive_append(
            &self.category,
            &self.owner,
            &self.stream,
            with,
            data,
        );
    }

    /// Runs a query.
    ///
    /// # Errors
    ///
    /// As [`Archive::append`], and [`HostError::Invalid`] for a malformed query.
    pub fn query(&self, q: &Query) -> Result<Page, HostError> {
        #[cfg(target_arch = "wasm32")]
        let page = {
            let p = crate::bindings::tessera::plugin::archive::query(
                &self.category,
                &self.owner.to_wit(),
                &self.stream,
                &q.to_wit(),
            )
            .map_err(HostError::from)?;
            Page {
                entries: p
                    .entries
                    .into_iter()
                    .map(|e| Entry {
                        id: e.id,
                        timestamp: e.timestamp,
                        with: e.with,
                        data: e.data,
                    })
                    .collect(),
                count: p.count,
                complete: p.complete,
            }
        };
        #[cfg(not(target_arch = "wasm32"))]
        let page =
            crate::testing::fake::archive_query(&self.category, &self.owner, &self.stream, q)?;
        let mut page = page;
        if q.reverse {
            page.entries.reverse();
        }
        Ok(page)
    }

    /// Deletes the entries in `[start, end]` (ms; `None` bounds are open: both `None` empties the
    /// stream); returns how many.
    ///
    /// # Errors
    ///
    /// As [`Archive::append`].
    pub fn remove(&self, start: Option<u64>, end: Option<u64>) -> Result<u64, HostError> {
        #[cfg(target_arch = "wasm32")]
        return crate::bindings::tessera::plugin::archive::remove(
            &self.category,
            &self.owner.to_wit(),
            &self.stream,
            start,
            end,
        )
        .map_err(HostError::from);
        #[cfg(not(target_arch = "wasm32"))]
        return crate::testing::fake::archive_remove(
            &self.category,
            &self.owner,
            &self.stream,
            start,
            end,
        );
    }

    /// Deletes entries by id; returns how many.
    ///
    /// # Errors
    ///
    /// As [`Archive::append`].
    pub fn remove_ids(&self, ids: &[String]) -> Result<u64, HostError> {
        #[cfg(target_arch = "wasm32")]
        return crate::bindings::tessera::plugin::archive::remove_ids(
            &self.category,
            &self.owner.to_wit(),
            &self.stream,
            ids,
        )
        .map_err(HostError::from);
        #[cfg(not(target_arch = "wasm32"))]
        return crate::testing::fake::archive_remove_ids(
            &self.category,
            &self.owner,
            &self.stream,
            ids,
        );
    }
}

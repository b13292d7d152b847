//! The plugin-data methods, written once and instantiated per backend (see `storage::queries`
//! for why a macro). Expanded inside `storage::queries::shared_queries!`, so a backend provides
//! `pool` and `read_tx()`; every other name is spelt by its path from the backend's module.

macro_rules! plugin_data_queries {
    // Binds a `Built` statement's arguments in order.
    (@bind $query:expr, $args:expr) => {{
        let mut query = $query;
        for arg in $args {
            query = match arg {
                super::plugin_data::sql::Arg::Text(text) => query.bind(text.as_str()),
                super::plugin_data::sql::Arg::Int(n) => query.bind(*n),
            };
        }
        query
    }};

    ($store:ty) => {
        impl $store {
            /// The stored row, expired or not (the caller applies its clock: see `kv_cache`).
            pub(super) async fn kv_row(
                &self,
                plugin: &str,
                category: &str,
                owner: &super::plugin_data::Owner,
                key: &str,
            ) -> Result<super::plugin_data::kv_cache::Row, super::StorageError> {
                super::plugin_data::check_scope(plugin, category, ("key", key))?;
                let row: Option<(Vec<u8>, Option<i64>)> =
                    sqlx::query_as(super::plugin_data::sql::KV_ROW)
                        .bind(owner.to_string())
                        .bind(plugin)
                        .bind(category)
                        .bind(key)
                        .fetch_optional(&self.pool)
                        .await?;
                // A negative expiry was never written (`db_int` saturates); read it as past.
                Ok(row.map(|(value, at)| (value, at.map(|at| u64::try_from(at).unwrap_or(0)))))
            }

            #[allow(clippy::too_many_arguments, reason = "the WIT call plus plugin and clock")]
            pub(super) async fn kv_set(
                &self,
                plugin: &str,
                category: &str,
                owner: &super::plugin_data::Owner,
                key: &str,
                value: &[u8],
                expires_at: Option<u64>,
                now_ms: u64,
            ) -> Result<(), super::StorageError> {
                super::plugin_data::check_scope(plugin, category, ("key", key))?;
                sqlx::query(super::plugin_data::sql::KV_SET)
                    .bind(owner.to_string())
                    .bind(plugin)
                    .bind(category)
                    .bind(key)
                    .bind(value)
                    .bind(super::plugin_data::db_int(now_ms))
                    .bind(expires_at.map(super::plugin_data::db_int))
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            /// Stores (`on`) or deletes a `scope` mark; whether a row changed.
            pub(super) async fn set_mark(
                &self,
                plugin: &str,
                owner: &super::plugin_data::Owner,
                on: bool,
            ) -> Result<bool, super::StorageError> {
                let statement = if on {
                    super::plugin_data::sql::MARK_SET
                } else {
                    super::plugin_data::sql::MARK_DELETE
                };
                let done = sqlx::query(statement)
                    .bind(owner.to_string())
                    .bind(plugin)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            /// Every stored `scope` mark: (plugin, owner text).
            pub(super) async fn marks(&self) -> Result<Vec<(String, String)>, super::StorageError> {
                Ok(sqlx::query_as(super::plugin_data::sql::MARKS)
                    .fetch_all(&self.pool)
                    .await?)
            }

            pub(super) async fn kv_delete(
                &self,
                plugin: &str,
                category: &str,
                owner: &super::plugin_data::Owner,
                key: &str,
                now_ms: u64,
            ) -> Result<bool, super::StorageError> {
                super::plugin_data::check_scope(plugin, category, ("key", key))?;
                let deleted: Option<Option<i64>> =
                    sqlx::query_scalar(super::plugin_data::sql::KV_DELETE)
                        .bind(owner.to_string())
                        .bind(plugin)
                        .bind(category)
                        .bind(key)
                        .fetch_optional(&self.pool)
                        .await?;
                // An expired value was already absent to the plugin.
                let now = super::plugin_data::db_int(now_ms);
                Ok(matches!(deleted, Some(expiry) if expiry.is_none_or(|at| at > now)))
            }

            #[allow(clippy::too_many_arguments, reason = "the WIT call plus plugin and clock")]
            pub(super) async fn kv_keys(
                &self,
                plugin: &str,
                category: &str,
                owner: &super::plugin_data::Owner,
                prefix: &str,
                limit: u32,
                now_ms: u64,
            ) -> Result<Vec<String>, super::StorageError> {
                super::plugin_data::check_scope(plugin, category, ("prefix", prefix))?;
                let now = super::plugin_data::db_int(now_ms);
                let limit = i64::from(limit);
                let query = match super::plugin_data::prefix_end(prefix) {
                    Some(end) => sqlx::query_scalar(super::plugin_data::sql::KV_KEYS_RANGE)
                        .bind(owner.to_string())
                        .bind(plugin)
                        .bind(category)
                        .bind(prefix)
                        .bind(end)
                        .bind(now)
                        .bind(limit),
                    None => sqlx::query_scalar(super::plugin_data::sql::KV_KEYS_FROM)
                        .bind(owner.to_string())
                        .bind(plugin)
                        .bind(category)
                        .bind(prefix)
                        .bind(now)
                        .bind(limit),
                };
                Ok(query.fetch_all(&self.pool).await?)
            }

            /// A stream's last id handed out, 0 for a new stream (see `writer`).
            pub(super) async fn archive_last_id(
                &self,
                key: &super::plugin_data::writer::StreamKey,
            ) -> Result<u64, super::StorageError> {
                let last: Option<i64> = sqlx::query_scalar(super::plugin_data::sql::LAST_ID)
                    .bind(&key.owner)
                    .bind(&key.plugin)
                    .bind(&key.category)
                    .bind(&key.stream)
                    .fetch_optional(&self.pool)
                    .await?;
                u64::try_from(last.unwrap_or(0)).map_err(|_| {
                    super::StorageError::Corrupt(format!("archive stream last id {last:?}"))
                })
            }

            /// Writes one batch of the archive writer in one transaction: the rows, then the
            /// streams' last ids and entry counts, then each capped stream's `max_items`
            /// (oldest dropped). Rolled back on error (dropping `tx`).
            pub(super) async fn archive_write_batch(
                &self,
                batch: &[super::plugin_data::writer::StreamBatch],
            ) -> Result<(), super::StorageError> {
                use super::plugin_data::{db_int, sql};
                let mut tx = self.pool.begin().await?;
                // A write first (see `sqlite.rs`): the rows, all streams mixed.
                let rows: Vec<_> = batch
                    .iter()
                    .flat_map(|s| s.rows.iter().map(move |r| (&*s.key, r)))
                    .collect();
                for chunk in rows.chunks(sql::INSERT_CHUNK) {
                    let text = sql::insert_rows(Self::PLACEHOLDERS, chunk.len());
                    let mut query = sqlx::query(&text);
                    for (key, row) in chunk {
                        query = query
                            .bind(&key.owner)
                            .bind(&key.plugin)
                            .bind(&key.category)
                            .bind(&key.stream)
                            .bind(super::plugin_data::archive_id(row.id))
                            .bind(&row.with_bare)
                            .bind(&row.with_jid)
                            .bind(&row.data);
                    }
                    query.execute(&mut *tx).await?;
                }
                let mut entries = std::collections::HashMap::new();
                for chunk in batch.chunks(sql::INSERT_CHUNK) {
                    let text = sql::upsert_streams(Self::PLACEHOLDERS, chunk.len());
                    let mut query = sqlx::query_as(&text);
                    for part in chunk {
                        let last = part.rows.last().map_or(0, |r| r.id);
                        query = query
                            .bind(&part.key.owner)
                            .bind(&part.key.plugin)
                            .bind(&part.key.category)
                            .bind(&part.key.stream)
                            .bind(super::plugin_data::checked_id(last)?)
                            .bind(db_int(part.rows.len() as u64));
                    }
                    let counted: Vec<(String, String, String, String, i64)> =
                        query.fetch_all(&mut *tx).await?;
                    for (owner, plugin, category, stream, n) in counted {
                        entries.insert((owner, plugin, category, stream), n);
                    }
                }
                let mut counterparts: std::collections::BTreeMap<(&str, usize), i64> =
                    std::collections::BTreeMap::new();
                for (at, part) in batch.iter().enumerate() {
                    for row in &part.rows {
                        *counterparts.entry((row.with_bare.as_str(), at)).or_default() += 1;
                    }
                }
                let counterparts: Vec<_> = counterparts.into_iter().collect();
                for chunk in counterparts.chunks(sql::INSERT_CHUNK) {
                    let text = sql::upsert_counterparts(Self::PLACEHOLDERS, chunk.len());
                    let mut query = sqlx::query(&text);
                    for ((with, at), n) in chunk {
                        let key = &batch[*at].key;
                        query = query
                            .bind(&key.owner)
                            .bind(&key.plugin)
                            .bind(&key.category)
                            .bind(&key.stream)
                            .bind(*with)
                            .bind(*n);
                    }
                    query.execute(&mut *tx).await?;
                }
                for part in batch {
                    let Some(max_items) = part.max_items else {
                        continue;
                    };
                    let key = &part.key;
                    let n = entries
                        .get(&(
                            key.owner.clone(),
                            key.plugin.clone(),
                            key.category.clone(),
                            key.stream.clone(),
                        ))
                        .copied()
                        .unwrap_or(0);
                    let excess = u64::try_from(n).unwrap_or(0).saturating_sub(max_items);
                    if excess == 0 {
                        continue;
                    }
                    let trimmed: Vec<String> = sqlx::query_scalar(sql::TRIM_OLDEST)
                        .bind(&key.owner)
                        .bind(&key.plugin)
                        .bind(&key.category)
                        .bind(&key.stream)
                        .bind(db_int(excess - 1))
                        .fetch_all(&mut *tx)
                        .await?;
                    let gone = trimmed
                        .into_iter()
                        .map(|with| (key.owner.clone(), key.stream.clone(), with))
                        .collect();
                    for update in sql::count_updates(&key.plugin, &key.category, gone) {
                        super::plugin_data::plugin_data_queries!(
                            @bind sqlx::query(&update.text), &update.args
                        )
                        .execute(&mut *tx)
                        .await?;
                    }
                }
                tx.commit().await?;
                Ok(())
            }

            pub(super) async fn archive_query(
                &self,
                plugin: &str,
                category: &str,
                owner: &super::plugin_data::Owner,
                stream: &str,
                q: &super::plugin_data::ArchiveQuery,
            ) -> Result<super::plugin_data::Page, super::StorageError> {
                use super::plugin_data::sql::StreamFilter;
                let filter = StreamFilter::query(owner.to_string(), plugin, category, stream, q)?;
                if filter.is_empty() {
                    return Ok(super::plugin_data::Page {
                        entries: Vec::new(),
                        count: 0,
                        complete: true,
                    });
                }
                use super::plugin_data::sql::{self, CountFrom};
                // A whole stream's or one counterpart's count is kept; others are counted.
                let from = CountFrom::of(q);
                let count = (from == CountFrom::Scan).then(|| filter.count());
                let page = filter.page(q)?;
                // One snapshot, so the count describes the same entries as the page.
                let mut tx = self.read_tx().await?;
                let kept = |text| {
                    sqlx::query_scalar(text)
                        .bind(owner.to_string())
                        .bind(plugin)
                        .bind(category)
                        .bind(stream)
                };
                let total: i64 = match (from, count) {
                    (_, Some(count)) => super::plugin_data::plugin_data_queries!(
                        @bind sqlx::query_scalar(&count.text), &count.args
                    )
                    .fetch_one(&mut *tx)
                    .await?,
                    (CountFrom::Counterpart(with), None) => kept(sql::COUNTERPART_ENTRIES)
                        .bind(with)
                        .fetch_optional(&mut *tx)
                        .await?
                        .unwrap_or(0),
                    (_, None) => kept(sql::STREAM_ENTRIES)
                        .fetch_optional(&mut *tx)
                        .await?
                        .unwrap_or(0),
                };
                let rows: Vec<(String, String, String)> =
                    super::plugin_data::plugin_data_queries!(
                        @bind sqlx::query_as(&page.text), &page.args
                    )
                    .fetch_all(&mut *tx)
                    .await?;
                tx.commit().await?;
                let limit = q.limit as usize;
                let complete = rows.len() <= limit;
                let entries = rows
                    .into_iter()
                    .take(limit)
                    .map(super::plugin_data::entry)
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(super::plugin_data::Page {
                    entries,
                    count: u64::try_from(total).unwrap_or(0),
                    complete,
                })
            }

            #[allow(clippy::too_many_arguments, reason = "the WIT call plus the plugin")]
            pub(super) async fn archive_remove(
                &self,
                plugin: &str,
                category: &str,
                owner: &super::plugin_data::Owner,
                stream: &str,
                start: Option<u64>,
                end: Option<u64>,
            ) -> Result<u64, super::StorageError> {
                let mut filter = super::plugin_data::sql::StreamFilter::new(
                    owner.to_string(),
                    plugin,
                    category,
                    stream,
                )?;
                filter.time(start, end);
                if filter.is_empty() {
                    return Ok(0);
                }
                self.delete_matching((owner, plugin, category, stream), filter)
                    .await
            }

            /// Deletes the archive entries `filter` matches in stream `key`, and takes them off
            /// the stream's entry count, in one transaction; how many.
            async fn delete_matching(
                &self,
                key: (&super::plugin_data::Owner, &str, &str, &str),
                filter: super::plugin_data::sql::StreamFilter,
            ) -> Result<u64, super::StorageError> {
                let (owner, plugin, category, stream) = key;
                let delete = filter.delete();
                let mut tx = self.pool.begin().await?;
                let gone: Vec<String> = super::plugin_data::plugin_data_queries!(
                    @bind sqlx::query_scalar(&delete.text), &delete.args
                )
                .fetch_all(&mut *tx)
                .await?;
                let deleted = gone.len() as u64;
                let owner = owner.to_string();
                let gone = gone
                    .into_iter()
                    .map(|with| (owner.clone(), stream.to_owned(), with))
                    .collect();
                for update in super::plugin_data::sql::count_updates(plugin, category, gone) {
                    super::plugin_data::plugin_data_queries!(
                        @bind sqlx::query(&update.text), &update.args
                    )
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(deleted)
            }

            pub(super) async fn archive_remove_ids(
                &self,
                plugin: &str,
                category: &str,
                owner: &super::plugin_data::Owner,
                stream: &str,
                ids: &[String],
            ) -> Result<u64, super::StorageError> {
                if ids.is_empty() {
                    return Ok(0);
                }
                let mut filter = super::plugin_data::sql::StreamFilter::new(
                    owner.to_string(),
                    plugin,
                    category,
                    stream,
                )?;
                filter.ids(ids)?;
                self.delete_matching((owner, plugin, category, stream), filter)
                    .await
            }

            pub(super) async fn enforce_retention(
                &self,
                plugin: &str,
                category: &str,
                max_age: Option<std::time::Duration>,
                max_items: Option<u64>,
                now_ms: u64,
            ) -> Result<u64, super::StorageError> {
                use super::plugin_data::{MAX_ARCHIVE_MS, check_scope, db_int, first_id_at, sql};
                check_scope(plugin, category, ("plugin", plugin))?;
                let mut tx = self.pool.begin().await?;
                let mut deleted = 0;
                // (owner, stream, counterpart) of every archive entry deleted.
                let mut gone: Vec<(String, String, String)> = Vec::new();
                if let Some(max_age) = max_age {
                    let age = u64::try_from(max_age.as_millis()).unwrap_or(u64::MAX);
                    let cutoff = now_ms.saturating_sub(age);
                    if cutoff > MAX_ARCHIVE_MS {
                        return Err(super::StorageError::Invalid(format!(
                            "time {now_ms} ms is beyond what archive ids encode"
                        )));
                    }
                    deleted += sqlx::query(sql::KV_OLDER_THAN)
                        .bind(plugin)
                        .bind(category)
                        .bind(db_int(cutoff))
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    gone.extend(
                        sqlx::query_as::<_, (String, String, String)>(sql::ARCHIVE_OLDER_THAN)
                            .bind(plugin)
                            .bind(category)
                            .bind(first_id_at(cutoff))
                            .fetch_all(&mut *tx)
                            .await?,
                    );
                }
                if let Some(max_items) = max_items {
                    deleted += sqlx::query(sql::KV_BEYOND)
                        .bind(plugin)
                        .bind(category)
                        .bind(db_int(max_items))
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    gone.extend(
                        sqlx::query_as::<_, (String, String, String)>(sql::ARCHIVE_BEYOND)
                            .bind(plugin)
                            .bind(category)
                            .bind(db_int(max_items))
                            .fetch_all(&mut *tx)
                            .await?,
                    );
                }
                deleted += gone.len() as u64;
                for update in sql::count_updates(plugin, category, gone) {
                    super::plugin_data::plugin_data_queries!(
                        @bind sqlx::query(&update.text), &update.args
                    )
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(deleted)
            }

            pub(super) async fn purge_expired(&self, now_ms: u64) -> Result<u64, super::StorageError> {
                let done = sqlx::query(super::plugin_data::sql::PURGE_EXPIRED)
                    .bind(super::plugin_data::db_int(now_ms))
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected())
            }

            pub(super) async fn delete_owner(
                &self,
                owner: &super::plugin_data::Owner,
            ) -> Result<u64, super::StorageError> {
                use super::plugin_data::sql;
                let owner = owner.to_string();
                let mut tx = self.pool.begin().await?;
                let mut deleted = 0;
                for statement in sql::DELETE_OWNER {
                    deleted += sqlx::query(statement)
                        .bind(&owner)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                }
                for statement in sql::DELETE_OWNER_STREAMS {
                    sqlx::query(statement)
                        .bind(&owner)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(deleted)
            }
        }
    };
}

pub(in crate::storage) use plugin_data_queries;

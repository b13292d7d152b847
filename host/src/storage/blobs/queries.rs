//! The blob-metadata methods, written once and instantiated per backend (see `storage::queries`
//! for why a macro). Expanded inside `storage::queries::shared_queries!`, so a backend provides
//! `pool`; every other name is spelt by its path from the backend's module. These methods touch
//! rows only: the files are `storage::blobs`' business, after the transaction.

macro_rules! blob_queries {
    ($store:ty) => {
        impl $store {
            pub(super) async fn blob_get(
                &self,
                key: &super::blobs::BlobKey<'_>,
                now_ms: u64,
            ) -> Result<Option<(String, i64, Vec<u8>)>, super::StorageError> {
                key.check()?;
                Ok(sqlx::query_as(super::blobs::sql::GET)
                    .bind(key.owner.to_string())
                    .bind(key.plugin)
                    .bind(key.category)
                    .bind(key.name)
                    .bind(super::plugin_data::db_int(now_ms))
                    .fetch_optional(&self.pool)
                    .await?)
            }

            /// Replaces the row; the replaced blob's file, if any.
            pub(super) async fn blob_put(
                &self,
                key: &super::blobs::BlobKey<'_>,
                row: &super::blobs::NewBlob<'_>,
            ) -> Result<Option<String>, super::StorageError> {
                use super::blobs::sql;
                use super::plugin_data::db_int;
                key.check()?;
                let owner = key.owner.to_string();
                let mut tx = self.pool.begin().await?;
                let old: Option<(String, Option<i64>)> = sqlx::query_as(sql::DELETE)
                    .bind(&owner)
                    .bind(key.plugin)
                    .bind(key.category)
                    .bind(key.name)
                    .fetch_optional(&mut *tx)
                    .await?;
                // On SQLite the `DELETE` took the write lock, so the sum is exact. On PostgreSQL
                // (READ COMMITTED) two concurrent puts of different names may both pass: the
                // quota can be overshot by what is in flight at once, never by more.
                if let Some(quota) = row.quota {
                    let used: i64 = sqlx::query_scalar(sql::PLUGIN_BYTES)
                        .bind(key.plugin)
                        .fetch_one(&mut *tx)
                        .await?;
                    let used = u64::try_from(used).unwrap_or(0);
                    if used.saturating_add(row.size) > quota {
                        // Dropping `tx` rolls back: the replaced blob stays.
                        return Err(super::StorageError::QuotaExceeded);
                    }
                }
                sqlx::query(sql::INSERT)
                    .bind(&owner)
                    .bind(key.plugin)
                    .bind(key.category)
                    .bind(key.name)
                    .bind(row.file)
                    .bind(db_int(row.size))
                    .bind(row.sha256)
                    .bind(db_int(row.now_ms))
                    .bind(row.expires_at.map(db_int))
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(old.map(|(file, _)| file))
            }

            /// Deletes the row; its file and expiry, if there was one.
            pub(super) async fn blob_delete(
                &self,
                key: &super::blobs::BlobKey<'_>,
            ) -> Result<Option<(String, Option<i64>)>, super::StorageError> {
                key.check()?;
                Ok(sqlx::query_as(super::blobs::sql::DELETE)
                    .bind(key.owner.to_string())
                    .bind(key.plugin)
                    .bind(key.category)
                    .bind(key.name)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            pub(super) async fn blob_enforce_retention(
                &self,
                plugin: &str,
                category: &str,
                max_age: Option<std::time::Duration>,
                max_items: Option<u64>,
                now_ms: u64,
            ) -> Result<Vec<String>, super::StorageError> {
                use super::blobs::sql;
                use super::plugin_data::db_int;
                super::plugin_data::check_scope(plugin, category, ("plugin", plugin))?;
                let mut tx = self.pool.begin().await?;
                let mut files: Vec<String> = Vec::new();
                if let Some(max_age) = max_age {
                    let age = u64::try_from(max_age.as_millis()).unwrap_or(u64::MAX);
                    files.extend(
                        sqlx::query_scalar::<_, String>(sql::OLDER_THAN)
                            .bind(plugin)
                            .bind(category)
                            .bind(db_int(now_ms.saturating_sub(age)))
                            .fetch_all(&mut *tx)
                            .await?,
                    );
                }
                if let Some(max_items) = max_items {
                    files.extend(
                        sqlx::query_scalar::<_, String>(sql::BEYOND)
                            .bind(plugin)
                            .bind(category)
                            .bind(db_int(max_items))
                            .fetch_all(&mut *tx)
                            .await?,
                    );
                }
                tx.commit().await?;
                Ok(files)
            }

            pub(super) async fn blob_purge_expired(
                &self,
                now_ms: u64,
            ) -> Result<Vec<String>, super::StorageError> {
                Ok(sqlx::query_scalar(super::blobs::sql::PURGE_EXPIRED)
                    .bind(super::plugin_data::db_int(now_ms))
                    .fetch_all(&self.pool)
                    .await?)
            }

            pub(super) async fn blob_delete_owner(
                &self,
                owner: &super::plugin_data::Owner,
            ) -> Result<Vec<String>, super::StorageError> {
                Ok(sqlx::query_scalar(super::blobs::sql::DELETE_OWNER)
                    .bind(owner.to_string())
                    .fetch_all(&self.pool)
                    .await?)
            }

            /// Which of `files` have a row.
            pub(super) async fn blob_known_files(
                &self,
                files: &[String],
            ) -> Result<Vec<String>, super::StorageError> {
                let mut known = Vec::new();
                for chunk in files.chunks(super::blobs::sql::KNOWN_CHUNK) {
                    let text = super::blobs::sql::known_files(chunk.len());
                    let mut query = sqlx::query_scalar::<_, String>(&text);
                    for file in chunk {
                        query = query.bind(file.as_str());
                    }
                    known.extend(query.fetch_all(&self.pool).await?);
                }
                Ok(known)
            }
        }
    };
}

pub(in crate::storage) use blob_queries;

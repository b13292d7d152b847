//! The queries both backends run, written once.
//!
//! SQLite and PostgreSQL accept the same statements (`sql.rs`) and sqlx gives both the same query
//! API, but its pools and transactions are typed per database, so a generic function would need a
//! wall of `Executor`/`Encode`/`Decode` bounds. A macro instantiates the one text for each backend
//! instead. A backend provides `pool` and `read_tx()` — the transaction that reads a roster and its
//! version from one snapshot — and has `sql`, `StorageError`, `Credentials`, `BareJid`,
//! `ErrorKind`, `AccountInfo` and `RosterItem` in scope. The plugin-data methods
//! (`plugin_data::queries`) and the blob-metadata methods (`blobs::queries`) are instantiated
//! along with these.

macro_rules! shared_queries {
    ($store:ty) => {
        impl $store {
            pub(super) async fn create_account(
                &self,
                username: &str,
                creds: &Credentials,
                now: i64,
            ) -> Result<(), StorageError> {
                sqlx::query(sql::INSERT_ACCOUNT)
                    .bind(username)
                    .bind(now)
                    .bind(&creds.sha1.salt)
                    .bind(sql::stored_iterations(&creds.sha1))
                    .bind(&creds.sha1.stored_key)
                    .bind(&creds.sha1.server_key)
                    .bind(&creds.sha256.salt)
                    .bind(sql::stored_iterations(&creds.sha256))
                    .bind(&creds.sha256.stored_key)
                    .bind(&creds.sha256.server_key)
                    .execute(&self.pool)
                    .await
                    .map_err(|e| {
                        if sql::violates(&e, ErrorKind::UniqueViolation) {
                            StorageError::AccountExists
                        } else {
                            StorageError::Database(e)
                        }
                    })?;
                Ok(())
            }

            pub(super) async fn credentials(
                &self,
                username: &str,
            ) -> Result<Option<Credentials>, StorageError> {
                let row: Option<sql::CredentialsRow> = sqlx::query_as(sql::SELECT_CREDENTIALS)
                    .bind(username)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(Credentials::try_from).transpose()
            }

            pub(super) async fn set_credentials(
                &self,
                username: &str,
                creds: &Credentials,
            ) -> Result<bool, StorageError> {
                let mut tx = self.pool.begin().await?;
                // A new password logs every FAST token out with the old one.
                sqlx::query(sql::DELETE_USER_FAST_TOKENS)
                    .bind(username)
                    .execute(&mut *tx)
                    .await?;
                let done = sqlx::query(sql::UPDATE_CREDENTIALS)
                    .bind(username)
                    .bind(&creds.sha1.salt)
                    .bind(sql::stored_iterations(&creds.sha1))
                    .bind(&creds.sha1.stored_key)
                    .bind(&creds.sha1.server_key)
                    .bind(&creds.sha256.salt)
                    .bind(sql::stored_iterations(&creds.sha256))
                    .bind(&creds.sha256.stored_key)
                    .bind(&creds.sha256.server_key)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(done.rows_affected() > 0)
            }

            pub(super) async fn fast_tokens(
                &self,
                username: &str,
                agent: &str,
                now: i64,
            ) -> Result<Vec<FastToken>, StorageError> {
                let rows: Vec<(i64, String, String, i64)> = sqlx::query_as(sql::SELECT_FAST_TOKENS)
                    .bind(username)
                    .bind(agent)
                    .bind(now)
                    .fetch_all(&self.pool)
                    .await?;
                Ok(rows
                    .into_iter()
                    .map(|(slot, mechanism, token, expires_at)| FastToken {
                        newer: slot == 1,
                        mechanism,
                        token,
                        expires_at,
                    })
                    .collect())
            }

            pub(super) async fn put_fast_token(
                &self,
                username: &str,
                agent: &str,
                mechanism: &str,
                token: &str,
                expires_at: i64,
                now: i64,
            ) -> Result<(), StorageError> {
                let mut tx = self.pool.begin().await?;
                sqlx::query(sql::DELETE_EXPIRED_FAST_TOKENS)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(sql::PUT_FAST_TOKEN)
                    .bind(username)
                    .bind(agent)
                    .bind(mechanism)
                    .bind(token)
                    .bind(expires_at)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            pub(super) async fn promote_fast_token(
                &self,
                username: &str,
                agent: &str,
            ) -> Result<(), StorageError> {
                let mut tx = self.pool.begin().await?;
                for statement in sql::PROMOTE_FAST_TOKEN {
                    sqlx::query(statement)
                        .bind(username)
                        .bind(agent)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            pub(super) async fn delete_fast_token(
                &self,
                username: &str,
                agent: &str,
                newer: bool,
            ) -> Result<(), StorageError> {
                sqlx::query(sql::DELETE_FAST_TOKEN)
                    .bind(username)
                    .bind(agent)
                    .bind(i64::from(newer))
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            /// Whether the account was there, and the files of the blobs it owned.
            pub(super) async fn delete_account(
                &self,
                username: &str,
            ) -> Result<(bool, Vec<String>), StorageError> {
                let mut tx = self.pool.begin().await?;
                // Plugin records owned by the account, in every plugin (DESIGN.md "Privacy
                // engine"): no foreign key reaches them, so they go explicitly, in this
                // transaction.
                let (lo, hi) = super::plugin_data::account_owner_range(username);
                for statement in super::plugin_data::sql::DELETE_OWNER_RANGE {
                    sqlx::query(statement)
                        .bind(&lo)
                        .bind(&hi)
                        .execute(&mut *tx)
                        .await?;
                }
                let files: Vec<String> = sqlx::query_scalar(super::blobs::sql::DELETE_OWNER_RANGE)
                    .bind(&lo)
                    .bind(&hi)
                    .fetch_all(&mut *tx)
                    .await?;
                let mut deleted = 0;
                for statement in sql::DELETE_ACCOUNT {
                    deleted = sqlx::query(statement)
                        .bind(username)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                }
                tx.commit().await?;
                // The last statement deletes the account row itself.
                Ok((deleted > 0, files))
            }

            pub(super) async fn account_exists(
                &self,
                username: &str,
            ) -> Result<bool, StorageError> {
                let row: Option<String> = sqlx::query_scalar(sql::ACCOUNT_EXISTS)
                    .bind(username)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.is_some())
            }

            pub(super) async fn list_accounts(&self) -> Result<Vec<AccountInfo>, StorageError> {
                let rows: Vec<(String, i64, Option<i64>)> = sqlx::query_as(sql::LIST_ACCOUNTS)
                    .fetch_all(&self.pool)
                    .await?;
                Ok(rows.into_iter().map(sql::account_info).collect())
            }

            pub(super) async fn record_login(
                &self,
                username: &str,
                at: i64,
            ) -> Result<(), StorageError> {
                sqlx::query(sql::RECORD_LOGIN)
                    .bind(username)
                    .bind(at)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            pub(super) async fn roster(
                &self,
                username: &str,
            ) -> Result<(u64, Vec<RosterItem>), StorageError> {
                // One snapshot for the version and the items (RFC 6121 §2.6).
                let mut tx = self.read_tx().await?;
                let version: Option<i64> = sqlx::query_scalar(sql::SELECT_VERSION)
                    .bind(username)
                    .fetch_optional(&mut *tx)
                    .await?;
                let items = sqlx::query_as(sql::SELECT_ITEMS)
                    .bind(username)
                    .fetch_all(&mut *tx)
                    .await?;
                let groups = sqlx::query_as(sql::SELECT_GROUPS)
                    .bind(username)
                    .fetch_all(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok((sql::version(version)?, sql::assemble(items, groups)?))
            }

            pub(super) async fn roster_subscriptions(
                &self,
                username: &str,
            ) -> Result<Vec<(BareJid, super::model::Subscription)>, StorageError> {
                let rows: Vec<(String, String)> = sqlx::query_as(sql::SELECT_SUBSCRIPTIONS)
                    .bind(username)
                    .fetch_all(&self.pool)
                    .await?;
                rows.into_iter().map(sql::subscription_row).collect()
            }

            pub(super) async fn roster_version(&self, username: &str) -> Result<u64, StorageError> {
                let version: Option<i64> = sqlx::query_scalar(sql::SELECT_VERSION)
                    .bind(username)
                    .fetch_optional(&self.pool)
                    .await?;
                sql::version(version)
            }

            pub(super) async fn roster_item(
                &self,
                username: &str,
                contact: &BareJid,
            ) -> Result<Option<RosterItem>, StorageError> {
                let mut tx = self.read_tx().await?;
                let item: Option<sql::ItemRow> = sqlx::query_as(sql::SELECT_ITEM)
                    .bind(username)
                    .bind(contact.as_str())
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(item) = item else {
                    return Ok(None);
                };
                let groups = sqlx::query_as(sql::SELECT_ITEM_GROUPS)
                    .bind(username)
                    .bind(contact.as_str())
                    .fetch_all(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(sql::assemble(vec![item], groups)?.pop())
            }

            pub(super) async fn put_roster_item(
                &self,
                username: &str,
                item: &RosterItem,
            ) -> Result<u64, StorageError> {
                let contact = item.jid.as_str();
                let mut tx = self.pool.begin().await?;
                sqlx::query(sql::UPSERT_ITEM)
                    .bind(username)
                    .bind(contact)
                    .bind(item.name.as_deref())
                    .bind(item.subscription.as_str())
                    .bind(item.ask_out)
                    .bind(item.approved)
                    .execute(&mut *tx)
                    .await
                    .map_err(sql::no_such_account)?;
                sqlx::query(sql::DELETE_ITEM_GROUPS)
                    .bind(username)
                    .bind(contact)
                    .execute(&mut *tx)
                    .await?;
                for (index, group) in item.groups.iter().enumerate() {
                    sqlx::query(sql::INSERT_GROUP)
                        .bind(username)
                        .bind(contact)
                        .bind(sql::position(index))
                        .bind(group)
                        .execute(&mut *tx)
                        .await?;
                }
                let version: i64 = sqlx::query_scalar(sql::BUMP_VERSION)
                    .bind(username)
                    .fetch_one(&mut *tx)
                    .await?;
                tx.commit().await?;
                sql::version(Some(version))
            }

            pub(super) async fn remove_roster_item(
                &self,
                username: &str,
                contact: &BareJid,
            ) -> Result<Option<u64>, StorageError> {
                let mut tx = self.pool.begin().await?;
                let removed = sqlx::query(sql::DELETE_ITEM)
                    .bind(username)
                    .bind(contact.as_str())
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if removed == 0 {
                    // Nothing changed, so the version stays (dropping `tx` rolls back).
                    return Ok(None);
                }
                let version: i64 = sqlx::query_scalar(sql::BUMP_VERSION)
                    .bind(username)
                    .fetch_one(&mut *tx)
                    .await?;
                tx.commit().await?;
                sql::version(Some(version)).map(Some)
            }

            pub(super) async fn pending_in(
                &self,
                username: &str,
            ) -> Result<Vec<BareJid>, StorageError> {
                let rows: Vec<String> = sqlx::query_scalar(sql::SELECT_PENDING_IN)
                    .bind(username)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(|c| sql::contact(c)).collect()
            }

            pub(super) async fn add_pending_in(
                &self,
                username: &str,
                contact: &BareJid,
            ) -> Result<(), StorageError> {
                sqlx::query(sql::INSERT_PENDING_IN)
                    .bind(username)
                    .bind(contact.as_str())
                    .execute(&self.pool)
                    .await
                    .map_err(sql::no_such_account)?;
                Ok(())
            }

            pub(super) async fn remove_pending_in(
                &self,
                username: &str,
                contact: &BareJid,
            ) -> Result<bool, StorageError> {
                let done = sqlx::query(sql::DELETE_PENDING_IN)
                    .bind(username)
                    .bind(contact.as_str())
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() > 0)
            }
        }

        super::plugin_data::plugin_data_queries!($store);
        super::blobs::blob_queries!($store);
    };
}

pub(super) use shared_queries;

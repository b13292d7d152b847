//! Plugin blobs (the WIT `blobs`): binary objects with the same lifecycle as `kv` values
//! (DESIGN.md "Privacy engine"), their metadata in the database and their bytes in files.
//!
//! A blob is keyed like a `kv` value, by plugin, declared category, [`Owner`] and the guest's
//! `name`, and carries its size, SHA-256, creation time and optional expiry. The bytes live in
//! `<data_dir>/blobs/<file>`, where `file` is 32 random hex digits the host chose: the guest's
//! name is only ever a database value, so no name can reach outside the directory, and a stored
//! `file` that is not of that form is refused as corrupt rather than joined to a path.
//!
//! ## Files and rows
//! A write goes to `<file>.tmp` (created `0600`, in a directory created `0700`), is fsynced,
//! renamed into place and the directory fsynced; only then is the row committed. A deletion
//! commits the row's removal first and deletes the file after. So a row always has its file, and
//! a crash or a cancelled call can only leave a file without a row, which
//! [`Storage::sweep_orphan_blobs`] deletes once it is older than a grace period (longer than any
//! write takes, so a file whose row is about to be committed is never taken).
//!
//! ## Layout
//! - this file: the [`Storage`] methods, and the directory (writing, reading, deleting, listing);
//! - `sql`: the statement texts; `queries`: the macro instantiating them per backend.

mod queries;
pub(super) mod sql;

pub(super) use queries::blob_queries;

use std::collections::HashSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use sha2::{Digest as _, Sha256};

use super::plugin_data::{Millis, Owner, check_scope};
use super::{Backend, Storage, StorageError};

/// The longest blob name a guest may use, in bytes (a name is a key, not content).
pub const MAX_BLOB_NAME: usize = 1024;

/// Calls a backend method on whichever backend is open (`storage::dispatch!` is defined after
/// this module and so out of its textual scope).
macro_rules! on_backend {
    ($self:ident.$method:ident($($arg:expr),*)) => {
        match &$self.backend {
            Backend::Sqlite(db) => db.$method($($arg),*).await,
            Backend::Postgres(db) => db.$method($($arg),*).await,
        }
    };
}

/// Where a blob's row is: the statement scope every keyed query binds.
pub(super) struct BlobKey<'a> {
    pub(super) plugin: &'a str,
    pub(super) category: &'a str,
    pub(super) owner: &'a Owner,
    pub(super) name: &'a str,
}

impl BlobKey<'_> {
    /// NUL is refused on both backends (as for `kv`), and so is an overlong name.
    pub(super) fn check(&self) -> Result<(), StorageError> {
        check_scope(self.plugin, self.category, ("name", self.name))?;
        if self.name.len() > MAX_BLOB_NAME {
            return Err(StorageError::Invalid(format!(
                "blob name longer than {MAX_BLOB_NAME} bytes"
            )));
        }
        Ok(())
    }
}

/// The row a `put` writes, besides its key.
pub(super) struct NewBlob<'a> {
    pub(super) file: &'a str,
    pub(super) size: u64,
    pub(super) sha256: &'a [u8],
    pub(super) now_ms: Millis,
    pub(super) expires_at: Option<Millis>,
    /// The plugin's total bytes after this write may not exceed it.
    pub(super) quota: Option<u64>,
}

/// The directory holding the blob files.
#[derive(Debug)]
pub(super) struct BlobDir {
    path: PathBuf,
}

/// Whether `name` is a file name the host chose: 32 lowercase hex digits.
fn is_blob_file(name: &str) -> bool {
    name.len() == 32
        && name
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Whether `name` is one of our temporary files (`<blob file>.tmp`).
fn is_temp_file(name: &str) -> bool {
    name.strip_suffix(".tmp").is_some_and(is_blob_file)
}

impl BlobDir {
    pub(super) fn new(path: PathBuf) -> Self {
        Self { path }
    }

    /// The path of a stored file name; [`StorageError::Corrupt`] unless it is one of ours, so a
    /// hand-edited row cannot point outside the directory either.
    fn path_of(&self, file: &str) -> Result<PathBuf, StorageError> {
        if is_blob_file(file) {
            Ok(self.path.join(file))
        } else {
            Err(StorageError::Corrupt("blob file name".into()))
        }
    }

    fn io(&self, path: &Path, source: std::io::Error) -> StorageError {
        StorageError::BlobFile {
            path: path.to_owned(),
            source,
        }
    }

    /// Creates the directory (owner-only) if missing.
    fn create(&self) -> Result<(), StorageError> {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(&self.path)
            .map_err(|e| self.io(&self.path, e))
    }

    /// Writes `data` to a new file: temp file, fsync, rename, directory fsync. Returns the file
    /// name and the data's SHA-256. Blocking: run it on a blocking thread.
    fn write(&self, data: &[u8]) -> Result<(String, Vec<u8>), StorageError> {
        self.create()?;
        let sha256 = Sha256::digest(data).to_vec();
        let file = format!("{:032x}", rand::random::<u128>());
        let path = self.path_of(&file)?;
        let temp = self.path.join(format!("{file}.tmp"));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let written = options.open(&temp).and_then(|mut f| {
            f.write_all(data)?;
            f.sync_all()
        });
        if let Err(e) = written.and_then(|()| std::fs::rename(&temp, &path)) {
            let _ = std::fs::remove_file(&temp);
            return Err(self.io(&temp, e));
        }
        // The rename is durable once the directory is (a crash before leaves an orphan at worst).
        std::fs::File::open(&self.path)
            .and_then(|d| d.sync_all())
            .map_err(|e| self.io(&self.path, e))?;
        Ok((file, sha256))
    }

    /// Reads a file; `Ok(None)` if it is gone (a concurrent replace or delete).
    fn read(&self, file: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let path = self.path_of(file)?;
        match std::fs::read(&path) {
            Ok(data) => Ok(Some(data)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io(&path, e)),
        }
    }

    /// Deletes files whose rows are gone; a failure is logged (the sweep retries it later).
    fn remove(&self, files: &[String]) {
        for file in files {
            let Ok(path) = self.path_of(file).or_else(|_| {
                if is_temp_file(file) {
                    Ok(self.path.join(file))
                } else {
                    Err(())
                }
            }) else {
                tracing::error!("refusing to delete a blob file with a foreign name");
                continue;
            };
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => {
                    tracing::error!(path = %path.display(), %error, "cannot delete a blob file");
                }
            }
        }
    }

    /// Our files last modified before `now - grace`: (temp files, blob files). Files of any other
    /// name are not ours and are left alone. No directory: none.
    fn old_files(&self, grace: Duration) -> Result<(Vec<String>, Vec<String>), StorageError> {
        let entries = match std::fs::read_dir(&self.path) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok((Vec::new(), Vec::new()));
            }
            Err(e) => return Err(self.io(&self.path, e)),
        };
        let cutoff = SystemTime::now()
            .checked_sub(grace)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let (mut temps, mut blobs) = (Vec::new(), Vec::new());
        for entry in entries {
            let entry = entry.map_err(|e| self.io(&self.path, e))?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|at| at < cutoff);
            if !old {
                continue;
            }
            if is_blob_file(&name) {
                blobs.push(name);
            } else if is_temp_file(&name) {
                temps.push(name);
            }
        }
        Ok((temps, blobs))
    }
}

/// Runs blocking file work off the async workers (STYLE.md 22).
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StorageError> + Send + 'static,
) -> Result<T, StorageError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StorageError::Corrupt(format!("blob file task failed: {e}")))?
}

impl Storage {
    /// Keeps blob files in `dir` (the server uses `<data_dir>/blobs`, created `0700` on the
    /// first write). Without it the blob methods fail with [`StorageError::NoBlobDir`], and
    /// deletions remove rows only (their files then wait for a sweep by a storage that has it).
    #[must_use]
    pub fn with_blob_dir(mut self, dir: PathBuf) -> Self {
        self.blobs = Some(std::sync::Arc::new(BlobDir::new(dir)));
        self
    }

    fn blob_dir(&self) -> Result<std::sync::Arc<BlobDir>, StorageError> {
        self.blobs.clone().ok_or(StorageError::NoBlobDir)
    }

    /// Deletes the files of rows whose deletion committed; returns how many rows that was.
    pub(super) async fn remove_blob_files(&self, files: Vec<String>) -> u64 {
        let n = files.len() as u64;
        if let (Some(dir), false) = (self.blobs.clone(), files.is_empty()) {
            let _ = blocking(move || {
                dir.remove(&files);
                Ok(())
            })
            .await;
        }
        n
    }

    /// Stores a blob, replacing any of that name atomically (readers see the old or the new
    /// bytes, never a mix); returns its size. `expires_at` is stored as given (the caller caps
    /// it by the category's retention). With a `quota`, the plugin's blobs may total at most
    /// that many bytes afterwards.
    ///
    /// # Errors
    /// [`StorageError::QuotaExceeded`] (the old blob stays), [`StorageError::Invalid`] for text
    /// holding NUL or a name over [`MAX_BLOB_NAME`], [`StorageError::BlobFile`],
    /// [`StorageError::NoBlobDir`], or a database failure.
    ///
    /// # Cancel safety
    /// Cancelled before the row commits, the old blob stays and the new file is left for the
    /// orphan sweep; see [`Storage`].
    #[allow(
        clippy::too_many_arguments,
        reason = "the WIT call plus plugin, quota and clock"
    )]
    pub async fn blob_put(
        &self,
        plugin: &str,
        category: &str,
        owner: &Owner,
        name: &str,
        data: Vec<u8>,
        expires_at: Option<Millis>,
        quota: Option<u64>,
        now_ms: Millis,
    ) -> Result<u64, StorageError> {
        let key = BlobKey {
            plugin,
            category,
            owner,
            name,
        };
        key.check()?;
        let dir = self.blob_dir()?;
        let size = data.len() as u64;
        if quota.is_some_and(|q| size > q) {
            return Err(StorageError::QuotaExceeded);
        }
        let writer = dir.clone();
        let (file, sha256) = blocking(move || writer.write(&data)).await?;
        let row = NewBlob {
            file: &file,
            size,
            sha256: &sha256,
            now_ms,
            expires_at,
            quota,
        };
        match on_backend!(self.blob_put(&key, &row)) {
            Ok(old) => {
                self.remove_blob_files(old.into_iter().collect()).await;
                Ok(size)
            }
            Err(e) => {
                self.remove_blob_files(vec![file]).await;
                Err(e)
            }
        }
    }

    /// A blob's bytes, or `None` if there is none or it expired (`expires_at <= now_ms`). The
    /// bytes are checked against the stored size and SHA-256.
    ///
    /// # Errors
    /// [`StorageError::Corrupt`] if the file is missing or does not match its row,
    /// [`StorageError::Invalid`] as for [`blob_put`](Self::blob_put), [`StorageError::BlobFile`],
    /// [`StorageError::NoBlobDir`], or a database failure.
    ///
    /// # Cancel safety
    /// A read; see [`Storage`].
    pub async fn blob_get(
        &self,
        plugin: &str,
        category: &str,
        owner: &Owner,
        name: &str,
        now_ms: Millis,
    ) -> Result<Option<Vec<u8>>, StorageError> {
        let key = BlobKey {
            plugin,
            category,
            owner,
            name,
        };
        let dir = self.blob_dir()?;
        let Some(mut row) = on_backend!(self.blob_get(&key, now_ms))? else {
            return Ok(None);
        };
        // A concurrent replace or delete may remove the file we were about to read: look at
        // the row again, once.
        for _ in 0..2 {
            let (file, size, sha256) = row.clone();
            let reader = dir.clone();
            if let Some(data) = blocking(move || reader.read(&file)).await? {
                if u64::try_from(size).ok() != Some(data.len() as u64)
                    || Sha256::digest(&data).as_slice() != sha256.as_slice()
                {
                    return Err(StorageError::Corrupt("blob file does not match".into()));
                }
                return Ok(Some(data));
            }
            match on_backend!(self.blob_get(&key, now_ms))? {
                None => return Ok(None),
                Some(again) if again.0 != row.0 => row = again,
                Some(_) => break,
            }
        }
        Err(StorageError::Corrupt("blob file missing".into()))
    }

    /// Deletes a blob and its file; `true` if there was a live one (an expired one is deleted
    /// too, but was already absent).
    ///
    /// # Errors
    /// [`StorageError::Invalid`] as for [`blob_put`](Self::blob_put), or a database failure.
    ///
    /// # Cancel safety
    /// One statement, then the file; cancelled in between, the file is left for the orphan
    /// sweep; see [`Storage`].
    pub async fn blob_delete(
        &self,
        plugin: &str,
        category: &str,
        owner: &Owner,
        name: &str,
        now_ms: Millis,
    ) -> Result<bool, StorageError> {
        let key = BlobKey {
            plugin,
            category,
            owner,
            name,
        };
        let Some((file, expires_at)) = on_backend!(self.blob_delete(&key))? else {
            return Ok(false);
        };
        self.remove_blob_files(vec![file]).await;
        let now = super::plugin_data::db_int(now_ms);
        Ok(expires_at.is_none_or(|at| at > now))
    }

    /// Deletes blob files that have no row and were last modified more than `grace` ago, and
    /// leftover temporary files as old; returns how many. Other files in the directory are not
    /// ours and stay.
    ///
    /// # Errors
    /// [`StorageError::BlobFile`] if the directory cannot be listed, or a database failure.
    ///
    /// # Cancel safety
    /// Cancel safe: it only deletes files no row refers to; a later sweep finishes the job.
    pub async fn sweep_orphan_blobs(&self, grace: Duration) -> Result<u64, StorageError> {
        let Some(dir) = self.blobs.clone() else {
            return Ok(0);
        };
        let lister = dir.clone();
        let (mut orphans, candidates) = blocking(move || lister.old_files(grace)).await?;
        let known: HashSet<String> = on_backend!(self.blob_known_files(&candidates))?
            .into_iter()
            .collect();
        orphans.extend(candidates.into_iter().filter(|f| !known.contains(f)));
        let n = orphans.len() as u64;
        if n > 0 {
            blocking(move || {
                dir.remove(&orphans);
                Ok(())
            })
            .await?;
        }
        Ok(n)
    }

    pub(super) async fn blob_retention(
        &self,
        plugin: &str,
        category: &str,
        max_age: Option<Duration>,
        max_items: Option<u64>,
        now_ms: Millis,
    ) -> Result<u64, StorageError> {
        let files =
            on_backend!(self.blob_enforce_retention(plugin, category, max_age, max_items, now_ms))?;
        Ok(self.remove_blob_files(files).await)
    }

    pub(super) async fn blob_purge(&self, now_ms: Millis) -> Result<u64, StorageError> {
        let files = on_backend!(self.blob_purge_expired(now_ms))?;
        Ok(self.remove_blob_files(files).await)
    }

    pub(super) async fn blob_remove_owner(&self, owner: &Owner) -> Result<u64, StorageError> {
        let files = on_backend!(self.blob_delete_owner(owner))?;
        Ok(self.remove_blob_files(files).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_host_chosen_names_become_paths() {
        let dir = BlobDir::new(PathBuf::from("/d"));
        assert!(dir.path_of("0123456789abcdef0123456789abcdef").is_ok());
        for bad in [
            "",
            "../../etc/passwd",
            "0123456789ABCDEF0123456789ABCDEF",
            "0123456789abcdef0123456789abcde/",
            "0123456789abcdef0123456789abcdef.tmp",
        ] {
            assert!(
                matches!(dir.path_of(bad), Err(StorageError::Corrupt(_))),
                "{bad}"
            );
        }
        assert!(is_temp_file("0123456789abcdef0123456789abcdef.tmp"));
        assert!(!is_temp_file("x.tmp"));
    }

    #[test]
    fn write_then_read_with_private_modes() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = BlobDir::new(tmp.path().join("blobs"));
        let (file, sha) = dir.write(b"abc").unwrap();
        assert_eq!(dir.read(&file).unwrap().as_deref(), Some(&b"abc"[..]));
        assert_eq!(sha, Sha256::digest(b"abc").to_vec());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&tmp.path().join("blobs")), 0o700);
            assert_eq!(mode(&tmp.path().join("blobs").join(&file)), 0o600);
        }
        dir.remove(std::slice::from_ref(&file));
        assert_eq!(dir.read(&file).unwrap(), None);
    }
}

//! Where C2 blobs live. The seam is `object_store`'s `ObjectStore` trait: [`Blobs`] holds any
//! implementation behind `Arc<dyn ObjectStore>` and adds what the escrow needs (streamed multipart
//! writes with back-pressure, ranged streamed reads, idempotent deletes, listing for orphan sweeps).
//!
//! Built in: a local directory (`/path` or `file:///path`) and S3-compatible stores
//! (`s3://bucket[/prefix]`, object_store's `aws` feature: AWS S3, MinIO, Ceph, R2, moto), whose
//! endpoint, region and credentials come from the standard `AWS_*` environment variables
//! (`AWS_ENDPOINT`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//! `AWS_ALLOW_HTTP`, …). The rest of the escrow only sees [`Blobs`]: the same code path for both.
//! Other schemes are refused clearly.

use std::ops::Range;
use std::sync::Arc;

use alloy_primitives::B256;
use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange, ObjectStore, WriteMultipart};

/// Why a blob operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// The store refused or failed.
    #[error("blob store: {0}")]
    Store(#[from] object_store::Error),
    /// The location is not one this build supports.
    #[error("blob store URL {0:?} is not supported (supported: a directory path, a file:// URL or s3://bucket[/prefix])")]
    Unsupported(String),
    /// The local directory could not be created.
    #[error("blob directory {path}: {source}")]
    Dir {
        /// The directory.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A finished local blob, or a directory leading to it, could not be flushed to disk.
    #[error("blob store: flushing to disk failed: {0}")]
    Sync(std::io::Error),
}

impl BlobError {
    /// What went wrong, without the blob's location: blob keys name their record, and record ids
    /// stay out of the logs.
    pub fn kind(&self) -> &'static str {
        match self {
            BlobError::Store(object_store::Error::NotFound { .. }) => "blob not found",
            BlobError::Store(object_store::Error::AlreadyExists { .. }) => "blob already exists",
            BlobError::Store(object_store::Error::PermissionDenied { .. }) => {
                "blob store permission denied"
            }
            BlobError::Store(_) => "blob store failed",
            BlobError::Unsupported(_) => "blob store URL not supported",
            BlobError::Dir { .. } => "blob directory unusable",
            BlobError::Sync(_) => "blob not flushed to disk",
        }
    }
}

/// The blob store.
#[derive(Clone)]
pub struct Blobs {
    store: Arc<dyn ObjectStore>,
    description: String,
    local_root: Option<std::path::PathBuf>,
    part_size: usize,
    durable_dirs: DurableDirs,
}

/// Directories under a local root whose own name is known to be on disk: each was flushed after
/// it was created, together with its parent. A new file in one of them then needs its own fsync
/// and its directory's, not every directory up to the root again (which cost two more fsyncs
/// per upload). The escrow never removes a directory of its blob store, so a name once durable
/// stays so.
type DurableDirs = Arc<std::sync::Mutex<std::collections::HashSet<std::path::PathBuf>>>;

/// Multipart part size for local stores.
const LOCAL_PART: usize = 1024 * 1024;
/// Multipart part size for S3: its smallest allowed part (all but the last).
const S3_PART: usize = 5 * 1024 * 1024;

impl core::fmt::Debug for Blobs {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Blobs")
            .field("store", &self.description)
            .finish()
    }
}

/// A streamed write of one blob; nothing is visible under the key until [`BlobWriter::finish`].
pub struct BlobWriter {
    inner: WriteMultipart,
    /// For a local store: the file the blob becomes, the store's root and its durable directories.
    local: Option<(std::path::PathBuf, std::path::PathBuf, DurableDirs)>,
}

impl BlobWriter {
    /// Appends bytes, waiting while too many parts are in flight (bounded memory).
    pub async fn write(&mut self, data: &[u8]) -> Result<(), BlobError> {
        self.inner.wait_for_capacity(4).await?;
        self.inner.write(data);
        Ok(())
    }

    /// Completes the blob. On a local store the blob is on disk when this returns (its file and
    /// every directory up to the store's root flushed), so an upload acknowledged after it keeps
    /// its bytes through a power loss; `object_store` itself only renames the finished file. An
    /// S3-compatible store is durable when it acknowledges the completed upload.
    pub async fn finish(self) -> Result<(), BlobError> {
        self.inner.finish().await?;
        if let Some((file, root, durable)) = self.local {
            tokio::task::spawn_blocking(move || sync_to_root(&file, &root, &durable))
                .await
                .map_err(|e| BlobError::Sync(std::io::Error::other(e)))?
                .map_err(BlobError::Sync)?;
        }
        Ok(())
    }

    /// Abandons the blob.
    pub async fn abort(self) -> Result<(), BlobError> {
        self.inner.abort().await?;
        Ok(())
    }
}

impl Blobs {
    /// Opens a store by location: a directory path, a `file://` URL, or `s3://bucket[/prefix]`
    /// (settings from the `AWS_*` environment; nothing is contacted until the first request).
    pub fn open(location: &str) -> Result<Blobs, BlobError> {
        let dir = if let Some(rest) = location.strip_prefix("s3://") {
            return Blobs::open_s3(location, rest);
        } else if let Some(path) = location.strip_prefix("file://") {
            path.to_string()
        } else if location.contains("://") {
            return Err(BlobError::Unsupported(location.to_string()));
        } else {
            location.to_string()
        };
        std::fs::create_dir_all(&dir).map_err(|source| BlobError::Dir {
            path: dir.clone(),
            source,
        })?;
        let store = LocalFileSystem::new_with_prefix(&dir)?;
        let mut blobs = Blobs::from_store(Arc::new(store), format!("local:{dir}"));
        blobs.local_root = Some(std::path::PathBuf::from(dir));
        Ok(blobs)
    }

    fn open_s3(location: &str, rest: &str) -> Result<Blobs, BlobError> {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(BlobError::Unsupported(location.to_string()));
        }
        let s3 = object_store::aws::AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .build()?;
        let prefix = prefix.trim_matches('/');
        let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
            Arc::new(s3)
        } else {
            Arc::new(object_store::prefix::PrefixStore::new(s3, prefix))
        };
        let mut blobs = Blobs::from_store(store, format!("s3:{bucket}/{prefix}"));
        blobs.part_size = S3_PART;
        Ok(blobs)
    }

    /// Any `object_store` implementation (tests use the in-memory one).
    pub fn from_store(store: Arc<dyn ObjectStore>, description: String) -> Blobs {
        Blobs {
            store,
            description,
            local_root: None,
            part_size: LOCAL_PART,
            durable_dirs: DurableDirs::default(),
        }
    }

    /// What the store is (`local:<dir>` or `s3:<bucket>/<prefix>`), for logs and health.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// Starts a streamed write.
    pub async fn writer(&self, key: &str) -> Result<BlobWriter, BlobError> {
        let path = ObjectPath::from(key);
        let upload = self.store.put_multipart(&path).await?;
        let local = self.local_root.as_ref().map(|root| {
            let file = path
                .parts()
                .fold(root.clone(), |p, part| p.join(part.as_ref()));
            (file, root.clone(), self.durable_dirs.clone())
        });
        Ok(BlobWriter {
            inner: WriteMultipart::new_with_chunk_size(upload, self.part_size),
            local,
        })
    }

    /// Streams a blob, or the byte range of it.
    pub async fn read(
        &self,
        key: &str,
        range: Option<Range<u64>>,
    ) -> Result<BoxStream<'static, Result<Bytes, BlobError>>, BlobError> {
        let options = GetOptions {
            range: range.map(GetRange::Bounded),
            ..Default::default()
        };
        let got = self.store.get_opts(&ObjectPath::from(key), options).await?;
        Ok(got.into_stream().map_err(BlobError::from).boxed())
    }

    /// A whole small range in memory (a header).
    pub async fn read_range(&self, key: &str, range: Range<u64>) -> Result<Bytes, BlobError> {
        Ok(self.store.get_range(&ObjectPath::from(key), range).await?)
    }

    /// A blob's size, or `None` when it does not exist.
    pub async fn size(&self, key: &str) -> Result<Option<u64>, BlobError> {
        match self.store.head(&ObjectPath::from(key)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Whether the store takes a write now: a small probe object is written and deleted (a
    /// full disk, a read-only mount or a bucket that refuses writes all fail it).
    pub async fn probe(&self) -> Result<(), BlobError> {
        let key = ObjectPath::from("health/probe");
        self.store
            .put(&key, object_store::PutPayload::from_static(b"probe"))
            .await?;
        self.store.delete(&key).await?;
        Ok(())
    }

    /// Deletes a blob; deleting a missing blob succeeds.
    pub async fn delete(&self, key: &str) -> Result<(), BlobError> {
        match self.store.delete(&ObjectPath::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes the staging files of multipart writes that never completed (a process killed
    /// mid-upload) under `prefix`, when last written before `cutoff` (Unix seconds). Local
    /// directories only: `object_store` names them `<key>#<digits>` and does not list them.
    /// Returns how many were removed.
    pub fn sweep_staging(&self, prefix: &str, cutoff: i64) -> Result<usize, BlobError> {
        let Some(root) = &self.local_root else {
            return Ok(0);
        };
        let io = |path: &std::path::Path| {
            let path = path.display().to_string();
            move |source| BlobError::Dir { path, source }
        };
        let mut removed = 0;
        let mut dirs = vec![root.join(prefix)];
        while let Some(dir) = dirs.pop() {
            let entries = match std::fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io(&dir)(e)),
            };
            for entry in entries {
                let entry = entry.map_err(io(&dir))?;
                let path = entry.path();
                let meta = entry.metadata().map_err(io(&path))?;
                if meta.is_dir() {
                    dirs.push(path);
                    continue;
                }
                let name = entry.file_name();
                let staged =
                    name.to_str()
                        .and_then(|n| n.rsplit_once('#'))
                        .is_some_and(|(_, suffix)| {
                            !suffix.is_empty() && suffix.bytes().all(|b| b.is_ascii_digit())
                        });
                let modified = meta
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
                    .unwrap_or(i64::MAX);
                if staged && modified < cutoff {
                    std::fs::remove_file(&path).map_err(io(&path))?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }

    /// Keys under a prefix with their last-modified Unix time.
    pub async fn list(&self, prefix: &str) -> Result<Vec<(String, i64)>, BlobError> {
        let prefix = ObjectPath::from(prefix);
        let metas: Vec<_> = self.store.list(Some(&prefix)).try_collect().await?;
        Ok(metas
            .into_iter()
            .map(|m| (m.location.to_string(), m.last_modified.timestamp()))
            .collect())
    }
}

/// Where an upload's C2 goes: `c2/<first byte of the id>/<id>.<upload nonce>`. The nonce keeps
/// two concurrent uploads of one id apart (neither can pair its blob with the other's K2); the
/// 256 shard directories are made once, where a directory per record (`c2/<id>/<nonce>`, the
/// layout before 2026-11-29, still read) cost a `mkdir` and two more fsyncs for every upload
/// (docs/qa-report.md, "Durable ingest").
pub fn c2_key(record_id: B256, nonce: &str) -> String {
    format!("c2/{:02x}/{record_id}.{nonce}", record_id[0])
}

/// The record a C2 key names, in either layout; `None` for a key that names none (so is no
/// record's blob).
pub fn c2_record(key: &str) -> Option<B256> {
    let mut parts = key.split('/');
    if parts.next() != Some("c2") {
        return None;
    }
    match (parts.next(), parts.next(), parts.next()) {
        // c2/<id>/<nonce>
        (Some(id), Some(_), None) if id.starts_with("0x") => id.parse().ok(),
        // c2/<shard>/<id>.<nonce>, the shard being the id's first byte
        (Some(shard), Some(name), None) => {
            let id: B256 = name.split_once('.')?.0.parse().ok()?;
            (format!("{:02x}", id[0]) == shard).then_some(id)
        }
        _ => None,
    }
}

/// Flushes `file` and then each directory from its own up towards `root`: a file's bytes are
/// durable after its own fsync, its name (a rename, a new directory) only after its directory's.
/// The walk stops at `root`, or at a directory whose own name is already known durable (it is
/// flushed, for the file's name in it, and its parents need nothing). Returns the paths flushed,
/// in order.
fn sync_to_root(
    file: &std::path::Path,
    root: &std::path::Path,
    durable: &DurableDirs,
) -> Result<Vec<std::path::PathBuf>, std::io::Error> {
    let known = |d: &std::path::Path| durable.lock().is_ok_and(|set| set.contains(d));
    std::fs::File::open(file)?.sync_all()?;
    let mut synced = vec![file.to_path_buf()];
    let mut newly_durable = Vec::new();
    let mut dir = file.parent();
    while let Some(d) = dir {
        std::fs::File::open(d)?.sync_all()?;
        synced.push(d.to_path_buf());
        if d == root || known(d) {
            break;
        }
        // Its name is in its parent, flushed next.
        newly_durable.push(d.to_path_buf());
        dir = d.parent();
    }
    if let Ok(mut set) = durable.lock() {
        set.extend(newly_durable);
    }
    Ok(synced)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_c2_key_names_its_record_in_either_layout() {
        let id: B256 = "0x5eed000000000000000000000000000000000000000000000000000000000001"
            .parse()
            .expect("id");
        let key = c2_key(id, "0011223344556677");
        assert_eq!(key, format!("c2/5e/{id}.0011223344556677"));
        assert_eq!(c2_record(&key), Some(id));
        assert_eq!(c2_record(&format!("c2/{id}/0011223344556677")), Some(id));
        for other in [
            format!("c2/ab/{id}.00"),
            format!("c2/5e/{id}"),
            format!("c3/5e/{id}.00"),
            format!("c2/5e/{id}.00/x"),
            "c2/5e/0xzz.00".to_string(),
            "health/probe".to_string(),
        ] {
            assert_eq!(c2_record(&other), None, "{other}");
        }
    }

    #[tokio::test]
    async fn a_finished_local_blob_is_flushed_with_its_directories_up_to_the_first_durable_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("blobs");
        let blobs = Blobs::open(&root.display().to_string()).expect("open");
        let file = root.join("c2").join("0xab").join("n1");
        let mut w = blobs.writer("c2/0xab/n1").await.expect("writer");
        // finish() flushes exactly this file, up to this root.
        let local = w.local.as_ref().map(|(f, r, _)| (f.clone(), r.clone()));
        assert_eq!(local, Some((file.clone(), root.clone())));
        w.write(b"ciphertext").await.expect("write");
        w.finish().await.expect("finish");
        assert_eq!(std::fs::read(&file).expect("on disk"), b"ciphertext");
        // The first file in new directories: every directory up to the root.
        let fresh = DurableDirs::default();
        let synced = sync_to_root(&file, &root, &fresh).expect("sync");
        let expected = [
            file.clone(),
            root.join("c2").join("0xab"),
            root.join("c2"),
            root.clone(),
        ];
        assert_eq!(synced, expected);
        // A second file beside it: itself and its directory, whose name is durable by now.
        let second = root.join("c2").join("0xab").join("n2");
        let mut w = blobs.writer("c2/0xab/n2").await.expect("writer");
        w.write(b"more").await.expect("write");
        w.finish().await.expect("finish");
        let synced = sync_to_root(&second, &root, &fresh).expect("sync");
        assert_eq!(synced, [second.clone(), root.join("c2").join("0xab")]);
        // A file in a new sibling directory: up to the first directory already durable.
        std::fs::create_dir(root.join("c2").join("0xcd")).expect("mkdir");
        let third = root.join("c2").join("0xcd").join("n3");
        std::fs::write(&third, b"x").expect("write");
        let synced = sync_to_root(&third, &root, &fresh).expect("sync");
        assert_eq!(
            synced,
            [third, root.join("c2").join("0xcd"), root.join("c2")]
        );
        // An S3-compatible (here in-memory) store has no local file to flush.
        let memory = Blobs::from_store(
            Arc::new(object_store::memory::InMemory::new()),
            "memory".into(),
        );
        let w = memory.writer("c2/x").await.expect("writer");
        assert!(w.local.is_none());
    }

    #[tokio::test]
    async fn a_blob_error_is_logged_without_the_record_it_names() {
        let dir = tempfile::tempdir().expect("tempdir");
        let blobs = Blobs::open(&dir.path().join("blobs").display().to_string()).expect("open");
        let key = "c2/0x5eed000000000000000000000000000000000000000000000000000000000001/c2";
        let err = match blobs.read(key, None).await {
            Ok(_) => panic!("a missing blob reads"),
            Err(e) => e,
        };
        assert!(
            err.to_string().contains("5eed"),
            "the full error names the key: {err}"
        );
        assert_eq!(err.kind(), "blob not found");
    }

    #[tokio::test]
    async fn local_directory_round_trip_with_ranges_and_deletes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let blobs = Blobs::open(&dir.path().join("blobs").display().to_string()).expect("open");
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let mut w = blobs.writer("c2/a/b").await.expect("writer");
        for piece in data.chunks(70_000) {
            w.write(piece).await.expect("write");
        }
        assert_eq!(
            blobs.size("c2/a/b").await.expect("size"),
            None,
            "invisible until finished"
        );
        w.finish().await.expect("finish");
        assert_eq!(
            blobs.size("c2/a/b").await.expect("size"),
            Some(data.len() as u64)
        );
        let got: Vec<Bytes> = blobs
            .read("c2/a/b", Some(10..20))
            .await
            .expect("read")
            .try_collect()
            .await
            .expect("stream");
        assert_eq!(got.concat(), data[10..20].to_vec());
        assert_eq!(blobs.list("c2").await.expect("list").len(), 1);
        blobs.delete("c2/a/b").await.expect("delete");
        blobs
            .delete("c2/a/b")
            .await
            .expect("deleting twice is fine");
        assert_eq!(blobs.size("c2/a/b").await.expect("size"), None);
    }

    #[test]
    fn unsupported_urls_are_refused_by_name() {
        for url in ["gs://bucket/prefix", "s3://", "s3:///prefix"] {
            match Blobs::open(url) {
                Err(BlobError::Unsupported(u)) => assert_eq!(u, url),
                other => panic!("expected Unsupported for {url}, got {other:?}"),
            }
        }
    }

    #[test]
    fn s3_urls_open_with_their_prefix_and_five_mib_parts() {
        let blobs = Blobs::open("s3://medledger-blobs/escrow/a").expect("opens offline");
        assert_eq!(blobs.description(), "s3:medledger-blobs/escrow/a");
        assert_eq!(blobs.part_size, S3_PART);
        assert!(blobs.local_root.is_none());
    }
}

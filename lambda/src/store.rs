//! Objects named by URI (`s3://bucket/key`, `file:///path`, or an absolute path) through
//! `object_store`, and the lease that keeps two training invocations off one checkpoint.

use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("'{0}' is not an s3:// or file:// URI or an absolute path")]
    BadUri(String),
    #[error("{uri}: {source}")]
    Access {
        uri: String,
        source: object_store::Error,
    },
}

/// One object: its store and its key there.
#[derive(Clone, Debug)]
pub struct Location {
    store: Arc<dyn ObjectStore>,
    path: Path,
    uri: String,
}

impl Location {
    /// S3 credentials, region and endpoint come from the environment (`AWS_*`, as Lambda sets
    /// them; `AWS_ENDPOINT_URL` and `AWS_ALLOW_HTTP` point it at another S3 API).
    pub fn parse(uri: &str) -> Result<Self, StoreError> {
        let bad = || StoreError::BadUri(uri.to_string());
        let access = |source| StoreError::Access {
            uri: uri.to_string(),
            source,
        };
        if let Some(rest) = uri.strip_prefix("s3://") {
            let (bucket, key) = rest.split_once('/').ok_or_else(bad)?;
            if bucket.is_empty() || key.is_empty() {
                return Err(bad());
            }
            let store = AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .build()
                .map_err(access)?;
            return Ok(Self {
                store: Arc::new(store),
                path: Path::parse(key).map_err(|_| bad())?,
                uri: uri.to_string(),
            });
        }
        let file = match uri.strip_prefix("file://") {
            Some(path) => path,
            None if uri.starts_with('/') => uri,
            None => return Err(bad()),
        };
        let path = Path::from_absolute_path(file).map_err(|_| bad())?;
        Ok(Self {
            store: Arc::new(LocalFileSystem::new()),
            path,
            uri: uri.to_string(),
        })
    }

    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// A sibling object: the same key with `suffix` appended.
    pub fn with_suffix(&self, suffix: &str) -> Self {
        Self {
            store: self.store.clone(),
            path: Path::from(format!("{}{suffix}", self.path)),
            uri: format!("{}{suffix}", self.uri),
        }
    }

    fn access(&self, source: object_store::Error) -> StoreError {
        StoreError::Access {
            uri: self.uri.clone(),
            source,
        }
    }

    /// The object's bytes, or `None` if there is no such object.
    pub async fn get(&self) -> Result<Option<Vec<u8>>, StoreError> {
        match self.store.get(&self.path).await {
            Ok(found) => Ok(Some(
                found.bytes().await.map_err(|e| self.access(e))?.to_vec(),
            )),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.access(e)),
        }
    }

    /// Replaces the object whole: readers see the old or the new bytes, never a mix (one S3
    /// PUT; a temporary file and a rename on a file system).
    pub async fn put(&self, bytes: Vec<u8>) -> Result<(), StoreError> {
        self.store
            .put(&self.path, PutPayload::from(bytes))
            .await
            .map(|_| ())
            .map_err(|e| self.access(e))
    }

    /// Writes only if no object exists yet; `false` if one does.
    async fn create(&self, bytes: Vec<u8>) -> Result<bool, StoreError> {
        let options = PutOptions::from(PutMode::Create);
        match self
            .store
            .put_opts(&self.path, PutPayload::from(bytes), options)
            .await
        {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(self.access(e)),
        }
    }

    pub async fn delete(&self) -> Result<(), StoreError> {
        match self.store.delete(&self.path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.access(e)),
        }
    }
}

/// What the lease object says: who holds it and until when.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LeaseRecord {
    pub holder: String,
    /// Milliseconds since the Unix epoch; past this the holder is presumed dead (its
    /// invocation's deadline has passed) and the lease may be taken over.
    pub expires_ms: u64,
}

pub enum Acquired {
    Held(Lease),
    Busy(LeaseRecord),
}

/// An exclusive hold on a checkpoint, by conditional create of `<checkpoint>.lock`.
pub struct Lease {
    location: Location,
    record: LeaseRecord,
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Lease {
    /// Takes the lease at `location` for `holder` until `expires_ms`, unless a live holder has
    /// it. An expired lease (its invocation was killed) is deleted and taken over.
    pub async fn acquire(
        location: Location,
        holder: &str,
        expires_ms: u64,
    ) -> Result<Acquired, StoreError> {
        let record = LeaseRecord {
            holder: holder.to_string(),
            expires_ms,
        };
        let bytes = serde_json::to_vec(&record).expect("a lease record serializes");
        for _ in 0..2 {
            if location.create(bytes.clone()).await? {
                return Ok(Acquired::Held(Lease { location, record }));
            }
            let current = location
                .get()
                .await?
                .and_then(|b| serde_json::from_slice::<LeaseRecord>(&b).ok());
            match current {
                Some(other) if other.expires_ms > now_ms() => return Ok(Acquired::Busy(other)),
                Some(other) => {
                    tracing::warn!(holder = other.holder, "taking over an expired lease");
                    location.delete().await?;
                }
                // Unreadable or gone between our create and get: a damaged lease protects
                // nothing, so clear it and try once more.
                None => location.delete().await?,
            }
        }
        let other = LeaseRecord {
            holder: "unknown".into(),
            expires_ms,
        };
        Ok(Acquired::Busy(other))
    }

    /// Gives the lease back if it is still ours (a takeover after our expiry is not undone).
    pub async fn release(self) -> Result<(), StoreError> {
        let current = self
            .location
            .get()
            .await?
            .and_then(|b| serde_json::from_slice::<LeaseRecord>(&b).ok());
        if current.as_ref() == Some(&self.record) {
            self.location.delete().await?;
        }
        Ok(())
    }
}

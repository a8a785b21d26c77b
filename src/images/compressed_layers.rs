//! Compressed layer blobs, as registries store them, kept next to the uncompressed tars so that
//! a push sends the same bytes (and so the same digests and manifest) every time, and a layer
//! pulled from a registry goes back byte for byte (which lets registries skip or mount it).
//!
//! ```text
//! <root>/blobs/sha256/<digest hex>        the compressed blob
//! <root>/compressed/sha256/<diff-id hex>  {"digest","size","mediaType","sources":[…]}
//! ```
//!
//! A layer has at most one compressed form: the first one pulled, or gzip made from the tar at
//! its first push. `sources` remembers the repositories a tenant pulled the blob from, so that
//! a push by the same tenant to another repository of that registry can mount it.

use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::layer_store::{LayerStore, digest_hex, ignore_missing, sync_dir};
use super::registry::manifest::DOCKER_LAYER_GZIP;

/// How a layer is stored compressed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompressedLayer {
    /// `sha256:<hex>` of the compressed blob.
    pub digest: String,
    /// Bytes of the compressed blob.
    pub size: u64,
    /// Its media type (`…tar.gzip`, `…tar+zstd`).
    #[serde(rename = "mediaType")]
    pub media_type: String,
    /// Where tenants pulled it from.
    #[serde(default)]
    pub sources: Vec<LayerSource>,
}

/// A repository a tenant pulled a blob from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerSource {
    /// The tenant that pulled it.
    pub tenant: String,
    /// The registry domain (`127.0.0.1:5000`, `docker.io`).
    pub registry: String,
    /// The repository path (`library/busybox`).
    pub repository: String,
}

impl LayerStore {
    /// The compressed form of a layer, if the store has one.
    pub fn compressed_layer(&self, diff_id: &str) -> io::Result<Option<CompressedLayer>> {
        let record = match fs::read(self.compressed_record(diff_id)?) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let layer: CompressedLayer =
            serde_json::from_slice(&record).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        Ok(self.blob_path(&layer.digest)?.is_file().then_some(layer))
    }

    /// The file of a compressed blob.
    pub fn compressed_blob(&self, digest: &str) -> io::Result<PathBuf> {
        self.blob_path(digest)
    }

    /// Keeps a downloaded, verified compressed blob (`file`, moved into the store) as the layer's
    /// compressed form, unless it already has one; records `source` either way when the digest
    /// is the stored one.
    pub fn keep_compressed(
        &self,
        diff_id: &str,
        file: &Path,
        layer: CompressedLayer,
        source: Option<LayerSource>,
    ) -> io::Result<()> {
        if let Some(mut existing) = self.compressed_layer(diff_id)? {
            if existing.digest == layer.digest
                && let Some(source) = source
                && !existing.sources.contains(&source)
            {
                existing.sources.push(source);
                self.write_record(diff_id, &existing)?;
            }
            return Ok(());
        }
        let target = self.blob_path(&layer.digest)?;
        fs::rename(file, &target)?;
        sync_dir(&self.blobs_dir())?;
        let mut layer = layer;
        layer.sources = source.into_iter().collect();
        self.write_record(diff_id, &layer)
    }

    /// The layer's compressed form, made now (gzip of the stored tar) if it has none yet.
    pub fn compress_layer(&self, diff_id: &str) -> io::Result<CompressedLayer> {
        if let Some(layer) = self.compressed_layer(diff_id)? {
            return Ok(layer);
        }
        let staging = tempfile::Builder::new().prefix("gzip-").tempfile_in(self.tmp_dir())?;
        let (digest, size) = {
            let mut tar = BufReader::with_capacity(128 * 1024, File::open(self.layer_tar(diff_id)?)?);
            let inner = BufWriter::with_capacity(128 * 1024, staging.as_file());
            let mut gzip = flate2::write::GzEncoder::new(
                HashingWriter { inner, hasher: Sha256::new(), len: 0 },
                flate2::Compression::default(),
            );
            io::copy(&mut tar, &mut gzip)?;
            let mut hashing = gzip.finish()?;
            hashing.inner.flush()?;
            (format!("sha256:{}", hex::encode(hashing.hasher.finalize())), hashing.len)
        };
        staging.as_file().sync_all()?;
        let layer = CompressedLayer { digest, size, media_type: DOCKER_LAYER_GZIP.to_string(), sources: Vec::new() };
        staging.persist(self.blob_path(&layer.digest)?).map_err(|e| e.error)?;
        sync_dir(&self.blobs_dir())?;
        // A concurrent push of the same layer may have written the record first: its blob is
        // the same bytes (gzip is deterministic), so either record is right.
        self.write_record(diff_id, &layer)?;
        Ok(layer)
    }

    /// Removes a layer's compressed blob and record (with the layer).
    pub(crate) fn remove_compressed(&self, diff_id: &str) -> io::Result<()> {
        if let Ok(Some(layer)) = self.compressed_layer(diff_id) {
            ignore_missing(fs::remove_file(self.blob_path(&layer.digest)?))?;
        }
        ignore_missing(fs::remove_file(self.compressed_record(diff_id)?))
    }

    /// `<root>/compressed/sha256/<diff-id hex>`.
    fn compressed_record(&self, diff_id: &str) -> io::Result<PathBuf> {
        Ok(self.root().join("compressed").join("sha256").join(digest_hex(diff_id)?))
    }

    /// Writes a record atomically.
    fn write_record(&self, diff_id: &str, layer: &CompressedLayer) -> io::Result<()> {
        let path = self.compressed_record(diff_id)?;
        let dir = path.parent().expect("the record has a directory");
        fs::create_dir_all(dir)?;
        let mut staging = tempfile::Builder::new().prefix("record-").tempfile_in(self.tmp_dir())?;
        serde_json::to_writer(&mut staging, layer)?;
        staging.as_file().sync_all()?;
        staging.persist(&path).map_err(|e| e.error)?;
        sync_dir(dir)
    }
}

/// A writer that hashes and counts what passes through.
struct HashingWriter<W: Write> {
    inner: W,
    hasher: Sha256,
    len: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(data)?;
        self.hasher.update(&data[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn layer_tar(content: &[u8]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        let mut file = tar::Header::new_ustar();
        file.set_mode(0o644);
        file.set_size(content.len() as u64);
        builder.append_data(&mut file, "hello.txt", content).unwrap();
        builder.into_inner().unwrap()
    }

    #[test]
    fn compresses_once_and_stays_stable() {
        let root = tempfile::tempdir().unwrap();
        let store = LayerStore::open(root.path()).unwrap();
        let tar = layer_tar(b"stable bytes");
        let added = store.add_layer(&tar[..]).unwrap();
        assert_eq!(store.compressed_layer(&added.diff_id).unwrap(), None);

        let first = store.compress_layer(&added.diff_id).unwrap();
        assert_eq!(first.media_type, DOCKER_LAYER_GZIP);
        let blob = fs::read(store.compressed_blob(&first.digest).unwrap()).unwrap();
        assert_eq!(blob.len() as u64, first.size);
        assert_eq!(format!("sha256:{}", hex::encode(Sha256::digest(&blob))), first.digest);
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(&blob[..]).read_to_end(&mut plain).unwrap();
        assert_eq!(plain, tar);
        assert_eq!(store.compress_layer(&added.diff_id).unwrap(), first);

        store.remove_layer(&added.diff_id).unwrap();
        assert!(!store.compressed_blob(&first.digest).unwrap().exists());
        assert_eq!(store.compressed_layer(&added.diff_id).unwrap(), None);
    }

    #[test]
    fn keeps_a_pulled_blob_and_its_sources() {
        let root = tempfile::tempdir().unwrap();
        let store = LayerStore::open(root.path()).unwrap();
        let tar = layer_tar(b"pulled");
        let added = store.add_layer(&tar[..]).unwrap();
        let zstd = zstd::encode_all(&tar[..], 3).unwrap();
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(&zstd)));
        let download = root.path().join("tmp/download");
        fs::write(&download, &zstd).unwrap();
        let layer = CompressedLayer {
            digest: digest.clone(),
            size: zstd.len() as u64,
            media_type: "application/vnd.oci.image.layer.v1.tar+zstd".into(),
            sources: Vec::new(),
        };
        let source =
            |repo: &str| LayerSource { tenant: "t".into(), registry: "r:5000".into(), repository: repo.into() };
        store.keep_compressed(&added.diff_id, &download, layer.clone(), Some(source("a"))).unwrap();
        assert!(!download.exists());
        // The same blob from elsewhere adds a source; a different blob is not kept.
        store.keep_compressed(&added.diff_id, &download, layer.clone(), Some(source("b"))).unwrap();
        let kept = store.compressed_layer(&added.diff_id).unwrap().unwrap();
        assert_eq!(kept.digest, digest);
        assert_eq!(kept.sources, vec![source("a"), source("b")]);
        assert_eq!(store.compress_layer(&added.diff_id).unwrap().digest, digest);
    }
}

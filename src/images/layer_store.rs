//! The on-disk, content-addressed store of extracted layers and blobs under the data root:
//!
//! ```text
//! <root>/layers/sha256/<hex>/   one extracted layer (named by its diff-id), shared read-only
//! <root>/blobs/sha256/<hex>     uncompressed layer tars, named by diff-id (image configs live in SQLite),
//!                               and compressed layer blobs as registries serve them, named by digest
//! <root>/compressed/sha256/<hex> which compressed blob holds the layer with this diff-id (see
//!                               `compressed_layers`)
//! <root>/tmp/                   staging; anything here at start is garbage
//! ```
//!
//! Layers are keyed by diff-id (the sha256 of the uncompressed tar) so that two images, and
//! later two tenants, sharing a layer pay for it once: it is extracted once and used as an
//! overlay `lowerdir` by every container above it. The uncompressed tar is kept next to it so
//! `docker save` can reproduce the exact diff-id without re-packing the directory.
//!
//! Everything is written under `tmp/` first and renamed into place, so a name under `layers/`
//! or `blobs/` always holds complete content. A layer's tar blob is renamed before its directory
//! (and removed after it), so a layer directory never exists without its tar.

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::images::compression::decompressed_reader;
use crate::images::extract::{ExtractError, extract_layer};

/// The only digest algorithm the store names things by.
const SHA256_PREFIX: &str = "sha256:";

/// The content-addressed layer and blob store under one data root.
#[derive(Debug, Clone)]
pub struct LayerStore {
    root: PathBuf,
}

/// What adding one layer did, for image records and size accounting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddedLayer {
    /// `sha256:<hex>` of the uncompressed tar: the layer's identity.
    pub diff_id: String,
    /// Bytes of regular file content in the layer.
    pub size: u64,
    /// Bytes of the uncompressed tar.
    pub tar_size: u64,
    /// True when the store already held this layer and the new copy was dropped.
    pub already_present: bool,
}

/// Why a layer could not be added.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    /// The tarball was refused or could not be unpacked.
    #[error(transparent)]
    Extract(#[from] ExtractError),
    /// A store operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: &'static str,
        /// The underlying failure.
        #[source]
        source: io::Error,
    },
}

impl LayerStore {
    /// Opens (creating if needed) the store under `data_root` and discards leftover staging.
    pub fn open(data_root: &Path) -> io::Result<LayerStore> {
        let store = LayerStore { root: data_root.to_path_buf() };
        fs::create_dir_all(store.layers_dir())?;
        fs::create_dir_all(store.blobs_dir())?;
        fs::create_dir_all(store.tmp_dir())?;
        for entry in fs::read_dir(store.tmp_dir())? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                fs::remove_dir_all(entry.path())?;
            } else {
                fs::remove_file(entry.path())?;
            }
        }
        Ok(store)
    }

    /// Adds a layer read from `reader` (plain or compressed tar) in one pass: it is hashed,
    /// kept as an uncompressed tar blob and extracted at once. Nothing is left behind on error.
    pub fn add_layer<R: Read>(&self, reader: R) -> Result<AddedLayer, LayerError> {
        // Both staging copies delete themselves when dropped, on every early return.
        let staging_dir = tempfile::Builder::new()
            .prefix("layer-")
            .tempdir_in(self.tmp_dir())
            .map_err(io_context("creating a staging directory"))?;
        // A layer without a `./` entry keeps the usual root mode, not the staging dir's 0700.
        fs::set_permissions(staging_dir.path(), fs::Permissions::from_mode(0o755))
            .map_err(io_context("creating a staging directory"))?;
        let staging_tar = tempfile::Builder::new()
            .prefix("layer-")
            .suffix(".tar")
            .tempfile_in(self.tmp_dir())
            .map_err(io_context("creating a staging file"))?;

        let plain = decompressed_reader(reader).map_err(io_context("reading the layer"))?;
        let mut tee = HashingTee {
            inner: plain,
            hasher: Sha256::new(),
            copy: BufWriter::with_capacity(128 * 1024, staging_tar.as_file()),
            len: 0,
        };
        let stats = extract_layer(&mut tee, staging_dir.path())?;
        // Tar padding after the end marker is part of the stream the diff-id covers.
        io::copy(&mut tee, &mut io::sink()).map_err(io_context("reading the layer"))?;
        let (hex, tar_size) = tee.finish().map_err(io_context("writing the layer tar"))?;
        let diff_id = format!("{SHA256_PREFIX}{hex}");
        let mut added = AddedLayer { diff_id, size: stats.size, tar_size, already_present: true };

        let layer_dir = self.layers_dir().join(&hex);
        if layer_dir.exists() {
            return Ok(added);
        }
        staging_tar.as_file().sync_all().map_err(io_context("syncing the layer tar"))?;
        // One syncfs makes the whole extracted tree durable before its name appears, instead
        // of an fsync per file.
        let staged = File::open(staging_dir.path()).map_err(io_context("syncing the layer"))?;
        nix::unistd::syncfs(&staged).map_err(|errno| io_context("syncing the layer")(errno.into()))?;
        staging_tar
            .persist(self.blobs_dir().join(&hex))
            .map_err(|err| io_context("storing the layer tar")(err.error))?;
        sync_dir(&self.blobs_dir()).map_err(io_context("syncing the blob directory"))?;
        match fs::rename(staging_dir.path(), &layer_dir) {
            Ok(()) => {
                // The directory lives on under its new name; the guard must not chase it.
                let _old_path = staging_dir.keep();
                added.already_present = false;
            }
            // Another add of the same layer won the race; its copy is as good as ours.
            Err(_) if layer_dir.is_dir() => return Ok(added),
            Err(err) => return Err(io_context("storing the layer")(err)),
        }
        sync_dir(&self.layers_dir()).map_err(io_context("syncing the layer directory"))?;
        Ok(added)
    }

    /// Tells whether the layer with this diff-id is extracted in the store.
    pub fn has_layer(&self, diff_id: &str) -> bool {
        self.layer_dir(diff_id).is_ok_and(|dir| dir.is_dir())
    }

    /// The extracted layer directory for a diff-id, to use as an overlay `lowerdir`.
    pub fn layer_dir(&self, diff_id: &str) -> io::Result<PathBuf> {
        Ok(self.layers_dir().join(digest_hex(diff_id)?))
    }

    /// The uncompressed tar of a layer, for `docker save`.
    pub fn layer_tar(&self, diff_id: &str) -> io::Result<PathBuf> {
        self.blob_path(diff_id)
    }

    /// The diff-ids of every extracted layer on disk, so that the daemon can remove layers a
    /// crash left behind without a database row.
    pub fn layer_ids(&self) -> io::Result<Vec<String>> {
        let mut ids = Vec::new();
        for entry in fs::read_dir(self.layers_dir())? {
            let name = entry?.file_name();
            let id = format!("sha256:{}", name.to_string_lossy());
            if digest_hex(&id).is_ok() {
                ids.push(id);
            }
        }
        Ok(ids)
    }

    /// Removes a layer's directory and tar; a layer already gone is not an error.
    pub fn remove_layer(&self, diff_id: &str) -> io::Result<()> {
        let dir = self.layer_dir(diff_id)?;
        ignore_missing(fs::remove_dir_all(dir))?;
        self.remove_compressed(diff_id)?;
        ignore_missing(fs::remove_file(self.layer_tar(diff_id)?))
    }

    /// The data root the store lives under.
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// The file holding a blob; the digest is checked so the path is always inside the store.
    pub(crate) fn blob_path(&self, digest: &str) -> io::Result<PathBuf> {
        Ok(self.blobs_dir().join(digest_hex(digest)?))
    }

    /// `<root>/layers/sha256`.
    fn layers_dir(&self) -> PathBuf {
        self.root.join("layers").join("sha256")
    }

    /// `<root>/blobs/sha256`.
    pub(crate) fn blobs_dir(&self) -> PathBuf {
        self.root.join("blobs").join("sha256")
    }

    /// `<root>/tmp`.
    pub(crate) fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }
}

/// A reader that hashes and copies everything read through it.
struct HashingTee<'a, R: Read> {
    /// The uncompressed layer stream.
    inner: R,
    /// The running sha256 of the stream.
    hasher: Sha256,
    /// The staging copy of the uncompressed tar.
    copy: BufWriter<&'a File>,
    /// Bytes read so far.
    len: u64,
}

impl<R: Read> HashingTee<'_, R> {
    /// Flushes the copy and returns the stream's sha256 (hex) and length.
    fn finish(self) -> io::Result<(String, u64)> {
        self.copy.into_inner().map_err(|err| err.into_error())?;
        Ok((hex::encode(self.hasher.finalize()), self.len))
    }
}

impl<R: Read> Read for HashingTee<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let count = self.inner.read(buf)?;
        self.hasher.update(&buf[..count]);
        self.copy.write_all(&buf[..count])?;
        self.len += count as u64;
        Ok(count)
    }
}

/// Returns the hex part of a `sha256:<64 lowercase hex>` digest, refusing anything else so no
/// argument can name a path outside the store.
pub(crate) fn digest_hex(digest: &str) -> io::Result<&str> {
    digest
        .strip_prefix(SHA256_PREFIX)
        .filter(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("invalid digest {digest:?}: expected sha256:<64 lowercase hex digits>"),
            )
        })
}

/// Makes the renames inside a directory durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Treats "not found" as success, for idempotent removals.
pub(crate) fn ignore_missing(result: io::Result<()>) -> io::Result<()> {
    match result {
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Wraps an io error with what the store was doing.
fn io_context(context: &'static str) -> impl FnOnce(io::Error) -> LayerError {
    move |source| LayerError::Io { context, source }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small plain layer tar with a directory and a file; owner and mtime fields are left
    /// blank, as some tools write them.
    fn plain_layer(content: &[u8]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        let mut dir = tar::Header::new_ustar();
        dir.set_entry_type(tar::EntryType::Directory);
        dir.set_mode(0o755);
        dir.set_size(0);
        builder.append_data(&mut dir, "etc/", &b""[..]).unwrap();
        let mut file = tar::Header::new_ustar();
        file.set_mode(0o644);
        file.set_size(content.len() as u64);
        builder.append_data(&mut file, "etc/motd", content).unwrap();
        builder.into_inner().unwrap()
    }

    fn sha256_digest(bytes: &[u8]) -> String {
        format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> =
            fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    }

    #[test]
    fn adds_a_layer_once() {
        let root = tempfile::tempdir().unwrap();
        let store = LayerStore::open(root.path()).unwrap();
        let tar = plain_layer(b"hello");

        let first = store.add_layer(&tar[..]).unwrap();
        assert_eq!(first.diff_id, sha256_digest(&tar));
        assert_eq!((first.size, first.tar_size), (5, tar.len() as u64));
        assert!(!first.already_present);
        assert!(store.has_layer(&first.diff_id));
        let dir = store.layer_dir(&first.diff_id).unwrap();
        assert_eq!(fs::metadata(&dir).unwrap().permissions().mode() & 0o7777, 0o755);
        assert_eq!(fs::read(dir.join("etc/motd")).unwrap(), b"hello");
        assert_eq!(fs::read(store.layer_tar(&first.diff_id).unwrap()).unwrap(), tar);

        let second = store.add_layer(&tar[..]).unwrap();
        assert_eq!(second.diff_id, first.diff_id);
        assert!(second.already_present);
        assert_eq!(names(&root.path().join("layers/sha256")).len(), 1);
        assert!(names(&root.path().join("tmp")).is_empty());

        store.remove_layer(&first.diff_id).unwrap();
        assert!(!store.has_layer(&first.diff_id));
        assert!(!store.layer_tar(&first.diff_id).unwrap().exists());
        store.remove_layer(&first.diff_id).unwrap();
    }

    #[test]
    fn compressed_layers_have_the_plain_diff_id() {
        let root = tempfile::tempdir().unwrap();
        let store = LayerStore::open(root.path()).unwrap();
        let tar = plain_layer(b"compressed");
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gzip.write_all(&tar).unwrap();
        let gzip = gzip.finish().unwrap();
        let zstd = zstd::encode_all(&tar[..], 3).unwrap();

        let from_gzip = store.add_layer(&gzip[..]).unwrap();
        let from_zstd = store.add_layer(&zstd[..]).unwrap();
        let from_plain = store.add_layer(&tar[..]).unwrap();
        assert_eq!(from_gzip.diff_id, sha256_digest(&tar));
        assert_eq!(from_zstd.diff_id, from_gzip.diff_id);
        assert_eq!(from_plain.diff_id, from_gzip.diff_id);
        assert_eq!(from_gzip.tar_size, tar.len() as u64);
        assert!(!from_gzip.already_present && from_zstd.already_present);
        assert_eq!(fs::read(store.layer_tar(&from_gzip.diff_id).unwrap()).unwrap(), tar);
    }

    #[test]
    fn padding_after_the_end_marker_counts_for_the_diff_id() {
        let root = tempfile::tempdir().unwrap();
        let store = LayerStore::open(root.path()).unwrap();
        let mut tar = plain_layer(b"padded");
        tar.extend_from_slice(&[0; 8 * 512]);
        let added = store.add_layer(&tar[..]).unwrap();
        assert_eq!(added.diff_id, sha256_digest(&tar));
        assert_eq!(added.tar_size, tar.len() as u64);
        assert_eq!(fs::read(store.layer_tar(&added.diff_id).unwrap()).unwrap(), tar);
    }

    #[test]
    fn a_failed_layer_leaves_nothing_behind() {
        let root = tempfile::tempdir().unwrap();
        let store = LayerStore::open(root.path()).unwrap();
        let mut builder = tar::Builder::new(Vec::new());
        let mut ok = tar::Header::new_ustar();
        ok.set_size(2);
        ok.set_mode(0o400);
        builder.append_data(&mut ok, "ok", &b"ok"[..]).unwrap();
        let mut evil = tar::Header::new_ustar();
        evil.as_old_mut().name[..7].copy_from_slice(b"../evil");
        evil.set_mode(0o644);
        evil.set_size(0);
        evil.set_cksum();
        builder.append(&evil, &b""[..]).unwrap();
        let tar = builder.into_inner().unwrap();

        let err = store.add_layer(&tar[..]).unwrap_err();
        assert!(matches!(err, LayerError::Extract(ExtractError::Unsafe { .. })), "{err}");
        assert!(names(&root.path().join("tmp")).is_empty());
        assert!(names(&root.path().join("layers/sha256")).is_empty());
        assert!(names(&root.path().join("blobs/sha256")).is_empty());

        // A stream that ends mid-entry fails the same clean way.
        let truncated = &plain_layer(b"truncated")[..700];
        assert!(store.add_layer(truncated).is_err());
        assert!(names(&root.path().join("tmp")).is_empty());
        assert!(names(&root.path().join("layers/sha256")).is_empty());
    }

    #[test]
    fn rejects_bad_digests() {
        let root = tempfile::tempdir().unwrap();
        let store = LayerStore::open(root.path()).unwrap();
        let good_hex = "a".repeat(64);
        for bad in [
            String::new(),
            good_hex.clone(),
            format!("sha512:{good_hex}"),
            format!("sha256:{}", "A".repeat(64)),
            format!("sha256:{}", "a".repeat(63)),
            format!("sha256:{}", "a".repeat(65)),
            format!("sha256:../../../../etc/{}", "a".repeat(48)),
            "sha256:../../etc/passwd".to_string(),
        ] {
            let invalid = |result: io::Result<_>| matches!(result, Err(e) if e.kind() == io::ErrorKind::InvalidInput);
            assert!(invalid(store.layer_dir(&bad).map(drop)), "{bad}");
            assert!(invalid(store.layer_tar(&bad).map(drop)), "{bad}");
            assert!(invalid(store.blob_path(&bad).map(drop)), "{bad}");
            assert!(invalid(store.remove_layer(&bad)), "{bad}");
            assert!(!store.has_layer(&bad), "{bad}");
        }
        let good = format!("sha256:{good_hex}");
        assert_eq!(store.blob_path(&good).unwrap(), root.path().join("blobs/sha256").join(&good_hex));
    }

    #[test]
    fn open_discards_leftover_staging() {
        let root = tempfile::tempdir().unwrap();
        LayerStore::open(root.path()).unwrap();
        let tmp = root.path().join("tmp");
        fs::create_dir_all(tmp.join("layer-old/etc")).unwrap();
        fs::write(tmp.join("layer-old/etc/x"), b"x").unwrap();
        fs::write(tmp.join("blob-old"), b"x").unwrap();
        std::os::unix::fs::symlink("/", tmp.join("link")).unwrap();
        LayerStore::open(root.path()).unwrap();
        assert!(names(&tmp).is_empty());
    }
}

//! `docker cp` and `docker export`: stat a path in a container, archive it, extract a tarball
//! into a directory of it, and stream its whole root. The root is reached as
//! `runtime::container_fs::access` explains: through the running container's process, or by
//! mounting a stopped container's overlay privately — then under the container's operation
//! lock, so that it is not started (and its layers mounted twice) meanwhile. `docker cp` sees
//! a stopped container's volumes bound where the container has them, as with dockerd;
//! `docker export` leaves volumes out.

use std::io::{self, Write};
use std::os::fd::BorrowedFd;
use std::path::Path;
use std::sync::Arc;

use tokio::sync::oneshot;

use super::Container;
use crate::engine::{Engine, Error, Result};
use crate::images::compression::decompressed_reader;
use crate::runtime::container_fs::access::{RootAccess, with_container_root};
use crate::runtime::container_fs::pack::{write_export, write_path_archive};
use crate::runtime::container_fs::stat::{ContainerPath, stat_path};
use crate::runtime::container_fs::unpack::{UnpackError, UnpackOptions, resolve_owner, unpack_into};

pub use crate::runtime::container_fs::stat::PathStat;

/// Where a streamed archive goes: its bytes, then either a clean end (drop) or a failure.
pub trait ArchiveSink: Write + Send + 'static {
    /// Ends the stream with an error after what was written, so that the client sees a broken
    /// transfer rather than a short archive.
    fn fail(self, error: io::Error);
}

/// What `docker cp` into a container asked for besides the tarball.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExtractRequest {
    /// Refuse to replace a directory with a non-directory and the other way round (the CLI's
    /// default; `noOverwriteDirNonDir`).
    pub no_overwrite_dir_non_dir: bool,
    /// Own the files by the container's user (`docker cp -a`; `copyUIDGID`).
    pub copy_uid_gid: bool,
}

impl Engine {
    /// `HEAD /containers/{id}/archive`: the stat of `path` in the container.
    pub async fn stat_container_path(&self, tenant: &str, name: &str, path: &str) -> Result<PathStat> {
        let c = self.resolve_container(tenant, name).await?;
        let target = parse_path(path)?;
        let missing = file_not_found(path, name);
        self.with_root(&c, true, move |root| stat_path(root, &target).map_err(|e| stat_error(e, missing))).await
    }

    /// `GET /containers/{id}/archive`: the stat of `path`, once known; its archive then goes
    /// to `sink` from a blocking thread.
    pub async fn archive_container_path<S: ArchiveSink>(
        self: &Arc<Self>,
        tenant: &str,
        name: &str,
        path: &str,
        sink: S,
    ) -> Result<PathStat> {
        let c = self.resolve_container(tenant, name).await?;
        let target = parse_path(path)?;
        let missing = file_not_found(path, name);
        let owners = self.tenant_id_mapping(&c.row.tenant_id).await?;
        let (ready, stat) = oneshot::channel();
        let engine = self.clone();
        let container = c.clone();
        let work = tokio::spawn(async move {
            engine
                .with_root(&container, true, move |root| {
                    let stat = stat_path(root, &target).map_err(|e| stat_error(e, missing))?;
                    let _ = ready.send(stat.clone());
                    let mut sink = sink;
                    if let Err(e) = write_path_archive(root, &target, &stat, &mut sink, owners) {
                        tracing::warn!(error = %e, "docker cp from a container failed mid-stream");
                        sink.fail(e);
                    }
                    Ok(())
                })
                .await
        });
        match stat.await {
            Ok(stat) => {
                self.emit_container(&c, "archive-path", &[]).await;
                Ok(stat)
            }
            Err(_) => Err(work.await?.err().unwrap_or_else(|| Error::Internal(anyhow::anyhow!("archiving stopped")))),
        }
    }

    /// `PUT /containers/{id}/archive`: extracts the tarball at `archive` (plain or compressed)
    /// into the directory `path` of the container.
    pub async fn extract_to_container(
        &self,
        tenant: &str,
        name: &str,
        path: &str,
        archive: &Path,
        request: ExtractRequest,
    ) -> Result<()> {
        let c = self.resolve_container(tenant, name).await?;
        parse_path(path)?;
        if c.host_config.readonly_rootfs {
            return Err(Error::InvalidArgument("container rootfs is marked read-only".into()));
        }
        let file = std::fs::File::open(archive)?;
        let user = if request.copy_uid_gid { c.config.user.clone() } else { String::new() };
        let dir = path.to_string();
        let missing = file_not_found(path, name);
        // A tenant's container seen with host ids: a running one's root, or a stopped one's
        // writable layer when its layers are shifted copies (idmapped ones hold its own ids).
        let shift = match self.tenant_id_mapping(&c.row.tenant_id).await? {
            Some(mapping) if c.is_running() || !self.idmapped_layers().await => Some(mapping),
            _ => None,
        };
        self.with_root(&c, true, move |root| {
            let owner = if user.is_empty() { None } else { Some(resolve_owner(root, &user).map_err(unpack_error)?) };
            let options = UnpackOptions { no_overwrite_dir_non_dir: request.no_overwrite_dir_non_dir, owner, shift };
            let reader = decompressed_reader(file)?;
            unpack_into(root, &dir, reader, &options).map_err(|e| match e {
                UnpackError::DestinationMissing => missing,
                other => unpack_error(other),
            })
        })
        .await?;
        self.emit_container(&c, "extract-to-dir", &[]).await;
        Ok(())
    }

    /// `GET /containers/{id}/export`: once the root is reached, its archive goes to `sink`
    /// from a blocking thread.
    pub async fn export_container<S: ArchiveSink>(self: &Arc<Self>, tenant: &str, name: &str, sink: S) -> Result<()> {
        let c = self.resolve_container(tenant, name).await?;
        let owners = self.tenant_id_mapping(&c.row.tenant_id).await?;
        let (ready, reached) = oneshot::channel();
        let engine = self.clone();
        let work = tokio::spawn(async move {
            let done = engine
                .with_root(&c, false, move |root| {
                    let _ = ready.send(());
                    let mut sink = sink;
                    match write_export(root, &mut sink, owners) {
                        Ok(_) => Ok(true),
                        Err(e) => {
                            tracing::warn!(error = %e, "docker export failed mid-stream");
                            sink.fail(e);
                            Ok(false)
                        }
                    }
                })
                .await?;
            if done {
                engine.emit_container(&c, "export", &[]).await;
            }
            Ok::<_, Error>(())
        });
        match reached.await {
            Ok(()) => Ok(()),
            Err(_) => Err(work.await?.err().unwrap_or_else(|| Error::Internal(anyhow::anyhow!("export stopped")))),
        }
    }

    /// Runs `work` on the container's merged root (see the module documentation), with the
    /// volumes of a stopped container bound in it when `with_volumes`.
    async fn with_root<T, F>(&self, c: &Container, with_volumes: bool, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(BorrowedFd<'_>) -> Result<T> + Send + 'static,
    {
        let identity = self.tenant_id_mapping(&c.row.tenant_id).await?;
        if c.is_running() {
            let access = running_access(c, identity)?;
            return tokio::task::spawn_blocking(move || with_container_root(&access, work)).await?;
        }
        let live = self.live.get(&c.row.id);
        let _op = live.op.lock().await;
        let row = self
            .store
            .container(&c.row.tenant_id, &c.row.id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("No such container: {}", c.row.id)))?;
        let c = Container::from_row(row)?;
        let access = if c.is_running() {
            running_access(&c, identity)?
        } else {
            let (upper, lower) = self.layer_dirs(&c).await?;
            let bundle = self.bundle_dir(&c.row.id);
            let volumes = if with_volumes { self.volume_binds(&c).await? } else { Vec::new() };
            RootAccess::Stopped { lower, upper, work: bundle.join("work"), mount_point: bundle.join("rootfs"), volumes }
        };
        tokio::task::spawn_blocking(move || with_container_root(&access, work)).await?
    }
}

/// How to reach a running container's root (`identity`: a tenant's container's mapping).
fn running_access(c: &Container, identity: Option<crate::runtime::userns::IdMapping>) -> Result<RootAccess> {
    let pid = c.row.state.pid;
    if pid <= 0 {
        return Err(Error::Conflict(format!(
            "Container {} is restarting, wait until the container is running",
            c.row.id
        )));
    }
    Ok(RootAccess::Running { pid: pid as i32, marker: c.row.id.clone(), identity })
}

/// Reads the client's path; dockerd refuses an empty one.
fn parse_path(path: &str) -> Result<ContainerPath> {
    if path.is_empty() {
        return Err(Error::InvalidArgument("bad parameter: path cannot be empty".into()));
    }
    Ok(ContainerPath::parse(path))
}

/// dockerd's 404 for a missing path.
fn file_not_found(path: &str, container: &str) -> Error {
    Error::NotFound(format!("Could not find the file {path} in container {container}"))
}

/// A stat failure: a missing path (or a file where a directory was meant) is a 404.
fn stat_error(e: io::Error, missing: Error) -> Error {
    match e.raw_os_error() {
        Some(libc::ENOENT | libc::ENOTDIR) => missing,
        _ => Error::from(e),
    }
}

/// An extraction failure as the client should see it.
fn unpack_error(e: UnpackError) -> Error {
    match e {
        UnpackError::DestinationMissing => Error::NotFound("the destination directory does not exist".into()),
        UnpackError::NotADirectory => Error::InvalidArgument("extraction point is not a directory".into()),
        UnpackError::Refused(message) => Error::InvalidArgument(message),
        UnpackError::Io(e) if e.kind() == io::ErrorKind::InvalidData => {
            Error::InvalidArgument(format!("invalid tar: {e}"))
        }
        UnpackError::Io(e) => Error::from(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_paths_are_404_with_dockerds_words() {
        let e = stat_error(io::Error::from_raw_os_error(libc::ENOENT), file_not_found("/nope", "c1"));
        assert!(matches!(&e, Error::NotFound(m) if m == "Could not find the file /nope in container c1"));
        assert!(matches!(
            stat_error(io::Error::from_raw_os_error(libc::EIO), file_not_found("/x", "c")),
            Error::Internal(_)
        ));
        assert!(parse_path("").is_err());
    }

    #[test]
    fn refused_archives_are_400() {
        assert!(matches!(unpack_error(UnpackError::Refused("no".into())), Error::InvalidArgument(_)));
        let e = unpack_error(UnpackError::NotADirectory);
        assert!(matches!(e, Error::InvalidArgument(m) if m == "extraction point is not a directory"));
    }
}

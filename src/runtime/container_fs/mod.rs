//! A container's files as `docker cp`, `docker export`, `docker diff` and `docker commit` see
//! them, reached from the daemon without ever leaving the container's root.
//!
//! The merged root exists only inside the container's own mount namespace, so it is reached in
//! one of two ways (see `access`): through `/proc/<pid>/root` while the container runs, or by
//! mounting the overlay in a throwaway mount namespace of a dedicated thread while it does not.
//! Below that root every lookup is `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)` or a walk
//! of `O_NOFOLLOW` descriptors, so a symlink in the container (`escape -> /`) can never lead to
//! the host's files.
//!
//! `docker diff` and `docker commit` need no merged view: they read the container's writable
//! layer (`upper/`) and compare it with the image's layers (see `changes`).

pub mod access;
pub mod changes;
pub mod fsutil;
pub mod pack;
pub mod stat;
pub mod unpack;

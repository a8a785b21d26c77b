//! User namespaces for tenants' containers: the id mapping (container root is an unprivileged
//! host uid of the tenant's range), the `/proc/<pid>/{uid,gid}_map` writes, and the two ways the
//! image's layers (owned by host root on disk) are presented with the right ownership inside:
//!
//! - **idmapped mounts** (`idmap`): stage 1 of init, still privileged on the host and in a
//!   private mount namespace, puts an idmapped clone of every lower layer and of the bundle (for
//!   the writable layer and the generated /etc files) over their own paths, then mounts the
//!   overlay on them. The kernel then maps on-disk uid k to host uid base + k, so the layers are
//!   shared with every tenant and the writable layer keeps the container's own ids on disk.
//! - **shifted copies** (`shift`), the fallback where the kernel refuses idmapped mounts (before
//!   5.19 overlayfs cannot use idmapped layers) or the operator turned them off: one copy of each
//!   layer per tenant with every owner moved into the tenant's range; the writable layer then
//!   holds host ids.
//!
//! `probe` tells the daemon which of the two this host supports, by trying the first.

pub mod bundle;
pub mod holder;
pub mod identity;
pub mod idmap;
pub mod mapping;
pub mod maps;
pub mod probe;
pub mod shift;
pub mod shifted_layers;

pub use mapping::IdMapping;

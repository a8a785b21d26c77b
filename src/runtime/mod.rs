//! Linux: everything that reads or changes the host. The only layer that makes syscalls.

pub mod host;

//! Images on disk: references, configs, the content-addressed layer store, safe layer
//! extraction, and the archive formats of `docker load` and `docker save`.

pub mod archive;
pub mod changes;
pub mod compression;
pub mod config;
pub mod extract;
pub mod layer_store;
pub mod reference;

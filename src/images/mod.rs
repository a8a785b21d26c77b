//! Images on disk: references, configs, the content-addressed layer store, safe layer
//! extraction, the archive formats of `docker load` and `docker save`, and registries.

pub mod archive;
pub mod changes;
pub mod compressed_layers;
pub mod compression;
pub mod config;
pub mod extract;
pub mod layer_store;
pub mod reference;
pub mod registry;

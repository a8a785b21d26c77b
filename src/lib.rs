//! kapsel: a container-as-a-service daemon that speaks the Docker Engine API. The layers go
//! one way only: api → engine → runtime / images / store.

pub mod admin_cli;
pub mod api;
pub mod config;
pub mod daemon;
pub mod engine;
pub mod images;
pub mod runtime;
pub mod store;

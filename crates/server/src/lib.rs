//! The `gongji` binary's library: HTTP API, roles, wire forms, metrics and the CLI tools.
//!
//! Owns everything that talks to the outside: axum routes, bearer tokens, strict request
//! parsing, response rendering, Prometheus metrics, signals and the offline tools (verify,
//! replay, export). Holds no business rule: every decision is the engine's. Only this crate
//! knows HTTP and tokio.

pub mod auth;
pub mod batch;
pub mod bench;
pub mod http;
pub mod listen;
pub mod metrics;
pub mod openapi;
pub mod publish;
pub mod reconcile;
pub mod render;
pub mod serve;
pub mod tools;
pub mod wire;

//! The HTTP API of api.md: routes by resource, roles, strict request bodies, answers, metrics
//! and the listener with its connection limits.
//!
//! Owns everything HTTP: axum routes, the web console's files (`console`), bearer tokens,
//! strict request parsing, response rendering, Prometheus metrics and the listener. Holds no
//! business rule: every decision is the engine's. How the service is put together (engine, listener, publisher, signals) is the
//! `gongji` binary's.

pub mod auth;
pub mod console;
pub mod listen;
pub mod metrics;
pub mod openapi;
pub mod render;
pub mod routes;
pub mod wire;

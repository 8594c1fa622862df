//! Transports: the only place that knows about the wire.

pub mod auth;
mod boundary;
mod http;
mod json_reply;
mod limits;
mod sessions;
mod shutdown;
mod stdio;
mod transfer;

pub use http::{HttpListener, HttpOptions, ReadinessCheck, bind_http, serve_http};
pub use limits::TenantLimits;
pub use shutdown::shutdown_signal;
pub use stdio::serve_stdio;

//! Transports: the only place that knows about the wire.

mod accept;
pub mod auth;
mod boundary;
mod http;
mod id_scan;
mod json_reply;
mod limits;
pub mod oauth;
mod sessions;
mod shutdown;
mod stdio;
mod stdio_lines;
mod too_large;
mod transfer;

pub use accept::ConnectionLimits;
pub use http::{HttpListener, HttpOptions, ReadinessCheck, bind_http, serve_http};
pub use limits::TenantLimits;
pub use sessions::SessionLimits;
pub use shutdown::shutdown_signal;
pub use stdio::serve_stdio;

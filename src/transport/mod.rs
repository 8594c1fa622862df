//! Transports: the only place that knows about the wire.

mod http;
mod shutdown;
mod stdio;

pub use http::{HttpOptions, serve_http};
pub use shutdown::shutdown_signal;
pub use stdio::serve_stdio;

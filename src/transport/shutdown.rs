//! One shutdown signal for every server: SIGINT, SIGTERM or SIGHUP.
//!
//! SIGHUP (the terminal or the supervising session went away, or an operator's habitual
//! "reload") stops the server gracefully, like SIGTERM: in-flight calls finish and the audit
//! trail gets its shutdown record and checkpoint. It does not reload the configuration:
//! stores, tenants and keyrings are checked once, at start-up, and a reload would have to
//! repeat those checks while calls are served; restart the process instead. Left to its
//! default action, SIGHUP would kill the process without the shutdown record.

use std::future::Future;

/// Resolves when the process is asked to stop. The handlers are installed when this is
/// called (not when the future is first polled), so a signal that arrives in between is
/// not lost to its default action; once installed they stay, so a second signal during the
/// drain does not kill the process either.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let signals = {
        use tokio::signal::unix::SignalKind;
        [
            ("SIGINT", SignalKind::interrupt()),
            ("SIGTERM", SignalKind::terminate()),
            ("SIGHUP", SignalKind::hangup()),
        ]
        .map(|(name, kind)| {
            let installed = tokio::signal::unix::signal(kind);
            if let Err(e) = &installed {
                tracing::warn!(signal = name, error = %e, "cannot install a signal handler");
            }
            (name, installed.ok())
        })
    };
    async move {
        #[cfg(unix)]
        let which = {
            let [int, term, hup] = signals;
            tokio::select! {
                _ = received(int.1) => int.0,
                _ = received(term.1) => term.0,
                _ = received(hup.1) => hup.0,
            }
        };
        #[cfg(not(unix))]
        let which = {
            let _ = tokio::signal::ctrl_c().await;
            "ctrl-c"
        };
        tracing::info!(signal = which, "shutdown requested");
    }
}

/// Resolves on the next delivery; never, without a handler.
#[cfg(unix)]
async fn received(signal: Option<tokio::signal::unix::Signal>) {
    match signal {
        Some(mut s) => {
            s.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}

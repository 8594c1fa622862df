//! MCP progress notifications for long calls: when the client gives a `progressToken`, the
//! service's progress reports become `notifications/progress` on the same session.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use rmcp::RoleServer;
use rmcp::model::{ProgressNotificationParam, ProgressToken};
use rmcp::service::{Peer, RequestContext};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::service::Progress;

/// Reports closer together than this are merged (the last one always goes out).
const MIN_GAP: Duration = Duration::from_millis(100);

/// Sends the service's progress to the client that asked for it (in order, from one task
/// that ends when the reporter is dropped) and tells the service when the client cancelled
/// the request (`notifications/cancelled`).
pub struct McpProgress {
    notify: Option<(
        ProgressToken,
        mpsc::UnboundedSender<ProgressNotificationParam>,
    )>,
    last: Mutex<Option<Instant>>,
    cancel: CancellationToken,
}

impl McpProgress {
    /// The reporter of this request: notifications only when the client gave a token.
    pub fn for_request(ctx: &RequestContext<RoleServer>) -> McpProgress {
        let notify = ctx.meta.get_progress_token().map(|token| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(send_all(ctx.peer.clone(), rx));
            (token, tx)
        });
        McpProgress {
            notify,
            last: Mutex::new(None),
            cancel: ctx.ct.clone(),
        }
    }
}

async fn send_all(
    peer: Peer<RoleServer>,
    mut rx: mpsc::UnboundedReceiver<ProgressNotificationParam>,
) {
    while let Some(param) = rx.recv().await {
        if peer.notify_progress(param).await.is_err() {
            tracing::debug!("could not send a progress notification");
            return;
        }
    }
}

impl Progress for McpProgress {
    fn cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    fn heard(&self) -> bool {
        self.notify.is_some()
    }

    fn advanced(&self, done: u64, total: Option<u64>) {
        let Some((token, tx)) = &self.notify else {
            return;
        };
        let finished = total == Some(done);
        if let Ok(mut last) = self.last.lock() {
            if !finished && last.is_some_and(|t| t.elapsed() < MIN_GAP) {
                return;
            }
            *last = Some(Instant::now());
        }
        let mut param = ProgressNotificationParam::new(token.clone(), done as f64);
        param.total = total.map(|t| t as f64);
        // Never holds up the transfer; a closed session just drops the report.
        let _ = tx.send(param);
    }
}

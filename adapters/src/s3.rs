//! S3-compatible stores (AWS, Scaleway, OVHcloud, Hetzner, Exoscale, IONOS, Garage, MinIO)
//! through object_store's `AmazonS3`, with an HTTP client that never follows redirects, and
//! the signed `GetBucketLocation` call the residency guard relies on.

use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3, AmazonS3Builder, AwsAuthorizer, AwsCredential};
use object_store::client::{HttpClient, HttpConnector, HttpRequest, HttpRequestBody};
use object_store::{ClientOptions, RetryConfig};
use zeroize::Zeroizing;

use crate::s3_answer::{BUCKET_REGION_HEADER, BucketLocation, LocationError};
use crate::{AdapterError, ObjectStoreAdapter};

/// Connection settings for one bucket. The endpoint has already passed the residency guard.
pub struct S3Settings {
    /// Endpoint URL, e.g. `https://s3.fr-par.scw.cloud` (path-style base).
    pub endpoint: String,
    /// Region the endpoint serves (used for signing).
    pub region: String,
    /// Bucket name.
    pub bucket: String,
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: Zeroizing<String>,
    /// Allow plain HTTP (only for self-hosted stores on loopback).
    pub allow_http: bool,
    /// How long a request may take and how often a failed one is tried again.
    pub timeouts: S3Timeouts,
}

/// How long one S3 call may take before it fails with a typed error, so that a store that
/// hangs (a frozen server, a black-holed network) never holds a call forever.
///
/// One request is cut after `request` (connecting after `connect`); a request that failed
/// in a way worth retrying (a timeout, a 5xx, a dropped connection) is sent again up to
/// `max_retries` times, with backoff from 100 ms doubling to at most 5 s, and no new try
/// starts once `retry_timeout` has passed since the first. So a request to a store that
/// stopped answering fails after at most `retry_timeout + request + 5 s` and at most
/// `(max_retries + 1) × request` plus the backoff, whichever is less
/// ([`S3Timeouts::worst_case`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct S3Timeouts {
    /// Longest time for one request, from sending it to the end of its answer's body.
    pub request: Duration,
    /// Longest time to open a connection.
    pub connect: Duration,
    /// Further tries of a failed request.
    pub max_retries: usize,
    /// No further try starts once this long has passed since the first.
    pub retry_timeout: Duration,
}

/// First backoff between tries; doubles up to [`MAX_BACKOFF`].
const INIT_BACKOFF: Duration = Duration::from_millis(100);
/// Longest backoff between tries.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

impl Default for S3Timeouts {
    fn default() -> Self {
        Self {
            request: Duration::from_secs(30),
            connect: Duration::from_secs(5),
            max_retries: 4,
            retry_timeout: Duration::from_secs(60),
        }
    }
}

impl S3Timeouts {
    /// The longest one request can take against a store that stopped answering, tries and
    /// backoff included (the bound documented in `docs/operations.md`).
    pub fn worst_case(&self) -> Duration {
        let mut by_count = self.request;
        let mut backoff = INIT_BACKOFF;
        for _ in 0..self.max_retries {
            by_count += backoff + self.request;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
        by_count.min(self.retry_timeout + MAX_BACKOFF + self.request)
    }

    fn retry(&self) -> RetryConfig {
        RetryConfig {
            max_retries: self.max_retries,
            retry_timeout: self.retry_timeout,
            backoff: object_store::BackoffConfig {
                init_backoff: INIT_BACKOFF,
                max_backoff: MAX_BACKOFF,
                base: 2.0,
            },
        }
    }
}

impl std::fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Settings")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("bucket", &self.bucket)
            .field("secret_access_key", &"[redacted]")
            .finish()
    }
}

/// An S3 bucket: the adapter plus what the guard and presign need.
#[derive(Debug, Clone)]
pub struct S3Bucket {
    store: Arc<AmazonS3>,
    http: HttpClient,
    endpoint: String,
    bucket: String,
    region: String,
    credential: Arc<AwsCredential>,
}

/// Builds reqwest clients that never follow redirects: a redirect to another host or region
/// would move data outside what the guard checked.
#[derive(Debug)]
struct NoRedirects(S3Timeouts);

impl HttpConnector for NoRedirects {
    fn connect(&self, _options: &ClientOptions) -> object_store::Result<HttpClient> {
        Ok(HttpClient::new(no_redirect_client(&self.0)?))
    }
}

fn no_redirect_client(t: &S3Timeouts) -> object_store::Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(t.request)
        .connect_timeout(t.connect)
        .build()
        .map_err(|e| object_store::Error::Generic {
            store: "S3",
            source: Box::new(e),
        })
}

impl S3Bucket {
    /// Connects to a bucket (no request is made yet).
    pub fn connect(s: &S3Settings) -> Result<Self, AdapterError> {
        let store = AmazonS3Builder::new()
            .with_endpoint(&s.endpoint)
            .with_region(&s.region)
            .with_bucket_name(&s.bucket)
            .with_access_key_id(&s.access_key_id)
            .with_secret_access_key(s.secret_access_key.as_str())
            .with_allow_http(s.allow_http)
            .with_virtual_hosted_style_request(false)
            .with_retry(s.timeouts.retry())
            .with_http_connector(NoRedirects(s.timeouts))
            .build()
            .map_err(|e| {
                tracing::error!(error = %e, "cannot configure S3 store");
                AdapterError::Unavailable("invalid S3 configuration")
            })?;
        let http = HttpClient::new(no_redirect_client(&s.timeouts).map_err(AdapterError::from)?);
        Ok(Self {
            store: Arc::new(store),
            http,
            endpoint: s.endpoint.trim_end_matches('/').to_owned(),
            bucket: s.bucket.clone(),
            region: s.region.clone(),
            credential: Arc::new(AwsCredential {
                key_id: s.access_key_id.clone(),
                secret_key: s.secret_access_key.as_str().to_owned(),
                token: None,
            }),
        })
    }

    /// The adapter over this bucket.
    pub fn adapter(&self) -> ObjectStoreAdapter {
        ObjectStoreAdapter::with_signer(self.store.clone(), "s3")
    }

    /// Asks the bucket where it lives: a signed `GET /<bucket>?location`, read by
    /// `s3_answer::interpret`. Anything but a successful answer or a refusal that names
    /// the bucket's (other) region is an error saying why the location could not be checked.
    pub async fn bucket_location(&self) -> Result<BucketLocation, LocationError> {
        let mut req: HttpRequest = http::Request::builder()
            .method(http::Method::GET)
            .uri(self.location_url())
            .body(HttpRequestBody::empty())
            .map_err(|_| LocationError::Request("invalid URL"))?;
        AwsAuthorizer::new(&self.credential, "s3", &self.region)
            .try_authorize(&mut req, None)
            .map_err(|_| LocationError::Request("cannot sign"))?;
        let resp = self.http.execute(req).await.map_err(|e| {
            tracing::warn!(error = %e, "bucket location request failed");
            LocationError::Unreachable(unreachable_reason(&e))
        })?;
        let status = resp.status().as_u16();
        let header = resp
            .headers()
            .get(BUCKET_REGION_HEADER)
            .map(|v| v.as_bytes().to_vec());
        let body = resp
            .into_body()
            .bytes()
            .await
            .map_err(|_| LocationError::Unreachable("answer cut short"))?;
        crate::s3_answer::interpret(status, header.as_deref(), &body, &self.region)
    }

    /// `<endpoint>/<bucket>`, the base of raw requests.
    pub(crate) fn bucket_url(&self) -> Result<url::Url, AdapterError> {
        let bad = || AdapterError::Unavailable("invalid endpoint URL");
        let mut url = url::Url::parse(&self.endpoint).map_err(|_| bad())?;
        url.path_segments_mut()
            .map_err(|_| bad())?
            .pop_if_empty()
            .push(&self.bucket);
        Ok(url)
    }

    pub(crate) fn credential(&self) -> &AwsCredential {
        &self.credential
    }

    pub(crate) fn region(&self) -> &str {
        &self.region
    }

    pub(crate) fn http(&self) -> &HttpClient {
        &self.http
    }

    /// The URL of the location request (no credentials in it), for messages.
    pub fn location_url(&self) -> String {
        format!("{}/{}?location", self.endpoint, self.bucket)
    }
}

/// A short, fixed description of why no answer came back (the client error itself may name
/// hosts or paths).
fn unreachable_reason(e: &object_store::client::HttpError) -> &'static str {
    use object_store::client::HttpErrorKind as K;
    match e.kind() {
        K::Connect => "connection failed",
        K::Timeout => "timed out",
        K::Request => "request failed",
        K::Interrupted => "connection interrupted",
        K::Decode => "answer unreadable",
        _ => "request failed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_case_is_the_smaller_of_the_count_and_the_window() {
        // Defaults: five tries of 30 s and 1.5 s of backoff (151.5 s) against the window
        // (60 s + 5 s of backoff + a last 30 s try).
        assert_eq!(S3Timeouts::default().worst_case(), Duration::from_secs(95));
        let short = S3Timeouts {
            request: Duration::from_secs(2),
            connect: Duration::from_secs(1),
            max_retries: 1,
            retry_timeout: Duration::from_secs(3),
        };
        assert_eq!(short.worst_case(), Duration::from_millis(4100));
    }
}

//! S3-compatible stores (AWS, Scaleway, OVHcloud, Hetzner, Exoscale, IONOS, Garage, MinIO)
//! through object_store's `AmazonS3`, with an HTTP client that never follows redirects, and
//! the signed `GetBucketLocation` call the residency guard relies on.

use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3, AmazonS3Builder, AwsAuthorizer, AwsCredential};
use object_store::client::{HttpClient, HttpConnector, HttpRequest, HttpRequestBody};
use object_store::{ClientOptions, RetryConfig};
use zeroize::Zeroizing;

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

/// Request timeout for one S3 call.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Connect timeout.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

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
struct NoRedirects;

impl HttpConnector for NoRedirects {
    fn connect(&self, _options: &ClientOptions) -> object_store::Result<HttpClient> {
        Ok(HttpClient::new(no_redirect_client()?))
    }
}

fn no_redirect_client() -> object_store::Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .build()
        .map_err(|e| object_store::Error::Generic {
            store: "S3",
            source: Box::new(e),
        })
}

impl S3Bucket {
    /// Connects to a bucket (no request is made yet).
    pub fn connect(s: &S3Settings) -> Result<Self, AdapterError> {
        let retry = RetryConfig {
            max_retries: 4,
            retry_timeout: Duration::from_secs(60),
            backoff: object_store::BackoffConfig {
                init_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(5),
                base: 2.0,
            },
        };
        let store = AmazonS3Builder::new()
            .with_endpoint(&s.endpoint)
            .with_region(&s.region)
            .with_bucket_name(&s.bucket)
            .with_access_key_id(&s.access_key_id)
            .with_secret_access_key(s.secret_access_key.as_str())
            .with_allow_http(s.allow_http)
            .with_virtual_hosted_style_request(false)
            .with_retry(retry)
            .with_http_connector(NoRedirects)
            .build()
            .map_err(|e| {
                tracing::error!(error = %e, "cannot configure S3 store");
                AdapterError::Unavailable("invalid S3 configuration")
            })?;
        let http = HttpClient::new(no_redirect_client().map_err(AdapterError::from)?);
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

    /// Asks the bucket where it lives: a signed `GET /<bucket>?location`. Returns the
    /// `LocationConstraint` text exactly as answered (empty for AWS `us-east-1`).
    pub async fn bucket_location(&self) -> Result<String, AdapterError> {
        let url = format!("{}/{}?location", self.endpoint, self.bucket);
        let mut req: HttpRequest = http::Request::builder()
            .method(http::Method::GET)
            .uri(&url)
            .body(HttpRequestBody::empty())
            .map_err(|_| AdapterError::Unavailable("invalid location request"))?;
        AwsAuthorizer::new(&self.credential, "s3", &self.region)
            .try_authorize(&mut req, None)
            .map_err(|_| AdapterError::Unavailable("cannot sign location request"))?;
        let resp = self.http.execute(req).await.map_err(|e| {
            tracing::warn!(error = %e, "bucket location request failed");
            AdapterError::Unavailable("bucket location request failed")
        })?;
        let status = resp.status();
        let body = resp
            .into_body()
            .bytes()
            .await
            .map_err(|_| AdapterError::Unavailable("bucket location answer unreadable"))?;
        if !status.is_success() {
            tracing::warn!(%status, "bucket location request refused");
            // S3 servers (AWS, Garage) name their region in errors caused by a request signed
            // for another region: that is a mismatch, not an outage.
            if let Some(region) = error_region(&body) {
                return Err(AdapterError::WrongRegion(region));
            }
            return Err(match status.as_u16() {
                401 | 403 => AdapterError::PermissionDenied,
                404 => AdapterError::NotFound,
                _ => AdapterError::Unavailable("bucket location request refused"),
            });
        }
        parse_location(&body)
    }
}

/// Parses a `GetBucketLocation` answer strictly: exactly one `LocationConstraint` element
/// holding plain text (possibly empty). Anything else is an error, never a guess.
pub fn parse_location(body: &[u8]) -> Result<String, AdapterError> {
    use quick_xml::events::Event;
    let bad = || AdapterError::Unavailable("unexpected bucket location answer");
    if body.len() > 4096 {
        return Err(bad());
    }
    let mut reader = quick_xml::Reader::from_reader(body);
    let mut depth = 0usize;
    let mut seen_root = false;
    let mut text = String::new();
    loop {
        match reader.read_event().map_err(|_| bad())? {
            Event::Decl(_) | Event::Comment(_) => {}
            Event::Start(e) if depth == 0 && !seen_root => {
                if e.local_name().as_ref() != b"LocationConstraint" {
                    return Err(bad());
                }
                seen_root = true;
                depth = 1;
            }
            Event::Empty(e) if depth == 0 && !seen_root => {
                if e.local_name().as_ref() != b"LocationConstraint" {
                    return Err(bad());
                }
                seen_root = true;
            }
            Event::Text(t) if depth == 1 => {
                let s = t.decode().map_err(|_| bad())?;
                text.push_str(&s);
            }
            Event::Text(t) if depth == 0 => {
                if !t.iter().all(u8::is_ascii_whitespace) {
                    return Err(bad());
                }
            }
            Event::End(_) if depth == 1 => depth = 0,
            Event::Eof if depth == 0 && seen_root => break,
            _ => return Err(bad()),
        }
    }
    Ok(text)
}

/// The `<Region>` of an S3 error document, if it has one (bounded, ASCII, no markup).
fn error_region(body: &[u8]) -> Option<String> {
    use quick_xml::events::Event;
    if body.len() > 8192 {
        return None;
    }
    let mut reader = quick_xml::Reader::from_reader(body);
    let mut path: Vec<Vec<u8>> = Vec::new();
    loop {
        match reader.read_event().ok()? {
            Event::Start(e) => path.push(e.local_name().as_ref().to_vec()),
            Event::End(_) => {
                path.pop();
            }
            Event::Text(t) if path == [b"Error".to_vec(), b"Region".to_vec()] => {
                let region = t.decode().ok()?.trim().to_owned();
                let plain = !region.is_empty()
                    && region.len() <= 64
                    && region
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-');
                return plain.then_some(region);
            }
            Event::Eof => return None,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{error_region, parse_location};

    #[test]
    fn region_hints_in_errors() {
        let garage = br#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>AuthorizationHeaderMalformed</Code><Message>x</Message><Region>us-east-1</Region></Error>"#;
        assert_eq!(error_region(garage).as_deref(), Some("us-east-1"));
        assert_eq!(
            error_region(b"<Error><Code>AccessDenied</Code></Error>"),
            None
        );
        assert_eq!(error_region(b"<Error><Region>a b</Region></Error>"), None);
        assert_eq!(error_region(b"<X><Region>eu-west-1</Region></X>"), None);
    }

    #[test]
    fn location_answers() {
        let ns = "http://s3.amazonaws.com/doc/2006-03-01/";
        let ok = |b: &str| parse_location(b.as_bytes()).unwrap();
        assert_eq!(
            ok(&format!(
                r#"<?xml version="1.0" encoding="UTF-8"?><LocationConstraint xmlns="{ns}">fr-par</LocationConstraint>"#
            )),
            "fr-par"
        );
        assert_eq!(ok(&format!(r#"<LocationConstraint xmlns="{ns}"/>"#)), "");
        assert_eq!(ok("<LocationConstraint></LocationConstraint>"), "");
        assert_eq!(ok("<LocationConstraint>EU</LocationConstraint>"), "EU");
        for bad in [
            "",
            "fr-par",
            "<Error><Code>AccessDenied</Code></Error>",
            "<LocationConstraint>fr-par</LocationConstraint><LocationConstraint>us-east-1</LocationConstraint>",
            "<LocationConstraint><X>fr-par</X></LocationConstraint>",
            "<LocationConstraint>fr-par",
            "<Other>fr-par</Other>",
        ] {
            assert!(parse_location(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}

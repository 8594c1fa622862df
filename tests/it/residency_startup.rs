//! Start-up against an S3 endpoint that gives canned answers: which answers to
//! GetBucketLocation admit a store, which refuse it as a residency denial (exit 3), and which as
//! a location that could not be checked (exit 1). Garage's own answers are covered against a
//! real Garage in the `garage` tests; this file covers the AWS-only forms (redirects, the
//! region header) and malformed bodies.

use std::sync::Arc;

use bitatlas::audit::MemorySink;
use bitatlas::config::ConfigFile;
use bitatlas::residency::ResidencyCode;
use bitatlas::runtime::{self, StartupError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::config::Config;

/// Serves `response` (a whole HTTP/1.1 response) to every connection; returns the endpoint.
async fn canned(response: String) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let response = response.clone();
            tokio::spawn(async move {
                let mut seen = Vec::new();
                let mut buf = [0u8; 4096];
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = sock.write_all(response.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    format!("http://{addr}")
}

fn response(status: &str, headers: &[(&str, &str)], body: &str) -> String {
    let mut r = format!(
        "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        r.push_str(&format!("{k}: {v}\r\n"));
    }
    r.push_str("\r\n");
    r.push_str(body);
    r
}

fn config(endpoint: &str, dir: &std::path::Path) -> ConfigFile {
    let id = dir.join("id");
    let secret = dir.join("secret");
    for (path, value) in [(&id, "GK0123456789abcdef01234567"), (&secret, "s3cr3t")] {
        std::fs::write(path, value).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
    }
    Config::new()
        .set("stores.eu", "provider", "garage")
        .set("stores.eu", "region", "fr-par")
        .set("stores.eu", "endpoint", endpoint)
        .set("stores.eu", "bucket", "b")
        .set("stores.eu", "country", "FR")
        .set(
            "stores.eu.credentials",
            "access_key_id_file",
            id.display().to_string(),
        )
        .set(
            "stores.eu.credentials",
            "secret_access_key_file",
            secret.display().to_string(),
        )
        .tenant("acme", "eu")
        .file()
}

async fn start(answer: String) -> Result<(), StartupError> {
    let endpoint = canned(answer).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&endpoint, dir.path());
    let sink = Box::new(Arc::new(MemorySink::default()));
    runtime::build_with_sink(&cfg, dir.path(), sink)
        .await
        .map(|_| ())
}

const GOOD: &str = r#"<?xml version="1.0" encoding="UTF-8"?><LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/">fr-par</LocationConstraint>"#;

fn error_doc(code: &str, region: &str) -> String {
    format!("<Error><Code>{code}</Code><Message>m</Message><Region>{region}</Region></Error>")
}

#[tokio::test]
async fn a_matching_answer_admits_the_store() {
    start(response("200 OK", &[], GOOD))
        .await
        .expect("admitted");
}

#[tokio::test]
async fn answers_naming_another_region_are_residency_denials() {
    let answers = [
        response(
            "200 OK",
            &[],
            "<LocationConstraint>us-east-1</LocationConstraint>",
        ),
        response(
            "400 Bad Request",
            &[],
            &error_doc("AuthorizationHeaderMalformed", "us-east-1"),
        ),
        response(
            "301 Moved Permanently",
            &[("x-amz-bucket-region", "eu-west-2")],
            "<Error><Code>PermanentRedirect</Code></Error>",
        ),
        response(
            "307 Temporary Redirect",
            &[("x-amz-bucket-region", "eu-central-1")],
            "",
        ),
        // A successful status with a body that is not a location document.
        response(
            "200 OK",
            &[],
            "<!-- us-east-1 --><LocationConstraint>fr-par</LocationConstraint>",
        ),
        response("200 OK", &[], "<html>welcome</html>"),
    ];
    for answer in answers {
        let e = start(answer.clone()).await.expect_err("refused");
        assert!(matches!(e, StartupError::Denied { .. }), "{answer:?}: {e}");
        assert_eq!(
            e.residency_code(),
            Some(ResidencyCode::LocationMismatch),
            "{e}"
        );
        assert!(
            e.to_string()
                .starts_with("store eu: POLICY_LOCATION_MISMATCH"),
            "{e}"
        );
        assert!(e.to_string().contains("/b?location"), "{e}");
    }
}

#[tokio::test]
async fn other_answers_are_locations_that_could_not_be_checked() {
    let cases = [
        (
            response("404 Not Found", &[], &error_doc("NoSuchBucket", "fr-par")),
            "HTTP 404 NoSuchBucket",
        ),
        (
            response("403 Forbidden", &[], &error_doc("AccessDenied", "fr-par")),
            "HTTP 403 AccessDenied",
        ),
        (
            response(
                "403 Forbidden",
                &[],
                &error_doc("SignatureDoesNotMatch", "us-east-1"),
            ),
            "HTTP 403 SignatureDoesNotMatch",
        ),
        (
            response(
                "403 Forbidden",
                &[],
                &error_doc("InvalidAccessKeyId", "fr-par"),
            ),
            "HTTP 403 InvalidAccessKeyId",
        ),
        (
            response(
                "500 Internal Server Error",
                &[],
                &error_doc("InternalError", "fr-par"),
            ),
            "HTTP 500 InternalError",
        ),
        (
            response("503 Service Unavailable", &[], ""),
            "HTTP 503 (no S3 error code)",
        ),
        // A region complaint naming the region we signed for is no evidence either.
        (
            response(
                "400 Bad Request",
                &[],
                &error_doc("AuthorizationHeaderMalformed", "fr-par"),
            ),
            "HTTP 400 AuthorizationHeaderMalformed",
        ),
        // A redirect without the region header.
        (
            response(
                "301 Moved Permanently",
                &[],
                "<Error><Code>PermanentRedirect</Code></Error>",
            ),
            "HTTP 301 PermanentRedirect",
        ),
    ];
    for (answer, want) in cases {
        let e = start(answer).await.expect_err("refused");
        assert!(matches!(e, StartupError::Unverified { .. }), "{e}");
        assert_eq!(e.residency_code(), None, "{e}");
        let text = e.to_string();
        assert!(
            text.starts_with("store eu: the bucket location could not be verified"),
            "{text}"
        );
        assert!(
            text.contains("/b?location") && text.contains(want),
            "{want}: {text}"
        );
    }
}

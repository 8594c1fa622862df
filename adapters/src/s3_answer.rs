//! What an S3 server's answer to `GetBucketLocation` establishes about where a bucket is.
//!
//! Only two answers count as evidence of a location:
//!
//! * a successful (2xx) answer whose body passes [`parse_location`](crate::parse_location);
//! * a refusal that S3 servers send *because* the request was signed for, or sent to, another
//!   region than the bucket's, naming that region: `400 AuthorizationHeaderMalformed` (AWS and
//!   Garage, with `<Region>` in the error document), `IllegalLocationConstraintException` with
//!   `<Region>`, and a `301`/`307` redirect carrying the `x-amz-bucket-region` header (AWS).
//!   The named region must differ from the one the request was signed for, and the header and
//!   the document must agree when both name one. Such an answer can only prove a *mismatch*:
//!   a store that refuses our requests is never admitted.
//!
//! Every other answer — `404 NoSuchBucket`, `403 AccessDenied` / `InvalidAccessKeyId` /
//! `SignatureDoesNotMatch` (also sent to keys that may write but not read the bucket), `5xx`,
//! no answer at all — means the location could not be checked, whatever `<Region>` the error
//! document carries (Garage puts its own region in every error).

use quick_xml::events::Event;

use crate::location::LocationParseError;

/// Header AWS sets on redirects (and some errors) to the bucket's region.
pub const BUCKET_REGION_HEADER: &str = "x-amz-bucket-region";

/// The location a `GetBucketLocation` request established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BucketLocation {
    /// A successful answer: the `LocationConstraint` value exactly as answered (`""` means
    /// `us-east-1`, `EU` means `eu-west-1`).
    Answered(String),
    /// The server refused the request because the bucket is in another region, and named it.
    /// Evidence that the location differs from the configured one, never that it matches.
    OtherRegion {
        /// The region the server named (plain: lower-case letters, digits, `-`, `_`).
        region: String,
        /// HTTP status of the refusal.
        status: u16,
        /// S3 error code of the refusal (or `redirect` for a bare redirect).
        code: String,
    },
}

/// Why the location of a bucket could not be checked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocationError {
    /// The request could not be built or signed.
    #[error("the location request could not be prepared ({0})")]
    Request(&'static str),
    /// No HTTP answer: connection refused, timeout, TLS or DNS failure.
    #[error("no answer from the server ({0})")]
    Unreachable(&'static str),
    /// The server answered with a status and error code that say nothing about the region.
    #[error("the server answered HTTP {status} {}", code.as_deref().unwrap_or("(no S3 error code)"))]
    Refused {
        /// HTTP status.
        status: u16,
        /// S3 error code from the error document (plain ASCII letters and digits), if any.
        code: Option<String>,
    },
    /// A successful status with a body that is not a strict `LocationConstraint` document
    /// (the runtime treats it as a location mismatch: something other than the configured S3
    /// server answered).
    #[error("the server answered HTTP {status} with an {cause}")]
    Malformed {
        /// HTTP status.
        status: u16,
        /// What was wrong with the body.
        cause: LocationParseError,
    },
}

impl LocationError {
    /// The HTTP status of the answer, when there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            LocationError::Refused { status, .. } | LocationError::Malformed { status, .. } => {
                Some(*status)
            }
            LocationError::Request(_) | LocationError::Unreachable(_) => None,
        }
    }

    /// The S3 error code of the answer, when it had one.
    pub fn s3_code(&self) -> Option<&str> {
        match self {
            LocationError::Refused { code, .. } => code.as_deref(),
            _ => None,
        }
    }
}

/// Reads one answer to a `GetBucketLocation` request signed for `signed_region`.
/// `bucket_region_header` is the raw `x-amz-bucket-region` header, if present.
pub fn interpret(
    status: u16,
    bucket_region_header: Option<&[u8]>,
    body: &[u8],
    signed_region: &str,
) -> Result<BucketLocation, LocationError> {
    if (200..300).contains(&status) {
        return crate::location::parse_location(body)
            .map(BucketLocation::Answered)
            .map_err(|cause| LocationError::Malformed { status, cause });
    }
    let doc = ErrorDocument::read(body);
    let code = doc.as_ref().and_then(|d| d.code.clone());
    let refused = || LocationError::Refused {
        status,
        code: code.clone(),
    };
    let header = match bucket_region_header {
        None => None,
        // A header that is there but not a plain region name is not evidence of anything.
        Some(raw) => Some(plain_region(raw).ok_or_else(refused)?),
    };
    let doc_region = doc.as_ref().and_then(|d| d.region.clone());
    let regional = match (status, code.as_deref()) {
        (301 | 307, _) => header.is_some(),
        (400, Some("AuthorizationHeaderMalformed")) => true,
        (_, Some("IllegalLocationConstraintException")) => true,
        _ => false,
    };
    if !regional {
        return Err(refused());
    }
    let region = match (header, doc_region) {
        (Some(h), Some(d)) if h != d => return Err(refused()),
        (Some(r), _) | (None, Some(r)) => r,
        (None, None) => return Err(refused()),
    };
    // Naming the region we signed for is no complaint about the region.
    if region == signed_region {
        return Err(refused());
    }
    Ok(BucketLocation::OtherRegion {
        region,
        status,
        code: code.unwrap_or_else(|| "redirect".into()),
    })
}

/// The parts of an S3 error document this module looks at.
struct ErrorDocument {
    code: Option<String>,
    region: Option<String>,
}

impl ErrorDocument {
    /// Reads `<Error><Code>..</Code><Region>..</Region></Error>`; `None` when the body is not
    /// such a document. Fields that are not plain tokens are left out.
    fn read(body: &[u8]) -> Option<ErrorDocument> {
        if body.len() > 8192 {
            return None;
        }
        let mut reader = quick_xml::Reader::from_reader(body);
        let mut path: Vec<Vec<u8>> = Vec::new();
        let mut doc = ErrorDocument {
            code: None,
            region: None,
        };
        let mut root_seen = false;
        loop {
            match reader.read_event().ok()? {
                Event::Start(e) => {
                    if path.is_empty() {
                        if root_seen || e.name().as_ref() != b"Error" {
                            return None;
                        }
                        root_seen = true;
                    }
                    path.push(e.name().as_ref().to_vec());
                }
                Event::End(_) => {
                    path.pop();
                }
                Event::Text(t) if path.len() == 2 => {
                    let field = match path[1].as_slice() {
                        b"Code" => &mut doc.code,
                        b"Region" => &mut doc.region,
                        _ => continue,
                    };
                    let parsed = match path[1].as_slice() {
                        b"Code" => plain_code(t.as_ref()),
                        _ => plain_region(t.as_ref()),
                    };
                    // A repeated field makes the document ambiguous: keep neither.
                    if field.is_some() {
                        return None;
                    }
                    *field = Some(parsed?);
                }
                Event::Eof => return root_seen.then_some(doc),
                _ => {}
            }
        }
    }
}

/// An S3 error code: 1 to 64 ASCII letters and digits.
fn plain_code(raw: &[u8]) -> Option<String> {
    let ok = !raw.is_empty() && raw.len() <= 64 && raw.iter().all(u8::is_ascii_alphanumeric);
    ok.then(|| String::from_utf8_lossy(raw).into_owned())
}

/// A region name as servers name them: 1 to 64 lower-case ASCII letters, digits, `-`, `_`.
fn plain_region(raw: &[u8]) -> Option<String> {
    let ok = !raw.is_empty()
        && raw.len() <= 64
        && raw
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_'));
    ok.then(|| String::from_utf8_lossy(raw).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn garage_error(code: &str, region: &str) -> String {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>m</Message><Resource>/b</Resource><Region>{region}</Region></Error>"#
        )
    }

    fn refused(status: u16, code: Option<&str>) -> Result<BucketLocation, LocationError> {
        Err(LocationError::Refused {
            status,
            code: code.map(str::to_owned),
        })
    }

    #[test]
    fn a_successful_answer_is_evidence() {
        let body = br#"<?xml version="1.0" encoding="UTF-8"?><LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/">fr-par</LocationConstraint>"#;
        assert_eq!(
            interpret(200, None, body, "fr-par"),
            Ok(BucketLocation::Answered("fr-par".into()))
        );
        assert!(matches!(
            interpret(
                200,
                None,
                b"<LocationConstraint><!--x-->fr-par</LocationConstraint>",
                "fr-par"
            ),
            Err(LocationError::Malformed { status: 200, .. })
        ));
    }

    #[test]
    fn region_complaints_name_another_region() {
        let body = garage_error("AuthorizationHeaderMalformed", "us-east-1");
        assert_eq!(
            interpret(400, None, body.as_bytes(), "fr-par"),
            Ok(BucketLocation::OtherRegion {
                region: "us-east-1".into(),
                status: 400,
                code: "AuthorizationHeaderMalformed".into()
            })
        );
        let redirect = br#"<Error><Code>PermanentRedirect</Code><Endpoint>s3.eu-west-2.amazonaws.com</Endpoint></Error>"#;
        assert_eq!(
            interpret(301, Some(b"eu-west-2"), redirect, "eu-west-1"),
            Ok(BucketLocation::OtherRegion {
                region: "eu-west-2".into(),
                status: 301,
                code: "PermanentRedirect".into()
            })
        );
        assert_eq!(
            interpret(307, Some(b"us-east-1"), b"", "eu-west-1"),
            Ok(BucketLocation::OtherRegion {
                region: "us-east-1".into(),
                status: 307,
                code: "redirect".into()
            })
        );
        let illegal = garage_error("IllegalLocationConstraintException", "eu-central-2");
        assert!(matches!(
            interpret(400, None, illegal.as_bytes(), "eu-central-1"),
            Ok(BucketLocation::OtherRegion { region, .. }) if region == "eu-central-2"
        ));
    }

    #[test]
    fn other_refusals_are_not_evidence_whatever_region_they_carry() {
        // Garage names its own region in every error document.
        for (status, code) in [
            (404, "NoSuchBucket"),
            (403, "AccessDenied"),
            (403, "InvalidAccessKeyId"),
            (403, "SignatureDoesNotMatch"),
            (500, "InternalError"),
            (503, "SlowDown"),
            (400, "InvalidRequest"),
        ] {
            let body = garage_error(code, "fr-par");
            assert_eq!(
                interpret(status, None, body.as_bytes(), "fr-par"),
                refused(status, Some(code)),
                "{status} {code}"
            );
            let body = garage_error(code, "us-east-1");
            assert_eq!(
                interpret(status, None, body.as_bytes(), "fr-par"),
                refused(status, Some(code)),
                "{status} {code} naming another region"
            );
        }
        assert_eq!(
            interpret(502, None, b"<html>bad gateway</html>", "x"),
            refused(502, None)
        );
        assert_eq!(interpret(500, None, b"", "x"), refused(500, None));
    }

    #[test]
    fn doubtful_region_complaints_are_refusals() {
        let code = Some("AuthorizationHeaderMalformed");
        // Naming the region we signed for, or no region at all.
        let same = garage_error("AuthorizationHeaderMalformed", "fr-par");
        assert_eq!(
            interpret(400, None, same.as_bytes(), "fr-par"),
            refused(400, code)
        );
        let none = b"<Error><Code>AuthorizationHeaderMalformed</Code></Error>";
        assert_eq!(interpret(400, None, none, "fr-par"), refused(400, code));
        // Header and document disagree.
        let doc = garage_error("AuthorizationHeaderMalformed", "eu-west-1");
        assert_eq!(
            interpret(400, Some(b"eu-west-2"), doc.as_bytes(), "fr-par"),
            refused(400, code)
        );
        // A region that is not a plain name, twice, or in the wrong place.
        for body in [
            "<Error><Code>AuthorizationHeaderMalformed</Code><Region>us east</Region></Error>",
            "<Error><Code>AuthorizationHeaderMalformed</Code><Region>US-EAST-1</Region></Error>",
            "<Error><Code>AuthorizationHeaderMalformed</Code><Region>a</Region><Region>b</Region></Error>",
            "<Error><Code>AuthorizationHeaderMalformed</Code><X><Region>us-east-1</Region></X></Error>",
            "<X><Code>AuthorizationHeaderMalformed</Code><Region>us-east-1</Region></X>",
        ] {
            assert!(
                matches!(
                    interpret(400, None, body.as_bytes(), "fr-par"),
                    Err(LocationError::Refused { .. })
                ),
                "{body}"
            );
        }
        // A redirect without the header, or with a header that is not a region name.
        assert_eq!(interpret(301, None, b"", "eu-west-1"), refused(301, None));
        assert_eq!(
            interpret(301, Some(b"eu west"), b"", "eu-west-1"),
            refused(301, None)
        );
        // The wrong status for the code.
        let doc = garage_error("AuthorizationHeaderMalformed", "us-east-1");
        assert_eq!(
            interpret(403, None, doc.as_bytes(), "fr-par"),
            refused(403, code)
        );
    }

    #[test]
    fn error_codes_are_plain() {
        let weird = "<Error><Code>Access Denied&amp;</Code></Error>";
        assert_eq!(
            interpret(403, None, weird.as_bytes(), "x"),
            refused(403, None)
        );
        let long = format!("<Error><Code>{}</Code></Error>", "A".repeat(65));
        assert_eq!(
            interpret(403, None, long.as_bytes(), "x"),
            refused(403, None)
        );
    }
}

//! Clean-up of multipart uploads a crash left unfinished: `ListMultipartUploads` under a
//! prefix, then `AbortMultipartUpload` for each one started before a cut-off.
//!
//! An unfinished upload is never visible as an object, but the store keeps (and bills) its
//! parts until it is aborted. A server that was killed mid-put cannot abort its own upload,
//! so the next start-up does. The cut-off keeps the uploads of another server sharing the
//! bucket that are still in progress: only uploads started well before this start-up go.

use chrono::{DateTime, Utc};
use object_store::aws::AwsAuthorizer;
use object_store::client::{HttpRequest, HttpRequestBody};
use quick_xml::events::Event;

use crate::s3::S3Bucket;
use crate::{AdapterError, StorageName};

/// Largest listing answer read, in bytes (a page of 1000 uploads is about 400 KB).
const MAX_LISTING: usize = 4 << 20;
/// Most listing pages read in one clean-up (1000 uploads each).
const MAX_PAGES: usize = 100;

/// One unfinished upload as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    /// Object key it would create.
    pub key: String,
    /// The store's id of the upload.
    pub upload_id: String,
    /// When it was started.
    pub initiated: DateTime<Utc>,
}

/// One page of a `ListMultipartUploads` answer.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct UploadPage {
    /// The uploads on this page.
    pub uploads: Vec<Upload>,
    /// Where the next page starts (key marker, upload id marker), if the listing goes on.
    pub next: Option<(String, String)>,
}

/// Why a listing answer was not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unexpected multipart upload listing: {0}")]
pub struct UploadsParseError(&'static str);

/// Reads a `ListMultipartUploadsResult` body. Elements it does not use are skipped; an
/// `Upload` without a key, an id or a readable `Initiated` time is an error, as are entity
/// references (no BitAtlas name needs one) and a truncated listing without its markers.
pub fn parse_uploads(body: &[u8]) -> Result<UploadPage, UploadsParseError> {
    let bad = |why| Err(UploadsParseError(why));
    if body.len() > MAX_LISTING {
        return bad("too large");
    }
    let mut reader = quick_xml::Reader::from_reader(body);
    let mut path: Vec<Vec<u8>> = Vec::new();
    let mut page = UploadPage::default();
    let (mut key, mut id, mut initiated) = (None, None, None);
    let (mut truncated, mut next_key, mut next_id) = (false, None, None);
    loop {
        match reader.read_event() {
            Err(_) => return bad("not well-formed XML"),
            Ok(Event::Start(e)) => path.push(e.name().as_ref().to_vec()),
            Ok(Event::End(_)) => {
                if path.pop().as_deref() == Some(b"Upload".as_slice()) && path.len() == 1 {
                    let (Some(key), Some(upload_id), Some(initiated)) =
                        (key.take(), id.take(), initiated.take())
                    else {
                        return bad("an upload without its key, id or start time");
                    };
                    page.uploads.push(Upload {
                        key,
                        upload_id,
                        initiated,
                    });
                }
            }
            Ok(Event::Text(t)) => {
                let text = std::str::from_utf8(t.as_ref())
                    .map_err(|_| UploadsParseError("text is not UTF-8"))?;
                let at: Vec<&[u8]> = path.iter().map(Vec::as_slice).collect();
                match at.as_slice() {
                    [_, b"Upload", b"Key"] => key = Some(text.to_owned()),
                    [_, b"Upload", b"UploadId"] => id = Some(text.to_owned()),
                    [_, b"Upload", b"Initiated"] => {
                        let t = DateTime::parse_from_rfc3339(text)
                            .map_err(|_| UploadsParseError("start time unreadable"))?;
                        initiated = Some(t.with_timezone(&Utc));
                    }
                    [_, b"IsTruncated"] => truncated = text == "true",
                    [_, b"NextKeyMarker"] => next_key = Some(text.to_owned()),
                    [_, b"NextUploadIdMarker"] => next_id = Some(text.to_owned()),
                    _ => {}
                }
            }
            Ok(Event::GeneralRef(_)) => return bad("entity or character reference"),
            Ok(Event::DocType(_)) => return bad("DOCTYPE"),
            Ok(Event::Eof) if path.is_empty() => break,
            Ok(Event::Eof) => return bad("truncated"),
            Ok(_) => {}
        }
    }
    if truncated {
        match (next_key, next_id) {
            (Some(k), Some(i)) if !k.is_empty() => page.next = Some((k, i)),
            _ => return bad("a truncated listing without its next markers"),
        }
    }
    Ok(page)
}

impl S3Bucket {
    /// Every unfinished multipart upload under `prefix` (a folder of storage names).
    pub async fn list_uploads(&self, prefix: &StorageName) -> Result<Vec<Upload>, AdapterError> {
        let under = format!("{}/", prefix.as_str());
        let mut uploads = Vec::new();
        let mut marker: Option<(String, String)> = None;
        for _ in 0..MAX_PAGES {
            let mut url = self.bucket_url()?;
            {
                let mut q = url.query_pairs_mut();
                q.append_pair("uploads", "");
                q.append_pair("prefix", &under);
                if let Some((k, i)) = &marker {
                    q.append_pair("key-marker", k);
                    q.append_pair("upload-id-marker", i);
                }
            }
            let (status, body) = self.send(http::Method::GET, url).await?;
            if status != 200 {
                return Err(AdapterError::Unavailable("upload listing refused"));
            }
            let page = parse_uploads(&body).map_err(|e| {
                tracing::warn!(error = %e, "multipart upload listing not understood");
                AdapterError::Unavailable("upload listing not understood")
            })?;
            // Only our own names, whatever the answer lists.
            uploads.extend(
                page.uploads
                    .into_iter()
                    .filter(|u| u.key.starts_with(&under)),
            );
            match page.next {
                Some(next) if Some(&next) != marker.as_ref() => marker = Some(next),
                _ => break,
            }
        }
        Ok(uploads)
    }

    /// Aborts every unfinished multipart upload under `prefix` started before `cutoff`.
    /// Returns how many were aborted; stops at the first request that fails.
    pub async fn abort_stale_uploads(
        &self,
        prefix: &StorageName,
        cutoff: DateTime<Utc>,
    ) -> Result<usize, AdapterError> {
        let mut aborted = 0;
        for up in self.list_uploads(prefix).await? {
            if up.initiated >= cutoff {
                continue;
            }
            let mut url = self.bucket_url()?;
            url.path_segments_mut()
                .map_err(|_| AdapterError::Unavailable("invalid endpoint URL"))?
                .extend(up.key.split('/'));
            url.query_pairs_mut().append_pair("uploadId", &up.upload_id);
            match self.send(http::Method::DELETE, url).await?.0 {
                // 404: it finished or was aborted meanwhile.
                200 | 204 | 404 => aborted += 1,
                _ => return Err(AdapterError::Unavailable("upload abort refused")),
            }
        }
        Ok(aborted)
    }

    /// Sends one signed request with an empty body; returns the status and the body.
    async fn send(
        &self,
        method: http::Method,
        url: url::Url,
    ) -> Result<(u16, bytes::Bytes), AdapterError> {
        let mut req: HttpRequest = http::Request::builder()
            .method(method)
            .uri(url.as_str())
            .body(HttpRequestBody::empty())
            .map_err(|_| AdapterError::Unavailable("invalid request URL"))?;
        AwsAuthorizer::new(self.credential(), "s3", self.region())
            .try_authorize(&mut req, None)
            .map_err(|_| AdapterError::Unavailable("cannot sign"))?;
        let resp = self.http().execute(req).await.map_err(|e| {
            tracing::warn!(error = %e, "upload clean-up request failed");
            AdapterError::Unavailable("upload clean-up request failed")
        })?;
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .bytes()
            .await
            .map_err(|_| AdapterError::Unavailable("answer cut short"))?;
        Ok((status, body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Bucket>b</Bucket><KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker>
  <NextKeyMarker>t/ab/o/2</NextKeyMarker><NextUploadIdMarker>id2</NextUploadIdMarker>
  <MaxUploads>1000</MaxUploads><IsTruncated>true</IsTruncated>
  <Upload><Key>t/ab/o/1</Key><UploadId>id1</UploadId>
    <Initiator><ID>x</ID></Initiator><StorageClass>STANDARD</StorageClass>
    <Initiated>2026-12-01T10:00:00.000Z</Initiated></Upload>
  <Upload><Key>t/ab/o/2</Key><UploadId>id2</UploadId>
    <Initiated>2026-12-02T10:00:00Z</Initiated></Upload>
</ListMultipartUploadsResult>"#;

    #[test]
    fn a_page_of_uploads_is_read_with_its_markers() {
        let page = parse_uploads(PAGE.as_bytes()).unwrap();
        assert_eq!(page.uploads.len(), 2);
        assert_eq!(page.uploads[0].key, "t/ab/o/1");
        assert_eq!(page.uploads[0].upload_id, "id1");
        assert_eq!(
            page.uploads[1].initiated.to_rfc3339(),
            "2026-12-02T10:00:00+00:00"
        );
        assert_eq!(page.next, Some(("t/ab/o/2".into(), "id2".into())));
    }

    #[test]
    fn the_last_page_has_no_next_marker() {
        let last = PAGE.replace("<IsTruncated>true", "<IsTruncated>false");
        assert_eq!(parse_uploads(last.as_bytes()).unwrap().next, None);
    }

    #[test]
    fn broken_listings_are_errors() {
        for (body, why) in [
            (PAGE.replace("<UploadId>id1</UploadId>", ""), "without"),
            (
                PAGE.replace("2026-12-01T10:00:00.000Z", "yesterday"),
                "start time",
            ),
            (
                PAGE.replace("<NextKeyMarker>t/ab/o/2</NextKeyMarker>", ""),
                "markers",
            ),
            (PAGE.replace("t/ab/o/1", "t/&amp;/o/1"), "reference"),
            (
                PAGE.replace("</ListMultipartUploadsResult>", ""),
                "truncated",
            ),
            (PAGE[..PAGE.len() - 20].to_owned(), "well-formed"),
        ] {
            let e = parse_uploads(body.as_bytes()).unwrap_err();
            assert!(e.to_string().contains(why), "{why}: {e}");
        }
    }
}

//! `get`: fetch, verify and open an object, or only the chunks a range needs.

use bitatlas_adapters::StorageName;

use super::error::{ErrorCode, ServiceError, not_found};
use super::{
    ByteRange, Caller, DEFAULT_CONTENT_TYPE, GetRequest, Object, ObjectKey, Progress, Service,
    Tenant, Tool,
};
use crate::crypto::{self, Context, ObjectInfo};

/// One object's address: who, where, under which name.
pub(super) struct Target<'a> {
    pub(super) tenant: &'a Tenant,
    pub(super) key: ObjectKey,
    pub(super) name: StorageName,
    /// Size of the sealed envelope in the store.
    pub(super) stored: u64,
}

impl Target<'_> {
    pub(super) fn ctx(&self) -> Context<'_> {
        Context {
            tenant: &self.tenant.id,
            store: self.tenant.store_name(),
            key: self.key.as_str(),
        }
    }

    /// The envelope's header and chunk table, enough to know the plaintext size.
    pub(super) async fn prefix(&self) -> Result<bytes::Bytes, ServiceError> {
        let len = (crypto::Layout::PREFIX_MAX as u64).min(self.stored);
        Ok(self.tenant.adapter().get_range(&self.name, 0..len).await?)
    }
}

impl Service {
    /// Reads an object, or a byte range of it. Nothing is returned unless every byte
    /// returned verified.
    pub async fn get(&self, caller: &Caller, request: GetRequest) -> Result<Object, ServiceError> {
        self.get_reporting(caller, request, None).await
    }

    /// [`Service::get`], telling `progress` of every piece of a large object read, and
    /// stopping when it says the call was cancelled.
    pub async fn get_reporting(
        &self,
        caller: &Caller,
        request: GetRequest,
        progress: Option<&dyn Progress>,
    ) -> Result<Object, ServiceError> {
        let key = request.key.clone();
        self.settle_key(caller, &key).await;
        self.run(caller, Tool::Get, Some(&key), async |tenant| {
            let (object, copy) =
                bitatlas_adapters::tracking(self.read_object(tenant, request, progress)).await;
            let mut object = object?;
            object.served_by = tenant.served_by(copy);
            Ok(object)
        })
        .await
    }

    async fn read_object(
        &self,
        tenant: &Tenant,
        request: GetRequest,
        progress: Option<&dyn Progress>,
    ) -> Result<Object, ServiceError> {
        {
            let parsed = ObjectKey::parse(&request.key)?;
            let name = tenant.name_of(parsed.as_str())?;
            let stored = match tenant.adapter().head(&name).await {
                Ok(meta) => meta.size,
                Err(bitatlas_adapters::AdapterError::NotFound) => {
                    return Err(not_found(parsed.as_str()));
                }
                Err(e) => return Err(e.into()),
            };
            let target = Target {
                tenant,
                key: parsed,
                name,
                stored,
            };
            let max = self.limits().max_inline_bytes;
            // No answer is larger than the envelope or the limit.
            let budget = self.inner.answers.take(stored.min(max)).await;
            let (info, size, data, range) = match request.range {
                None => {
                    let (info, data) = super::get_whole::open_whole(&target, max, progress).await?;
                    (info, data.len() as u64, data, None)
                }
                Some(r) => open_range(&target, r, max).await?,
            };
            Ok(Object {
                key: request.key,
                size,
                content_type: info
                    .content_type
                    .unwrap_or_else(|| DEFAULT_CONTENT_TYPE.to_owned()),
                metadata: info.metadata,
                range,
                data,
                served_by: None,
                _budget: budget,
            })
        }
    }
}

/// Only the chunks `r` touches are fetched and opened.
async fn open_range(
    t: &Target<'_>,
    r: ByteRange,
    max: u64,
) -> Result<(ObjectInfo, u64, Vec<u8>, Option<ByteRange>), ServiceError> {
    let prefix = t.prefix().await?;
    let layout = crypto::Layout::parse(&prefix)?;
    let ring = t.tenant.keys_for(&prefix).await?;
    let (info, opener) = crypto::open_info(&ring, &t.tenant.id, t.tenant.store_name(), &prefix)?;
    if info.key != t.key.as_str() {
        return Err(crypto::CryptoError::Integrity.into());
    }
    let size = layout.plaintext_len(t.stored)?;
    let plain = resolve_range(r, size)?;
    if plain.end - plain.start > max {
        return Err(too_large(plain.end - plain.start, max));
    }
    let data = if plain.is_empty() {
        Vec::new()
    } else {
        let span = layout.chunk_span(t.stored, plain.clone())?;
        let bytes = t
            .tenant
            .adapter()
            .get_range(&t.name, span.ciphertext.clone())
            .await?;
        opener.open_span(&t.ctx(), &span, &bytes, plain.clone())?
    };
    let range = ByteRange {
        start: plain.start,
        end: Some(plain.end),
    };
    Ok((info, size, data, Some(range)))
}

/// The plaintext bytes a range asks for in an object of `size` bytes: the end is clamped to
/// the object, an empty range at the start of an empty object is fine, anything reversed or
/// starting past the end is refused, saying which.
pub(super) fn resolve_range(r: ByteRange, size: u64) -> Result<std::ops::Range<u64>, ServiceError> {
    if let Some(end) = r.end
        && end < r.start
    {
        return Err(ServiceError::new(
            ErrorCode::InvalidRange,
            format!(
                "range end {end} is before its start {}; end is exclusive and must be at least start",
                r.start
            ),
        ));
    }
    let end = r.end.unwrap_or(size).min(size);
    if r.start > end || (r.start == end && r.start != 0 && r.start >= size) {
        return Err(ServiceError::new(
            ErrorCode::InvalidRange,
            format!(
                "range starts at {} but the object has {size} bytes",
                r.start
            ),
        ));
    }
    Ok(r.start..end)
}

pub(super) fn too_large(size: u64, max: u64) -> ServiceError {
    ServiceError::new(
        ErrorCode::TooLarge,
        format!(
            "{size} bytes exceed the inline limit of {max}; read it in parts with `range`, save \
             it to a file with `save_to` (files root), or download it through a `transfer` link"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(start: u64, end: Option<u64>) -> ByteRange {
        ByteRange { start, end }
    }

    #[test]
    fn ranges_resolve_or_say_what_is_wrong() {
        assert_eq!(resolve_range(range(0, None), 10).unwrap(), 0..10);
        assert_eq!(resolve_range(range(2, Some(99)), 10).unwrap(), 2..10);
        assert_eq!(resolve_range(range(0, Some(0)), 0).unwrap(), 0..0);
        let reversed = resolve_range(range(10, Some(2)), 100).unwrap_err();
        assert_eq!(reversed.code, ErrorCode::InvalidRange);
        assert!(reversed.message.contains("before its start"), "{reversed}");
        let past = resolve_range(range(11, None), 10).unwrap_err();
        assert!(past.message.contains("has 10 bytes"), "{past}");
    }
}

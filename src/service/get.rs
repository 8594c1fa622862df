//! `get`: fetch, verify and open an object, or only the chunks a range needs.

use std::sync::Arc;

use base64::Engine;

use super::error::{ErrorCode, ServiceError};
use super::metadata::is_textual;
use super::put::DEFAULT_BINARY_TYPE;
use super::seal_write::INLINE_CRYPTO_BYTES;
use super::{ByteRange, Caller, Encoding, GetBytes, GetInput, GetOutput, ObjectKey, Service};
use crate::crypto::{self, Context};

impl Service {
    /// Reads an object (or a byte range of it), as text or base64 (the `get` tool).
    pub async fn get(&self, caller: &Caller, input: GetInput) -> Result<GetOutput, ServiceError> {
        let got = self.get_bytes(caller, input).await?;
        let (encoding, data) = encode(&got.content_type, got.data);
        Ok(GetOutput {
            key: got.key,
            size: got.size,
            content_type: got.content_type,
            metadata: got.metadata,
            range: got.range,
            encoding,
            data,
        })
    }

    /// Reads an object (or a byte range of it) as bytes: [`Service::get`] without the wire
    /// encoding.
    pub async fn get_bytes(
        &self,
        caller: &Caller,
        input: GetInput,
    ) -> Result<GetBytes, ServiceError> {
        let key_for_audit = input.key.clone();
        let call = self.begin(caller, "get", Some(&key_for_audit), false)?;
        let tenant = call.tenant;
        let result = async {
            let key = ObjectKey::parse(&input.key)?;
            let name = tenant.name_of(key.as_str())?;
            let ctx = Context {
                tenant: &tenant.id,
                store: tenant.store_name(),
                key: key.as_str(),
            };
            let max = self.limits().max_inline_bytes;
            let stored = tenant.adapter().head(&name).await?.size;
            let prefix_len = (crypto::Layout::PREFIX_MAX as u64).min(stored);

            let (info, size, data, range) = match input.range {
                None => {
                    // The plaintext is never larger than what is stored: only an object stored
                    // above the limit needs its header read to tell whether it fits.
                    if stored > max {
                        let layout = crypto::Layout::parse(
                            &tenant.adapter().get_range(&name, 0..prefix_len).await?,
                        )?;
                        let size = layout.plaintext_len(stored)?;
                        if size > max {
                            return Err(too_large(size, max));
                        }
                    }
                    // Opened in place in the buffer the store filled (no second copy of the
                    // object); large objects on the blocking pool.
                    let bytes = Vec::from(tenant.adapter().get(&name).await?);
                    let opened = if bytes.len() as u64 <= INLINE_CRYPTO_BYTES {
                        crypto::open_owned(&tenant.keyring, &ctx, bytes)?
                    } else {
                        let keyring = Arc::clone(&tenant.keyring);
                        let (t, s, k) = (
                            tenant.id.clone(),
                            tenant.store_name().to_owned(),
                            key.as_str().to_owned(),
                        );
                        tokio::task::spawn_blocking(move || {
                            let ctx = Context {
                                tenant: &t,
                                store: &s,
                                key: &k,
                            };
                            crypto::open_owned(&keyring, &ctx, bytes)
                        })
                        .await
                        .map_err(|_| {
                            ServiceError::new(ErrorCode::Internal, "opening task failed")
                        })??
                    };
                    let size = opened.data.len() as u64;
                    if size > max {
                        return Err(too_large(size, max));
                    }
                    (opened.info, size, opened.data, None)
                }
                Some(r) => {
                    let prefix = tenant.adapter().get_range(&name, 0..prefix_len).await?;
                    let layout = crypto::Layout::parse(&prefix)?;
                    let (info, opener) = crypto::open_info(
                        &tenant.keyring,
                        &tenant.id,
                        tenant.store_name(),
                        &prefix,
                    )?;
                    if info.key != key.as_str() {
                        return Err(crypto::CryptoError::Integrity.into());
                    }
                    let size = layout.plaintext_len(stored)?;
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
                    if end - r.start > max {
                        return Err(too_large(end - r.start, max));
                    }
                    let plain = r.start..end;
                    let data = if plain.is_empty() {
                        Vec::new()
                    } else {
                        let span = layout.chunk_span(stored, plain.clone())?;
                        let bytes = tenant
                            .adapter()
                            .get_range(&name, span.ciphertext.clone())
                            .await?;
                        opener.open_span(&ctx, &span, &bytes, plain)?
                    };
                    let range = ByteRange {
                        start: r.start,
                        end: Some(end),
                    };
                    (info, size, data, Some(range))
                }
            };
            let content_type = info
                .content_type
                .unwrap_or_else(|| DEFAULT_BINARY_TYPE.to_owned());
            let returned = data.len() as u64;
            let out = GetBytes {
                key: input.key,
                size,
                content_type,
                metadata: info.metadata,
                range,
                data,
            };
            Ok((out, Some(returned)))
        }
        .await;
        self.finish(call, result)
    }
}

fn too_large(size: u64, max: u64) -> ServiceError {
    ServiceError::new(
        ErrorCode::TooLarge,
        format!(
            "{size} bytes exceed the inline limit of {max}; read it in parts with `range`, or \
             download it with a presigned URL and `bitatlas open`"
        ),
    )
}

fn encode(content_type: &str, data: Vec<u8>) -> (Encoding, String) {
    if is_textual(content_type) {
        match String::from_utf8(data) {
            Ok(text) => return (Encoding::Utf8, text),
            Err(e) => {
                let data = e.into_bytes();
                return (
                    Encoding::Base64,
                    base64::engine::general_purpose::STANDARD.encode(data),
                );
            }
        }
    }
    (
        Encoding::Base64,
        base64::engine::general_purpose::STANDARD.encode(data),
    )
}

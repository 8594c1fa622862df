//! Placeholder until the envelope module lands (same API).
#![allow(missing_docs, dead_code)]
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

#[derive(Debug, Clone, Copy, Default)]
pub enum Algorithm {
    #[default]
    Aes256Gcm,
}
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("integrity check failed")]
    Integrity,
    #[error("io")]
    Io(#[from] std::io::Error),
}
impl CryptoError {
    pub fn code(&self) -> &'static str {
        "INTEGRITY_FAILURE"
    }
}
pub struct Keyring;
impl Keyring {
    pub fn from_env(_v: &str) -> Result<Keyring, CryptoError> {
        Ok(Keyring)
    }
    pub fn load_or_create(_p: &Path, _a: Algorithm) -> Result<(Keyring, bool), CryptoError> {
        Ok((Keyring, false))
    }
    pub fn object_name(&self, tenant: &str, key: &str) -> String {
        let mut h = 0u64;
        for b in tenant.bytes().chain([0]).chain(key.bytes()) {
            h = h.wrapping_mul(1099511628211).wrapping_add(b as u64);
        }
        format!("{h:016x}")
    }
}
pub struct Context<'a> {
    pub tenant: &'a str,
    pub store: &'a str,
    pub key: &'a str,
}
#[derive(Debug, Clone)]
pub struct ObjectInfo {
    pub key: String,
    pub content_type: Option<String>,
    pub metadata: BTreeMap<String, String>,
}
pub struct Opened {
    pub info: ObjectInfo,
    pub data: Vec<u8>,
}
pub fn seal(
    _k: &Keyring,
    ctx: &Context,
    ct: Option<&str>,
    md: &BTreeMap<String, String>,
    pt: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let info = serde_json::json!({"key": ctx.key, "ct": ct, "md": md}).to_string();
    let mut out = (info.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(info.as_bytes());
    out.extend_from_slice(pt);
    Ok(out)
}
fn split(b: &[u8]) -> Result<(ObjectInfo, usize), CryptoError> {
    let n = u32::from_be_bytes(
        b.get(..4)
            .ok_or(CryptoError::Integrity)?
            .try_into()
            .unwrap(),
    ) as usize;
    let v: serde_json::Value =
        serde_json::from_slice(b.get(4..4 + n).ok_or(CryptoError::Integrity)?)
            .map_err(|_| CryptoError::Integrity)?;
    Ok((
        ObjectInfo {
            key: v["key"].as_str().unwrap_or_default().into(),
            content_type: v["ct"].as_str().map(Into::into),
            metadata: serde_json::from_value(v["md"].clone()).unwrap_or_default(),
        },
        4 + n,
    ))
}
pub fn open(_k: &Keyring, ctx: &Context, b: &[u8]) -> Result<Opened, CryptoError> {
    let (info, n) = split(b)?;
    if info.key != ctx.key {
        return Err(CryptoError::Integrity);
    }
    Ok(Opened {
        info,
        data: b[n..].to_vec(),
    })
}
pub struct Layout(u64);
pub struct ChunkSpan {
    pub ciphertext: Range<u64>,
    pub first_chunk: u64,
}
impl Layout {
    pub const PREFIX_MAX: usize = 16384;
    pub fn parse(b: &[u8]) -> Result<Layout, CryptoError> {
        Ok(Layout(split(b)?.1 as u64))
    }
    pub fn prefix_len(&self) -> u64 {
        self.0
    }
    pub fn plaintext_len(&self, total: u64) -> Result<u64, CryptoError> {
        Ok(total - self.0)
    }
    pub fn chunk_span(&self, _total: u64, r: Range<u64>) -> Result<ChunkSpan, CryptoError> {
        Ok(ChunkSpan {
            ciphertext: self.0 + r.start..self.0 + r.end,
            first_chunk: 0,
        })
    }
}
pub struct Opener;
impl Opener {
    pub fn open_span(
        &self,
        _c: &Context,
        _s: &ChunkSpan,
        b: &[u8],
        _r: Range<u64>,
    ) -> Result<Vec<u8>, CryptoError> {
        Ok(b.to_vec())
    }
}
pub fn open_info(
    _k: &Keyring,
    _t: &str,
    _s: &str,
    b: &[u8],
) -> Result<(ObjectInfo, Opener), CryptoError> {
    Ok((split(b)?.0, Opener))
}

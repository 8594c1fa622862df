//! `locate`: the right to know where data is. For one object, or every object under a
//! folder, a residency receipt: each copy's store, provider, region, city and country,
//! whether that country was verified (GetBucketLocation) or attested by the operator, the
//! jurisdiction of the provider's owner, and the key that wraps the object's data key (its
//! KEK id and provider). Read from the sealed header of each copy, so it says what is stored,
//! not what the configuration intends.

use bitatlas_adapters::{Adapter, AdapterError};
use chrono::{DateTime, Utc};

use super::call::Audited;
use super::error::{ErrorCode, ServiceError};
use super::list::page;
use super::{Caller, ListRequest, ObjectKey, Service, Tenant, Tool};
use crate::crypto::{self, Layout};
use crate::residency::{Decision, Placement};

/// What to locate: one key, or a folder (paged like `list`).
#[derive(Debug, Clone, Default)]
pub struct LocateRequest {
    /// One object.
    pub key: Option<String>,
    /// Every object under this folder (`""` or absent with no key: all of them).
    pub prefix: Option<String>,
    /// Receipts per page (as `list`: default 100, at most 1000).
    pub limit: Option<u32>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// Receipts, one per object.
#[derive(Debug, Clone)]
pub struct Located {
    /// One receipt per object.
    pub receipts: Vec<Receipt>,
    /// Where the next page starts, when there is one.
    pub next_cursor: Option<String>,
}

impl Audited for Located {}

/// Where one object is, copy by copy.
#[derive(Debug, Clone)]
pub struct Receipt {
    /// The object key.
    pub key: String,
    /// Plaintext size in bytes.
    pub size: u64,
    /// When the current version was written (the store's clock).
    pub written: DateTime<Utc>,
    /// Every copy (the home store; replicas when the tenant has them).
    pub copies: Vec<CopyReceipt>,
}

/// One copy of an object.
#[derive(Debug, Clone)]
pub struct CopyReceipt {
    /// Store name.
    pub store: String,
    /// Provider id.
    pub provider: String,
    /// Region id.
    pub region: String,
    /// City of the region, when the catalog knows it.
    pub city: Option<String>,
    /// ISO 3166-1 alpha-2 country of the bytes.
    pub country: String,
    /// True when the country is the operator's attestation, false when it was verified
    /// against the provider (GetBucketLocation and the catalog).
    pub attested: bool,
    /// Jurisdiction of the provider's owner, when known.
    pub owner_jurisdiction: Option<String>,
    /// The endpoint host the bytes are sent to (object stores).
    pub endpoint_host: Option<String>,
    /// Who holds the key-encryption key (`keyring`: the tenant's keyring file; `transit`: a
    /// keyring wrapped by OpenBao / Vault Transit; `env`: an environment variable).
    pub key_provider: String,
    /// Where that provider keeps the key: the keyring file, or the Transit key's URL.
    pub key_location: String,
    /// The provider's key version wrapping the keyring (Transit), when it has versions.
    pub key_version: Option<u64>,
    /// The envelope format version of this copy (1 or 2).
    pub envelope_version: u8,
    /// The id of the key-encryption key wrapping this copy's data key.
    pub kek_id: String,
    /// The payload AEAD.
    pub algorithm: String,
    /// Sealed size in the store.
    pub stored_size: u64,
}

impl Service {
    /// Residency receipts for `request.key`, or for the objects under `request.prefix`.
    pub async fn locate(
        &self,
        caller: &Caller,
        request: LocateRequest,
    ) -> Result<Located, ServiceError> {
        if let Some(key) = request.key.clone() {
            if request.prefix.is_some() || request.cursor.is_some() {
                return Err(ServiceError::new(
                    ErrorCode::InvalidArgument,
                    "give `key` or `prefix` (with `cursor`), not both",
                ));
            }
            self.settle_key(caller, &key).await;
            return self
                .run(caller, Tool::Locate, Some(&key), async |tenant| {
                    let parsed = ObjectKey::parse(&key)?;
                    let receipt = receipt(tenant, parsed.as_str()).await?.ok_or_else(|| {
                        ServiceError::new(
                            ErrorCode::NotFound,
                            format!(
                                "no object at {:?}: never stored, deleted or erased; no copy \
                                 of it is held in any store of this tenant",
                                parsed.as_str()
                            ),
                        )
                    })?;
                    Ok(Located {
                        receipts: vec![receipt],
                        next_cursor: None,
                    })
                })
                .await;
        }
        if request.cursor.is_none() {
            self.settle_all(caller).await;
        }
        self.run(caller, Tool::Locate, None, async |tenant| {
            let listed = page(
                tenant,
                ListRequest {
                    prefix: request.prefix.clone(),
                    delimiter: false,
                    limit: request.limit,
                    cursor: request.cursor.clone(),
                },
            )
            .await?;
            let mut receipts = Vec::new();
            for o in &listed.objects {
                // An object deleted since the index was read is simply not there any more.
                if let Some(r) = receipt(tenant, &o.key).await? {
                    receipts.push(r);
                }
            }
            Ok(Located {
                receipts,
                next_cursor: listed.next_cursor,
            })
        })
        .await
    }
}

/// The receipt of `key`, read from the stored header of each copy (the home store, then each
/// replica); `None` when no copy holds the object.
async fn receipt(tenant: &Tenant, key: &str) -> Result<Option<Receipt>, ServiceError> {
    let name = tenant.name_of(key)?;
    let stores: Vec<(&Placement, &Decision, &dyn Adapter)> = match tenant.copies() {
        Some(copies) => copies
            .placements()
            .zip(copies.adapters())
            .map(|((p, d), a)| (p, d, a.as_ref()))
            .collect(),
        None => vec![(
            tenant.placement(),
            tenant.store.decision(),
            tenant.store.adapter().as_ref(),
        )],
    };
    let mut receipt: Option<Receipt> = None;
    for (placement, decision, adapter) in stores {
        let Some((copy, size, written)) =
            copy_receipt(tenant, key, &name, placement, decision, adapter).await?
        else {
            continue;
        };
        match &mut receipt {
            Some(r) => r.copies.push(copy),
            None => {
                receipt = Some(Receipt {
                    key: key.to_owned(),
                    size,
                    written,
                    copies: vec![copy],
                })
            }
        }
    }
    Ok(receipt)
}

/// One copy's receipt and the object's size and write time, read from that copy alone.
async fn copy_receipt(
    tenant: &Tenant,
    key: &str,
    name: &bitatlas_adapters::StorageName,
    placement: &Placement,
    decision: &Decision,
    adapter: &dyn Adapter,
) -> Result<Option<(CopyReceipt, u64, DateTime<Utc>)>, ServiceError> {
    let meta = match adapter.head(name).await {
        Ok(m) => m,
        Err(AdapterError::NotFound) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let len = (Layout::PREFIX_MAX as u64).min(meta.size);
    let prefix = adapter.get_range(name, 0..len).await?;
    let layout = Layout::parse(&prefix)?;
    // Opening the info block proves the copy is this tenant's object under this key.
    let ring = tenant.keys_for(&prefix).await?;
    let (info, _) = crypto::open_info(&ring, &tenant.id, tenant.store_name(), &prefix)?;
    if info.key != key {
        return Err(crypto::CryptoError::Integrity.into());
    }
    let keys = tenant.key_provider();
    let copy = CopyReceipt {
        store: placement.store.clone(),
        provider: placement.provider.clone(),
        region: placement.region.clone(),
        city: decision.city.clone(),
        country: placement.country.clone(),
        attested: placement.attested,
        owner_jurisdiction: decision.owner_jurisdiction.clone(),
        endpoint_host: placement.endpoint_host.clone(),
        key_provider: keys.kind.to_owned(),
        key_location: keys.location,
        key_version: keys.version,
        envelope_version: layout.version(),
        kek_id: layout.kek_id().to_owned(),
        algorithm: layout.algorithm().as_str().to_owned(),
        stored_size: meta.size,
    };
    Ok(Some((
        copy,
        layout.plaintext_len(meta.size)?,
        meta.last_modified,
    )))
}

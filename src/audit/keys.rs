//! Audit keys: one 32-byte secret per data directory, from which the pseudonym key, the
//! checkpoint key and the erasure-receipt key are derived. Separate from every tenant's data
//! keys.

use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

/// The keys the audit log (and the erasure receipts it vouches for) use.
pub struct AuditKeys {
    pseudonym: Zeroizing<[u8; 32]>,
    checkpoint: Zeroizing<[u8; 32]>,
    receipt: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for AuditKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditKeys([redacted])")
    }
}

impl AuditKeys {
    /// Derives both keys from the audit secret.
    pub fn derive(secret: &[u8; 32]) -> Self {
        let hk = Hkdf::<Sha256>::new(Some(b"bitatlas/audit/v1"), secret);
        let mut pseudonym = Zeroizing::new([0u8; 32]);
        let mut checkpoint = Zeroizing::new([0u8; 32]);
        // 32-byte outputs are always within HKDF-SHA256's limit.
        hk.expand(b"pseudonym", &mut pseudonym[..])
            .expect("HKDF output length");
        hk.expand(b"checkpoint", &mut checkpoint[..])
            .expect("HKDF output length");
        let mut receipt = Zeroizing::new([0u8; 32]);
        hk.expand(b"erasure-receipt", &mut receipt[..])
            .expect("HKDF output length");
        Self {
            pseudonym,
            checkpoint,
            receipt,
        }
    }

    /// The MAC of an erasure receipt's canonical text (HMAC-SHA256, hex).
    pub fn receipt_mac(&self, body: &str) -> String {
        hex::encode(self.receipt_tag(body))
    }

    /// Verifies an erasure receipt's MAC in constant time.
    pub fn verify_receipt(&self, body: &str, mac: &str) -> bool {
        let Ok(given) = hex::decode(mac) else {
            return false;
        };
        let expected = self.receipt_tag(body);
        use subtle::ConstantTimeEq;
        given.len() == expected.len() && bool::from(given.ct_eq(&expected))
    }

    fn receipt_tag(&self, body: &str) -> Vec<u8> {
        self.tag(b"bitatlas-erasure-receipt/1\0", body)
    }

    /// The MAC of an override grant's canonical text (HMAC-SHA256, hex): the same key as the
    /// receipts, another domain.
    pub fn grant_mac(&self, body: &str) -> String {
        hex::encode(self.tag(b"bitatlas-override-grant/1\0", body))
    }

    /// Verifies an override grant's MAC in constant time.
    pub fn verify_grant(&self, body: &str, mac: &str) -> bool {
        let Ok(given) = hex::decode(mac) else {
            return false;
        };
        let expected = self.tag(b"bitatlas-override-grant/1\0", body);
        use subtle::ConstantTimeEq;
        given.len() == expected.len() && bool::from(given.ct_eq(&expected))
    }

    fn tag(&self, domain: &[u8], body: &str) -> Vec<u8> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.receipt[..])
            .expect("HMAC accepts any key length");
        mac.update(domain);
        mac.update(body.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// A keyed pseudonym of `value` in `domain` (first 16 bytes of HMAC-SHA256, hex).
    pub fn pseudonym(&self, domain: &str, value: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.pseudonym[..])
            .expect("HMAC accepts any key length");
        mac.update(&(domain.len() as u32).to_be_bytes());
        mac.update(domain.as_bytes());
        mac.update(value.as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..16])
    }

    /// The checkpoint MAC over a chain name, a sequence number and the hash of the line
    /// before the checkpoint.
    pub fn checkpoint_mac(&self, chain: &str, seq: u64, prev: &[u8; 32]) -> String {
        hex::encode(self.checkpoint_tag(chain, seq, prev))
    }

    /// Verifies a checkpoint MAC in constant time.
    pub fn verify_checkpoint(&self, chain: &str, seq: u64, prev: &[u8; 32], mac: &str) -> bool {
        let Ok(given) = hex::decode(mac) else {
            return false;
        };
        let expected = self.checkpoint_tag(chain, seq, prev);
        use subtle::ConstantTimeEq;
        given.len() == expected.len() && bool::from(given.ct_eq(&expected))
    }

    fn checkpoint_tag(&self, chain: &str, seq: u64, prev: &[u8; 32]) -> Vec<u8> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.checkpoint[..])
            .expect("HMAC accepts any key length");
        mac.update(b"bitatlas-audit-checkpoint/1");
        mac.update(&(chain.len() as u32).to_be_bytes());
        mac.update(chain.as_bytes());
        mac.update(&seq.to_be_bytes());
        mac.update(prev);
        mac.finalize().into_bytes().to_vec()
    }
}

//! `audit verify`: checks the hash chain, the checkpoint MACs and the checkpoint side file.

use std::collections::{BTreeMap, HashMap};

use sha2::{Digest, Sha256};

use super::{AuditKeys, AuditRecord};

/// What an intact trail contains.
#[derive(Debug, Default, serde::Serialize)]
pub struct VerifyReport {
    /// Records checked.
    pub records: u64,
    /// Per chain: last sequence number, last checkpoint, whether the trail ends with one.
    pub chains: BTreeMap<String, ChainHead>,
    /// Whether checkpoint MACs were verified (a key was available).
    pub macs_verified: bool,
}

/// The head of one chain.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct ChainHead {
    /// Last sequence number.
    pub last_seq: u64,
    /// Sequence number of the last checkpoint.
    pub last_checkpoint: Option<u64>,
    /// True when the last record is a checkpoint (clean shutdown); otherwise the records after
    /// the last checkpoint are chained but not yet authenticated.
    pub sealed: bool,
}

/// The first problem found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VerifyFailure {
    /// 1-based line in the trail (0 when the problem is in the side file).
    pub line: usize,
    /// Sequence number of the first bad record, when known.
    pub seq: Option<u64>,
    /// What is wrong.
    pub reason: String,
}

impl std::fmt::Display for VerifyFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.seq {
            Some(seq) => write!(f, "record {seq} (line {}): {}", self.line, self.reason),
            None => write!(f, "line {}: {}", self.line, self.reason),
        }
    }
}

struct ChainState {
    next_seq: u64,
    prev: [u8; 32],
    head: ChainHead,
    lines: HashMap<u64, String>,
}

/// Verifies a trail (the audit file's text), optionally against its checkpoint side file and
/// with the audit keys (without keys, checkpoint MACs are not checked).
pub fn verify(
    trail: &str,
    checkpoints: Option<&str>,
    keys: Option<&AuditKeys>,
) -> Result<VerifyReport, VerifyFailure> {
    let mut chains: BTreeMap<String, ChainState> = BTreeMap::new();
    let mut report = VerifyReport {
        macs_verified: keys.is_some(),
        ..Default::default()
    };
    let fail = |line: usize, seq: Option<u64>, reason: &str| VerifyFailure {
        line,
        seq,
        reason: reason.to_owned(),
    };
    for (i, line) in trail.split_terminator('\n').enumerate() {
        let n = i + 1;
        let rec: AuditRecord =
            serde_json::from_str(line).map_err(|_| fail(n, None, "not a valid audit record"))?;
        let st = chains
            .entry(rec.chain.clone())
            .or_insert_with(|| ChainState {
                next_seq: 1,
                prev: [0; 32],
                head: ChainHead::default(),
                lines: HashMap::new(),
            });
        if rec.seq != st.next_seq {
            let why = if rec.seq > st.next_seq {
                format!("records {}..{} are missing", st.next_seq, rec.seq - 1)
            } else {
                format!("out of order (expected {})", st.next_seq)
            };
            return Err(fail(n, Some(rec.seq), &why));
        }
        if rec.prev != hex::encode(st.prev) {
            return Err(fail(
                n,
                Some(rec.seq.saturating_sub(1).max(1)),
                "hash chain broken: this record or the one before it was altered, inserted or removed",
            ));
        }
        if rec.tool == "checkpoint" {
            let Some(mac) = &rec.mac else {
                return Err(fail(n, Some(rec.seq), "checkpoint without MAC"));
            };
            if let Some(k) = keys
                && !k.verify_checkpoint(&rec.chain, rec.seq, &st.prev, mac)
            {
                return Err(fail(n, Some(rec.seq), "checkpoint MAC does not verify"));
            }
            st.head.last_checkpoint = Some(rec.seq);
        } else if rec.mac.is_some() {
            return Err(fail(
                n,
                Some(rec.seq),
                "MAC on a record that is not a checkpoint",
            ));
        }
        st.head.sealed = rec.tool == "checkpoint";
        st.head.last_seq = rec.seq;
        st.prev = Sha256::digest(line.as_bytes()).into();
        st.next_seq += 1;
        if rec.tool == "checkpoint" {
            st.lines.insert(rec.seq, line.to_owned());
        }
        report.records += 1;
    }
    if let Some(side) = checkpoints {
        for line in side.split_terminator('\n') {
            let rec: AuditRecord = serde_json::from_str(line)
                .map_err(|_| fail(0, None, "checkpoint side file holds an invalid line"))?;
            let Some(st) = chains.get(&rec.chain) else {
                return Err(fail(
                    0,
                    Some(rec.seq),
                    &format!(
                        "chain {} is missing from the trail (truncated or removed)",
                        rec.chain
                    ),
                ));
            };
            match st.lines.get(&rec.seq) {
                Some(l) if l == line => {}
                Some(_) => {
                    return Err(fail(
                        0,
                        Some(rec.seq),
                        "checkpoint differs from its side-file copy",
                    ));
                }
                None if rec.seq > st.head.last_seq => {
                    return Err(fail(
                        0,
                        Some(st.head.last_seq + 1),
                        &format!(
                            "trail truncated: it ends at record {} but checkpoint {} exists",
                            st.head.last_seq, rec.seq
                        ),
                    ));
                }
                None => {
                    return Err(fail(0, Some(rec.seq), "checkpoint missing from the trail"));
                }
            }
        }
    }
    report.chains = chains.into_iter().map(|(k, v)| (k, v.head)).collect();
    Ok(report)
}

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
    /// 1-based line in the trail where the problem is. For a truncated trail, the line where
    /// the first missing record belonged (one past the last line). `None` only when the
    /// problem is in the checkpoint side file alone (an unreadable line there).
    pub line: Option<usize>,
    /// Sequence number of the first bad record, when known.
    pub seq: Option<u64>,
    /// Chain of the bad record, when known.
    pub chain: Option<String>,
    /// 1-based line in the checkpoint side file, when the problem was found through it.
    pub checkpoint_line: Option<usize>,
    /// What is wrong.
    pub reason: String,
}

impl std::fmt::Display for VerifyFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut at = Vec::new();
        if let Some(line) = self.line {
            at.push(format!("line {line}"));
        }
        if let Some(c) = self.checkpoint_line {
            at.push(format!("checkpoint file line {c}"));
        }
        let at = at.join(", ");
        match self.seq {
            Some(seq) => write!(f, "record {seq} ({at}): {}", self.reason),
            None => write!(f, "{at}: {}", self.reason),
        }
    }
}

struct ChainState {
    next_seq: u64,
    prev: [u8; 32],
    head: ChainHead,
    /// Checkpoint lines by sequence number.
    lines: HashMap<u64, String>,
    /// Trail line of each record, by sequence number - 1.
    line_of: Vec<usize>,
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
        line: Some(line),
        seq,
        chain: None,
        checkpoint_line: None,
        reason: reason.to_owned(),
    };
    let mut total_lines = 0;
    let lines = trail.split_terminator('\n').count();
    let torn_end = !trail.is_empty() && !trail.ends_with('\n');
    for (i, line) in trail.split_terminator('\n').enumerate() {
        let n = i + 1;
        total_lines = n;
        let rec: AuditRecord = serde_json::from_str(line).map_err(|_| {
            if torn_end && n == lines {
                let reason = format!(
                    "torn last line: {} bytes without a line end, a write cut short by a crash; \
                     no caller was told it was recorded, and `bitatlas serve` moves it to \
                     <trail>.torn when it starts",
                    line.len()
                );
                fail(n, None, &reason)
            } else {
                fail(n, None, "not a valid audit record")
            }
        })?;
        let fail = |line: usize, seq: Option<u64>, reason: &str| VerifyFailure {
            chain: Some(rec.chain.clone()),
            ..fail(line, seq, reason)
        };
        let st = chains
            .entry(rec.chain.clone())
            .or_insert_with(|| ChainState {
                next_seq: 1,
                prev: [0; 32],
                head: ChainHead::default(),
                lines: HashMap::new(),
                line_of: Vec::new(),
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
            // Named at the earlier of the two records (the first that may have been altered),
            // with its own line.
            let (line, seq) = match st.line_of.last() {
                Some(&prev_line) => (prev_line, rec.seq - 1),
                None => (n, rec.seq),
            };
            return Err(fail(
                line,
                Some(seq),
                "hash chain broken: this record or the one after it was altered, inserted or removed",
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
        st.line_of.push(n);
        if rec.tool == "checkpoint" {
            st.lines.insert(rec.seq, line.to_owned());
        }
        report.records += 1;
    }
    if let Some(side) = checkpoints {
        check_side_file(side, &chains, total_lines)?;
    }
    report.chains = chains.into_iter().map(|(k, v)| (k, v.head)).collect();
    Ok(report)
}

/// Every checkpoint copied to the side file must be in the trail, byte for byte.
fn check_side_file(
    side: &str,
    chains: &BTreeMap<String, ChainState>,
    total_lines: usize,
) -> Result<(), VerifyFailure> {
    for (i, line) in side.split_terminator('\n').enumerate() {
        let side_line = i + 1;
        let fail = |line: Option<usize>, seq: Option<u64>, chain: Option<&str>, reason: String| {
            VerifyFailure {
                line,
                seq,
                chain: chain.map(str::to_owned),
                checkpoint_line: Some(side_line),
                reason,
            }
        };
        let rec: AuditRecord = serde_json::from_str(line).map_err(|_| {
            fail(
                None,
                None,
                None,
                "checkpoint side file holds an invalid line".into(),
            )
        })?;
        let chain = Some(rec.chain.as_str());
        // Where a missing record belonged: one past the end of the trail.
        let past_end = Some(total_lines + 1);
        let Some(st) = chains.get(&rec.chain) else {
            return Err(fail(
                past_end,
                Some(1),
                chain,
                format!(
                    "trail truncated or removed: chain {} has no record in the trail (which \
                     ends after line {total_lines}), but its checkpoint {} exists",
                    rec.chain, rec.seq
                ),
            ));
        };
        let line_of = |seq: u64| {
            usize::try_from(seq)
                .ok()
                .and_then(|s| st.line_of.get(s.wrapping_sub(1)))
                .copied()
        };
        match st.lines.get(&rec.seq) {
            Some(l) if l == line => {}
            Some(_) => {
                return Err(fail(
                    line_of(rec.seq),
                    Some(rec.seq),
                    chain,
                    "checkpoint differs from its side-file copy".into(),
                ));
            }
            None if rec.seq > st.head.last_seq => {
                let last_line = line_of(st.head.last_seq).unwrap_or(0);
                return Err(fail(
                    past_end,
                    Some(st.head.last_seq + 1),
                    chain,
                    format!(
                        "trail truncated: chain {} ends at record {} (line {last_line}) but \
                         checkpoint {} exists; records {}..{} are missing",
                        rec.chain,
                        st.head.last_seq,
                        rec.seq,
                        st.head.last_seq + 1,
                        rec.seq
                    ),
                ));
            }
            None => {
                return Err(fail(
                    line_of(rec.seq),
                    Some(rec.seq),
                    chain,
                    "checkpoint missing from the trail (another record stands in its place)".into(),
                ));
            }
        }
    }
    Ok(())
}

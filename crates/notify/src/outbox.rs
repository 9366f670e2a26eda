//! The durable outbox: `<data_dir>/webhooks/outbox.jsonl` (each message
//! for each webhook, appended before the caller goes on) and
//! `acked.jsonl` (the sequence numbers of the ones done: delivered or
//! dead-lettered). Both are emptied once every message is done, and at
//! each start the outbox keeps only what is not done.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The directory under the data directory.
pub const DIR: &str = "webhooks";
/// Messages that failed after the retry budget, one JSON per line.
pub const DEAD_FILE: &str = "dead.jsonl";
const OUTBOX_FILE: &str = "outbox.jsonl";
const ACKED_FILE: &str = "acked.jsonl";

/// One message for one webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    /// Its place in the outbox.
    pub seq: u64,
    /// The message id: `{alert_id}/{state}/{emitted_at}`.
    pub id: String,
    /// The webhook's name.
    pub webhook: String,
    /// The body, JSON.
    pub body: String,
}

#[derive(Serialize, Deserialize)]
struct Ack {
    seq: u64,
}

pub(crate) struct Outbox {
    dir: PathBuf,
    outbox: File,
    acked: File,
    next_seq: u64,
    /// Sequence numbers written and not done.
    pending: BTreeSet<u64>,
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

fn lines<T: for<'de> Deserialize<'de>>(path: &Path) -> io::Result<Vec<T>> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for line in BufReader::new(file).lines() {
        let line = line?;
        // A line cut short by a crash is skipped: its message was never
        // handed over (it is written before the caller goes on).
        match serde_json::from_str(&line) {
            Ok(v) => out.push(v),
            Err(e) if !line.trim().is_empty() => {
                tracing::warn!(file = %path.display(), "skipping a damaged line: {e}");
            }
            Err(_) => {}
        }
    }
    Ok(out)
}

impl Outbox {
    /// Opens the outbox under `data_dir`; returns it with the messages not
    /// yet done, oldest first.
    pub(crate) fn open(data_dir: &Path) -> io::Result<(Outbox, Vec<OutboxEntry>)> {
        let dir = data_dir.join(DIR);
        std::fs::create_dir_all(&dir)?;
        let entries: Vec<OutboxEntry> = lines(&dir.join(OUTBOX_FILE))?;
        let acked: BTreeSet<u64> = lines::<Ack>(&dir.join(ACKED_FILE))?
            .into_iter()
            .map(|a| a.seq)
            .collect();
        // Past every number either file holds: an acknowledgement left by
        // a crash during compaction can never match a new message.
        let next_seq = (entries.iter().map(|e| e.seq))
            .chain(acked.iter().copied())
            .map(|s| s + 1)
            .max()
            .unwrap_or(0);
        let entries_len = entries.len();
        let mut by_seq: BTreeMap<u64, OutboxEntry> = BTreeMap::new();
        for e in entries {
            if !acked.contains(&e.seq) {
                by_seq.insert(e.seq, e);
            }
        }
        if by_seq.len() < entries_len {
            // Some are done: keep only the rest (written aside, then moved
            // over; the acknowledgements, of messages no longer there, go
            // after: a crash in between leaves only acknowledgements of
            // nothing, and `next_seq` is past them).
            let aside = dir.join("outbox.jsonl.new");
            let mut f = File::create(&aside)?;
            for e in by_seq.values() {
                let mut line = serde_json::to_vec(e).map_err(io::Error::other)?;
                line.push(b'\n');
                f.write_all(&line)?;
            }
            f.sync_all()?;
            std::fs::rename(&aside, dir.join(OUTBOX_FILE))?;
            File::create(dir.join(ACKED_FILE))?.sync_all()?;
        }
        let mut outbox = Outbox {
            outbox: open_append(&dir.join(OUTBOX_FILE))?,
            acked: open_append(&dir.join(ACKED_FILE))?,
            dir,
            next_seq,
            pending: by_seq.keys().copied().collect(),
        };
        if outbox.pending.is_empty() {
            outbox.compact()?;
        }
        Ok((outbox, by_seq.into_values().collect()))
    }

    /// Appends a message (durably) and returns it with its sequence number.
    pub(crate) fn append(
        &mut self,
        id: String,
        webhook: String,
        body: String,
    ) -> io::Result<OutboxEntry> {
        let entry = OutboxEntry {
            seq: self.next_seq,
            id,
            webhook,
            body,
        };
        let mut line = serde_json::to_vec(&entry).map_err(io::Error::other)?;
        line.push(b'\n');
        self.outbox.write_all(&line)?;
        self.outbox.sync_data()?;
        self.next_seq += 1;
        self.pending.insert(entry.seq);
        Ok(entry)
    }

    /// Marks a message done; empties both files when nothing is pending.
    pub(crate) fn ack(&mut self, seq: u64) -> io::Result<()> {
        let mut line = serde_json::to_vec(&Ack { seq }).map_err(io::Error::other)?;
        line.push(b'\n');
        self.acked.write_all(&line)?;
        self.acked.sync_data()?;
        self.pending.remove(&seq);
        if self.pending.is_empty() {
            self.compact()?;
        }
        Ok(())
    }

    /// Messages written and not done.
    pub(crate) fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Empties the files (the outbox first: a crash in between leaves
    /// acknowledgements of nothing, never a message without its
    /// acknowledgement).
    fn compact(&mut self) -> io::Result<()> {
        self.outbox.set_len(0)?;
        self.outbox.sync_all()?;
        self.acked.set_len(0)?;
        self.acked.sync_all()?;
        Ok(())
    }

    /// The dead-letter file.
    pub(crate) fn dead_path(&self) -> PathBuf {
        self.dir.join(DEAD_FILE)
    }
}

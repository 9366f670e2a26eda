//! Sources: a JSONL file (read once or followed) and Kafka topics.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use yuqing_kafka::{ConsumerSettings, KafkaSource};

use crate::positions::{FilePosition, Positions};

/// Longest message accepted from a file, in bytes (longer lines are dead
/// letters, read past without being held in memory).
pub const MAX_MESSAGE_BYTES: usize = 1 << 20;

/// Where a message came from.
#[derive(Debug, Clone)]
pub enum Origin {
    /// A line of a file.
    File {
        /// 1-based line number.
        line: u64,
        /// Byte offset just past the line.
        end: u64,
    },
    /// A Kafka message.
    Kafka {
        /// Topic.
        topic: Arc<str>,
        /// Partition.
        partition: i32,
        /// Offset.
        offset: i64,
        /// Message timestamp, ms.
        timestamp_ms: Option<i64>,
    },
}

/// One message from a source.
#[derive(Debug, Clone)]
pub struct Message {
    /// The bytes (for a file line over the limit: empty, see `oversize`).
    pub payload: Vec<u8>,
    /// The key, if any.
    pub key: Option<Vec<u8>>,
    /// Length of a line that was over [`MAX_MESSAGE_BYTES`] and dropped.
    pub oversize: Option<usize>,
    /// Where it came from.
    pub origin: Origin,
}

/// What a poll found.
pub enum Polled {
    /// Messages.
    Messages(Vec<Message>),
    /// Nothing for now.
    Idle,
    /// A file without `follow` is read to the end.
    End,
}

/// What the runtime needs from a source.
pub trait Source: Send {
    /// Up to `max` messages, waiting up to `timeout` for the first.
    fn poll(&mut self, max: usize, timeout: Duration) -> Polled;
    /// Stops fetching (back-pressure) while staying alive.
    fn pause(&mut self);
    /// Resumes fetching.
    fn resume(&mut self);
    /// The index has committed everything up to `positions`: tell the
    /// source (Kafka commits the offsets to the group; `last`: wait for it,
    /// the source is about to close).
    fn committed(&mut self, positions: &Positions, last: bool);
    /// Whether the source is reachable (always true for a file).
    fn connected(&mut self) -> bool;
    /// Why the source reads nothing although there is something to read
    /// (a Kafka source left without partitions); `None` for a file.
    fn stalled(&mut self) -> Option<String> {
        None
    }
    /// How many partitions the source reads now (Kafka: those assigned to
    /// it); `None` for a file.
    fn partitions(&self) -> Option<usize> {
        None
    }
    /// Leaves cleanly.
    fn close(self: Box<Self>);
}

/// A JSONL file.
pub struct FileSource {
    path: PathBuf,
    reader: BufReader<File>,
    offset: u64,
    line: u64,
    follow: bool,
    paused: bool,
    buf: Vec<u8>,
}

impl FileSource {
    /// Opens `path`, resuming at the stored position when it names the
    /// same file and the file is at least that long.
    pub fn open(path: PathBuf, follow: bool, positions: &Positions) -> std::io::Result<Self> {
        let mut file = File::open(&path)?;
        let len = file.metadata()?.len();
        let (mut offset, mut line) = (0, 0);
        if let Some(FilePosition {
            path: p,
            offset: o,
            line: l,
        }) = &positions.file
            && *p == path.display().to_string()
            && *o <= len
        {
            offset = *o;
            line = *l;
            file.seek(SeekFrom::Start(offset))?;
        }
        Ok(FileSource {
            path,
            reader: BufReader::with_capacity(1 << 20, file),
            offset,
            line,
            follow,
            paused: false,
            buf: Vec::new(),
        })
    }

    /// The position after everything read so far.
    pub fn position(&self) -> FilePosition {
        FilePosition {
            path: self.path.display().to_string(),
            offset: self.offset,
            line: self.line,
        }
    }

    /// Reads one whole line; `Ok(None)` at the end of what is there now.
    /// A partial last line (a writer mid-append) is left for later.
    fn read_line(&mut self) -> std::io::Result<Option<Message>> {
        self.buf.clear();
        // Bytes of the line without its terminator, and bytes consumed.
        let (mut content, mut consumed) = (0usize, 0usize);
        loop {
            let available = self.reader.fill_buf()?;
            if available.is_empty() {
                if consumed == 0 {
                    return Ok(None);
                }
                if self.follow {
                    // Incomplete line: rewind to its start and wait for more.
                    self.reader.seek(SeekFrom::Start(self.offset))?;
                    return Ok(None);
                }
                break;
            }
            let (chunk, newline) = match memchr::memchr(b'\n', available) {
                Some(i) => (&available[..i], Some(i + 1)),
                None => (available, None),
            };
            content += chunk.len();
            if content <= MAX_MESSAGE_BYTES {
                self.buf.extend_from_slice(chunk);
            }
            let used = newline.unwrap_or(available.len());
            self.reader.consume(used);
            consumed += used;
            if newline.is_some() {
                break;
            }
        }
        let at_start = self.offset == 0;
        self.offset += consumed as u64;
        self.line += 1;
        let oversize = (content > MAX_MESSAGE_BYTES).then_some(content);
        if self.buf.last() == Some(&b'\r') {
            self.buf.pop();
        }
        // A UTF-8 byte-order mark at the start of the file is not part of
        // the first message.
        if at_start && self.buf.starts_with(b"\xef\xbb\xbf") {
            self.buf.drain(..3);
        }
        Ok(Some(Message {
            payload: if oversize.is_some() {
                Vec::new()
            } else {
                std::mem::take(&mut self.buf)
            },
            key: None,
            oversize,
            origin: Origin::File {
                line: self.line,
                end: self.offset,
            },
        }))
    }
}

impl Source for FileSource {
    fn poll(&mut self, max: usize, timeout: Duration) -> Polled {
        if self.paused {
            std::thread::sleep(timeout.min(Duration::from_millis(50)));
            return Polled::Idle;
        }
        let mut out = Vec::new();
        let deadline = Instant::now() + timeout;
        while out.len() < max {
            match self.read_line() {
                Ok(Some(m)) => out.push(m),
                Ok(None) => {
                    if !out.is_empty() {
                        break;
                    }
                    if !self.follow {
                        return Polled::End;
                    }
                    // A file replaced by a shorter one (rotation,
                    // truncation) is read again from its start.
                    if let Ok(meta) = std::fs::metadata(&self.path)
                        && meta.len() < self.offset
                        && let Ok(f) = File::open(&self.path)
                    {
                        tracing::info!(path = %self.path.display(), "file shrank; reading it from the start");
                        self.reader = BufReader::with_capacity(1 << 20, f);
                        self.offset = 0;
                        self.line = 0;
                        continue;
                    }
                    if Instant::now() >= deadline {
                        return Polled::Idle;
                    }
                    std::thread::sleep(Duration::from_millis(50).min(timeout));
                }
                Err(e) => {
                    tracing::error!(path = %self.path.display(), error = %e, "reading the source file");
                    return if out.is_empty() {
                        Polled::Idle
                    } else {
                        Polled::Messages(out)
                    };
                }
            }
        }
        Polled::Messages(out)
    }

    fn pause(&mut self) {
        self.paused = true;
    }
    fn resume(&mut self) {
        self.paused = false;
    }
    fn committed(&mut self, _: &Positions, _: bool) {}
    fn connected(&mut self) -> bool {
        true
    }
    fn close(self: Box<Self>) {}
}

/// Kafka topics as a consumer group, resuming at the index's offsets.
pub struct KafkaTopics {
    source: KafkaSource,
    last_check: Instant,
}

impl KafkaTopics {
    /// Joins the group; partitions are read from the offsets in `positions`
    /// when assigned.
    pub fn open(
        settings: &ConsumerSettings,
        positions: &Positions,
    ) -> Result<Self, yuqing_kafka::KafkaError> {
        let start: HashMap<(String, i32), i64> = positions.kafka_offsets().into_iter().collect();
        Ok(KafkaTopics {
            source: KafkaSource::new(settings, start)?,
            last_check: Instant::now(),
        })
    }
}

impl Source for KafkaTopics {
    fn poll(&mut self, max: usize, timeout: Duration) -> Polled {
        let messages = self.source.poll_batch(max, timeout);
        if messages.is_empty() {
            return Polled::Idle;
        }
        Polled::Messages(
            messages
                .into_iter()
                .map(|m| Message {
                    payload: m.payload,
                    key: m.key,
                    oversize: None,
                    origin: Origin::Kafka {
                        topic: m.topic,
                        partition: m.partition,
                        offset: m.offset,
                        timestamp_ms: m.timestamp_ms,
                    },
                })
                .collect(),
        )
    }

    fn pause(&mut self) {
        self.source.pause();
    }

    fn resume(&mut self) {
        self.source.resume();
    }

    fn committed(&mut self, positions: &Positions, last: bool) {
        if let Err(e) = self.source.commit(&positions.kafka_offsets(), last) {
            tracing::warn!(error = %e, "committing offsets to Kafka (the index holds them; retried at the next commit)");
        }
    }

    fn connected(&mut self) -> bool {
        // Ask the cluster every few seconds when nothing else tells us.
        if !self.source.connected() && self.last_check.elapsed() >= Duration::from_secs(3) {
            self.last_check = Instant::now();
            self.source.check_connection(Duration::from_millis(500));
        }
        self.source.connected()
    }

    fn stalled(&mut self) -> Option<String> {
        self.source.stalled()
    }

    fn partitions(&self) -> Option<usize> {
        Some(self.source.assigned().len())
    }

    fn close(self: Box<Self>) {
        self.source.close();
    }
}

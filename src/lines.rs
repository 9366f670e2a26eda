//! Reading JSONL input: a line reader with a size cap, and an ordered
//! parallel map over batches of lines.

use std::io::{self, BufRead};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;

use yuqing_model::{Post, PostError};
use yuqing_pipeline::Sequencer;

/// Longest line accepted, in bytes. A post's text is at most 64 KiB; with
/// JSON escapes (`\uXXXX` is 6 bytes for 3) and other fields a valid line
/// stays well under this. Longer lines are reported and skipped without
/// being held in memory.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// The UTF-8 byte-order mark, skipped at the start of the input.
pub const UTF8_BOM: &[u8] = b"\xef\xbb\xbf";

/// One line of input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line<'a> {
    /// The line's bytes, without the line terminator.
    Bytes(&'a [u8]),
    /// The line was longer than the cap; this is its length.
    TooLong(usize),
}

/// Reads lines of at most `max` bytes; longer lines are skipped (and
/// reported as [`Line::TooLong`]) without buffering them.
pub struct LineReader<R> {
    inner: R,
    max: usize,
    line_no: usize,
    buf: Vec<u8>,
    /// Bytes of input the last line took, with its terminator.
    consumed: usize,
    /// Where [`map_ordered`] counts the bytes of the lines it has handed
    /// to its sink.
    done: Option<Arc<AtomicU64>>,
}

impl<R: BufRead> LineReader<R> {
    /// A reader with the default cap, [`MAX_LINE_BYTES`].
    pub fn new(inner: R) -> Self {
        Self::with_max(inner, MAX_LINE_BYTES)
    }

    /// A reader with a cap of `max` bytes per line.
    pub fn with_max(inner: R, max: usize) -> Self {
        LineReader {
            inner,
            max,
            line_no: 0,
            buf: Vec::new(),
            consumed: 0,
            done: None,
        }
    }

    /// Counts into `done` the bytes of input whose lines [`map_ordered`]
    /// has handed to its sink (what progress reports as read).
    pub fn counting(mut self, done: Arc<AtomicU64>) -> Self {
        self.done = Some(done);
        self
    }

    /// The next line and its 1-based number, or `None` at the end.
    pub fn next_line(&mut self) -> io::Result<Option<(usize, Line<'_>)>> {
        self.buf.clear();
        self.consumed = 0;
        let mut total = 0usize;
        let mut saw_any = false;
        loop {
            let available = match self.inner.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                if !saw_any {
                    return Ok(None);
                }
                break;
            }
            saw_any = true;
            let (chunk, done) = match memchr::memchr(b'\n', available) {
                Some(i) => (&available[..i], Some(i + 1)),
                None => (available, None),
            };
            total += chunk.len();
            if total <= self.max {
                self.buf.extend_from_slice(chunk);
            }
            let used = done.unwrap_or(available.len());
            self.inner.consume(used);
            self.consumed += used;
            if done.is_some() {
                break;
            }
        }
        self.line_no += 1;
        if total > self.max {
            return Ok(Some((self.line_no, Line::TooLong(total))));
        }
        if self.buf.last() == Some(&b'\r') {
            self.buf.pop();
        }
        // A UTF-8 byte-order mark (editors on Windows write one) is not
        // part of the first post.
        if self.line_no == 1 && self.buf.starts_with(UTF8_BOM) {
            return Ok(Some((
                self.line_no,
                Line::Bytes(&self.buf[UTF8_BOM.len()..]),
            )));
        }
        Ok(Some((self.line_no, Line::Bytes(&self.buf))))
    }
}

/// Where a line of a batch is: a byte range of the batch's data, or the
/// length of a line over the cap.
type Slot = (usize, Result<(u32, u32), usize>);

/// A batch of consecutive lines handed to one worker.
#[derive(Debug, Default)]
pub struct Batch {
    /// Position of the batch in the input (0, 1, 2 …).
    pub seq: u64,
    /// Bytes of input the batch's lines took, with their terminators.
    input_bytes: u64,
    data: Vec<u8>,
    lines: Vec<Slot>,
}

impl Batch {
    /// The lines: (1-based line number, bytes or the length of an over-long
    /// line).
    pub fn lines(&self) -> impl Iterator<Item = (usize, Line<'_>)> {
        self.lines.iter().map(|&(n, r)| match r {
            Ok((s, e)) => (n, Line::Bytes(&self.data[s as usize..e as usize])),
            Err(len) => (n, Line::TooLong(len)),
        })
    }

    /// Number of lines.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// Whether the batch has no lines.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }
}

/// A line that is not a post: its number, reason code and message.
pub type BadLine = (usize, &'static str, String);

/// The message for a line over [`MAX_LINE_BYTES`].
pub fn too_long(len: usize) -> String {
    format!("line is {len} bytes, over the limit of {MAX_LINE_BYTES}")
}

impl Batch {
    /// The posts of the batch with their line numbers, read by `parse`:
    /// blank lines are skipped; lines over the cap and lines `parse`
    /// refuses go to `errors`.
    pub fn posts<'a, P>(
        &'a self,
        errors: &'a mut Vec<BadLine>,
        parse: P,
    ) -> impl Iterator<Item = (usize, Post)> + 'a
    where
        P: Fn(usize, &[u8]) -> Result<Post, PostError> + 'a,
    {
        self.lines().filter_map(move |(n, line)| {
            let bytes = match line {
                Line::TooLong(len) => {
                    errors.push((n, "too_large", too_long(len)));
                    return None;
                }
                Line::Bytes(b) if b.iter().all(u8::is_ascii_whitespace) => return None,
                Line::Bytes(b) => b,
            };
            parse(n, bytes)
                .map_err(|e| errors.push((n, e.reason(), e.to_string())))
                .ok()
                .map(|post| (n, post))
        })
    }

    /// Bytes of input the batch's lines took, counting one terminator per
    /// line (what the throughput figures count).
    pub fn line_bytes(&self) -> usize {
        self.lines()
            .map(|(_, line)| match line {
                Line::TooLong(len) => len,
                Line::Bytes(b) => b.len() + 1,
            })
            .sum()
    }
}

/// Lines per batch, at most.
const BATCH_LINES: usize = 512;
/// Bytes per batch, at most (a single longer line still makes a batch).
const BATCH_BYTES: usize = 512 * 1024;

/// Maps `work` over the input's lines in batches on `workers` threads and
/// hands the results to `sink` in input order. One thread reads, the
/// workers work, the calling thread runs `sink`; channels between them are
/// bounded, so memory stays bounded whatever the input size.
///
/// `sink` returning an error stops the run: reading and working stop and
/// the error is returned. A read error is returned after the batches read
/// before it have gone through `sink`.
pub fn map_ordered<R, S, O>(
    mut reader: LineReader<R>,
    workers: usize,
    init: impl Fn() -> S + Sync,
    work: impl Fn(&mut S, &Batch) -> O + Sync,
    mut sink: impl FnMut(O) -> io::Result<()>,
) -> io::Result<()>
where
    R: BufRead + Send,
    O: Send,
{
    let workers = workers.max(1);
    let done = reader.done.clone();
    let (batch_tx, batch_rx) = crossbeam_channel::bounded::<Batch>(workers * 2);
    let (out_tx, out_rx) = crossbeam_channel::bounded::<(u64, u64, O)>(workers * 2);
    thread::scope(|scope| {
        let read = scope.spawn(move || -> io::Result<()> {
            let mut seq = 0;
            let mut batch = Batch::default();
            while let Some((n, line)) = reader.next_line()? {
                match line {
                    Line::Bytes(b) => {
                        let s = batch.data.len() as u32;
                        batch.data.extend_from_slice(b);
                        batch.lines.push((n, Ok((s, batch.data.len() as u32))));
                    }
                    Line::TooLong(len) => batch.lines.push((n, Err(len))),
                }
                batch.input_bytes += reader.consumed as u64;
                if batch.lines.len() >= BATCH_LINES || batch.data.len() >= BATCH_BYTES {
                    batch.seq = seq;
                    seq += 1;
                    if batch_tx.send(std::mem::take(&mut batch)).is_err() {
                        return Ok(()); // the sink stopped
                    }
                }
            }
            if !batch.is_empty() {
                batch.seq = seq;
                let _ = batch_tx.send(batch);
            }
            Ok(())
        });
        for _ in 0..workers {
            let rx = batch_rx.clone();
            let tx = out_tx.clone();
            let (init, work) = (&init, &work);
            scope.spawn(move || {
                let mut state = init();
                for batch in rx {
                    let out = work(&mut state, &batch);
                    if tx.send((batch.seq, batch.input_bytes, out)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(batch_rx);
        drop(out_tx);

        let mut order = Sequencer::new();
        let mut result = Ok(());
        for (seq, bytes, out) in out_rx.iter() {
            order.insert(seq, (bytes, out));
            while let Some((bytes, out)) = order.pop() {
                if let Some(done) = &done {
                    done.fetch_add(bytes, Ordering::Relaxed);
                }
                if let Err(e) = sink(out) {
                    result = Err(e);
                    break;
                }
            }
            if result.is_err() {
                break;
            }
        }
        // Dropping the receiver makes workers and the reader stop.
        drop(out_rx);
        let read_result = read
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the input reader thread panicked")));
        result.and(read_result)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &str, max: usize) -> Vec<(usize, Result<String, usize>)> {
        let mut r = LineReader::with_max(input.as_bytes(), max);
        let mut out = Vec::new();
        while let Some((n, l)) = r.next_line().unwrap() {
            out.push((
                n,
                match l {
                    Line::Bytes(b) => Ok(String::from_utf8(b.to_vec()).unwrap()),
                    Line::TooLong(len) => Err(len),
                },
            ));
        }
        out
    }

    #[test]
    fn splits_lines_and_caps_their_length() {
        assert_eq!(
            lines("a\r\nbb\n\nccccc\nd", 4),
            vec![
                (1, Ok("a".into())),
                (2, Ok("bb".into())),
                (3, Ok("".into())),
                (4, Err(5)),
                (5, Ok("d".into())),
            ]
        );
        assert!(lines("", 4).is_empty());
        assert_eq!(
            lines("\u{feff}{}\n\u{feff}x", 8),
            vec![(1, Ok("{}".into())), (2, Ok("\u{feff}x".into()))]
        );
    }

    #[test]
    fn reads_posts_and_reports_bad_lines() {
        let input = "{\"id\":\"a\",\"text\":\"x\",\"ts\":1}\n  \n[1]\n".to_string()
            + &"x".repeat(50)
            + "\n{\"id\":\"b\",\"text\":\"y\",\"ts\":2}\n";
        let mut batches = Vec::new();
        map_ordered(
            LineReader::with_max(input.as_bytes(), 40),
            1,
            || (),
            |_, b| {
                let mut errors = Vec::new();
                let posts: Vec<(usize, String)> = b
                    .posts(&mut errors, |_, bytes| Post::from_json(bytes))
                    .map(|(n, p)| (n, p.id))
                    .collect();
                (posts, errors, b.line_bytes())
            },
            |out| {
                batches.push(out);
                Ok(())
            },
        )
        .unwrap();
        let [(posts, errors, bytes)] = &batches[..] else {
            panic!("one batch expected");
        };
        assert_eq!(posts, &vec![(1, "a".to_string()), (5, "b".to_string())]);
        let reasons: Vec<(usize, &str)> = errors.iter().map(|e| (e.0, e.1)).collect();
        assert_eq!(reasons, vec![(3, "not_an_object"), (4, "too_large")]);
        // An over-long line counts without its terminator.
        assert_eq!(*bytes, input.len() - 1);
    }

    #[test]
    fn keeps_input_order_across_workers() {
        let input: String = (0..5000).map(|i| format!("{i}\n")).collect();
        let mut seen = Vec::new();
        map_ordered(
            LineReader::new(input.as_bytes()),
            4,
            || (),
            |_, batch| batch.lines().map(|(n, _)| n).collect::<Vec<_>>(),
            |out| {
                seen.extend(out);
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(seen, (1..=5000).collect::<Vec<_>>());
    }

    #[test]
    fn counts_the_bytes_of_the_lines_handed_to_the_sink() {
        let input: String = "\u{feff}".to_string()
            + &(0..3000).map(|i| format!("{i}\r\n")).collect::<String>()
            + "last";
        let done = Arc::new(AtomicU64::new(0));
        let mut seen_before_sink = Vec::new();
        map_ordered(
            LineReader::new(input.as_bytes()).counting(Arc::clone(&done)),
            2,
            || (),
            |_, b| b.len(),
            |_| {
                seen_before_sink.push(done.load(Ordering::Relaxed));
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(done.load(Ordering::Relaxed), input.len() as u64);
        // Each batch is counted as it reaches the sink, not when read.
        assert!(seen_before_sink.len() > 2);
        assert!(seen_before_sink.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(*seen_before_sink.last().unwrap(), input.len() as u64);
    }

    #[test]
    fn a_failing_sink_stops_the_run() {
        let input: String = (0..50_000).map(|i| format!("{i}\n")).collect();
        let mut calls = 0;
        let r = map_ordered(
            LineReader::new(input.as_bytes()),
            2,
            || (),
            |_, b| b.len(),
            |_| {
                calls += 1;
                Err(io::Error::new(io::ErrorKind::BrokenPipe, "closed"))
            },
        );
        assert_eq!(r.unwrap_err().kind(), io::ErrorKind::BrokenPipe);
        assert_eq!(calls, 1);
    }
}

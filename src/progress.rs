//! Progress of long commands on stderr, and the bad lines met on the way,
//! in one place so that every command reports them alike.
//!
//! - A progress line with the count, the rate and, when the input's size
//!   is known (a file), the share read and the time left. On a terminal it
//!   is one line rewritten in place (`\r`) every second; otherwise a full
//!   line every 5 seconds (`YUQING_PROGRESS_SECS` changes the interval).
//! - Bad lines: the first [`SHOWN_BAD_LINES`] one line each, then a count by
//!   reason with each progress line and at the end (all of them one by one
//!   with `verbose`); a summary by reason at the end. A message always
//!   starts on a line of its own: the progress line is cleared first.

use std::collections::BTreeMap;
use std::io::{self, BufRead, IsTerminal, Read, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::lines::LineReader;

/// Bad lines shown one by one before they are only counted.
pub const SHOWN_BAD_LINES: u64 = 10;

/// The environment variable that sets the progress interval in seconds.
pub const INTERVAL_ENV: &str = "YUQING_PROGRESS_SECS";

/// An input whose progress is counted, with its size when known.
pub struct Input {
    reader: Box<dyn BufRead + Send>,
    /// Bytes handled so far (shared with the progress reporter).
    read: Arc<AtomicU64>,
    /// The size of the input, when it is a regular file.
    total: Option<u64>,
}

impl Input {
    /// Its lines, counted as [`crate::lines::map_ordered`] hands them on.
    pub fn lines(self) -> LineReader<Box<dyn BufRead + Send>> {
        LineReader::new(self.reader).counting(self.read)
    }

    /// The reader, counting bytes as they are read.
    pub fn counted(self) -> impl BufRead + Send {
        Counting {
            inner: self.reader,
            read: self.read,
        }
    }
}

/// Opens a file, or stdin for `-` / no path, counting what is read.
pub fn open(path: Option<&PathBuf>) -> anyhow::Result<Input> {
    let total = match path {
        Some(p) if p.as_os_str() != "-" => std::fs::metadata(p)
            .ok()
            .filter(|m| m.is_file())
            .map(|m| m.len()),
        _ => None,
    };
    Ok(Input {
        reader: crate::open_input(path)?,
        read: Arc::new(AtomicU64::new(0)),
        total,
    })
}

struct Counting<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: BufRead> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Counting<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        self.read.fetch_add(amt as u64, Ordering::Relaxed);
        self.inner.consume(amt);
    }
}

/// The progress line and the bad lines of one command.
pub struct Progress {
    command: &'static str,
    unit: &'static str,
    terminal: bool,
    interval: Duration,
    start: Instant,
    last: Instant,
    /// A `\r` line is on the terminal and must be cleared before a message.
    open_line: bool,
    verbose: bool,
    read: Option<Arc<AtomicU64>>,
    total: Option<u64>,
    bad: u64,
    by_reason: BTreeMap<&'static str, u64>,
    /// Bad lines counted but not shown since the last count was printed.
    unshown: BTreeMap<&'static str, u64>,
}

impl Progress {
    /// A reporter for `command` (`yuqing score`) counting `unit`s (`posts`).
    pub fn new(command: &'static str, unit: &'static str, verbose: bool) -> Self {
        let terminal = io::stderr().is_terminal();
        Self::with_terminal(command, unit, verbose, terminal)
    }

    /// Like [`Progress::new`], never rewriting a line in place (for
    /// commands whose stderr also carries log lines).
    pub fn lines_only(command: &'static str, unit: &'static str, verbose: bool) -> Self {
        Self::with_terminal(command, unit, verbose, false)
    }

    fn with_terminal(
        command: &'static str,
        unit: &'static str,
        verbose: bool,
        terminal: bool,
    ) -> Self {
        let default = if terminal { 1.0 } else { 5.0 };
        let secs = std::env::var(INTERVAL_ENV)
            .ok()
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s > 0.0)
            .unwrap_or(default);
        let now = Instant::now();
        Progress {
            command,
            unit,
            terminal,
            interval: Duration::from_secs_f64(secs),
            start: now,
            last: now,
            open_line: false,
            verbose,
            read: None,
            total: None,
            bad: 0,
            by_reason: BTreeMap::new(),
            unshown: BTreeMap::new(),
        }
    }

    /// Reports the share of `input` read, and the time left.
    pub fn with_input(mut self, input: &Input) -> Self {
        self.read = Some(Arc::clone(&input.read));
        self.total = input.total;
        self
    }

    /// Prints the progress line if it is due: `done` units so far, and
    /// `extra` (`, 12 flagged`) after the rate.
    pub fn tick(&mut self, done: u64, extra: &str) {
        if self.last.elapsed() < self.interval {
            return;
        }
        self.last = Instant::now();
        let secs = self.start.elapsed().as_secs_f64().max(1e-9);
        let mut line = format!(
            "{}: {done} {}, {:.0} {}/s{extra}",
            self.command,
            self.unit,
            done as f64 / secs,
            self.unit
        );
        if let (Some(read), Some(total)) = (&self.read, self.total)
            && total > 0
        {
            let read = read.load(Ordering::Relaxed).min(total);
            let share = read as f64 / total as f64;
            line.push_str(&format!(
                ", {:.1}% of {:.1} MB",
                share * 100.0,
                total as f64 / 1e6
            ));
            if read > 0 {
                let left = secs * (total - read) as f64 / read as f64;
                line.push_str(&format!(", about {} left", duration(left)));
            }
        }
        let counts = self.take_unshown();
        let mut err = io::stderr().lock();
        if self.terminal {
            if let Some(counts) = counts {
                let _ = write!(err, "\r\x1b[K{counts}\n");
            }
            let _ = write!(err, "\r\x1b[K{line}");
            self.open_line = true;
        } else {
            if let Some(counts) = counts {
                let _ = writeln!(err, "{counts}");
            }
            let _ = writeln!(err, "{line}");
        }
        let _ = err.flush();
    }

    /// A message on a line of its own (the progress line is cleared).
    pub fn message(&mut self, text: &str) {
        let mut err = io::stderr().lock();
        if self.open_line {
            let _ = write!(err, "\r\x1b[K");
            self.open_line = false;
        }
        let _ = writeln!(err, "{text}");
    }

    /// A bad line, skipped: shown if among the first ones (or `verbose`),
    /// counted by `reason` in any case.
    pub fn bad_line(&mut self, line: usize, reason: &'static str, message: &str) {
        self.bad += 1;
        *self.by_reason.entry(reason).or_default() += 1;
        if self.verbose || self.bad <= SHOWN_BAD_LINES {
            self.message(&format!("line {line}: {message}"));
            return;
        }
        if self.bad == SHOWN_BAD_LINES + 1 {
            let text = format!(
                "{}: more than {SHOWN_BAD_LINES} bad lines: counting them by reason from here (--verbose shows each)",
                self.command
            );
            self.message(&text);
        }
        *self.unshown.entry(reason).or_default() += 1;
    }

    fn take_unshown(&mut self) -> Option<String> {
        if self.unshown.is_empty() {
            return None;
        }
        let n: u64 = self.unshown.values().sum();
        let text = format!(
            "{}: {n} more bad {} ({})",
            self.command,
            if n == 1 { "line" } else { "lines" },
            by_reason(&self.unshown)
        );
        self.unshown.clear();
        Some(text)
    }

    /// Ends the progress line, prints the bad lines not yet counted and the
    /// summary of all bad lines by reason.
    pub fn finish(&mut self) {
        if let Some(counts) = self.take_unshown() {
            self.message(&counts);
        }
        if self.open_line {
            // What follows (the summary) takes the progress line's place.
            let mut err = io::stderr().lock();
            let _ = write!(err, "\r\x1b[K");
            let _ = err.flush();
            self.open_line = false;
        }
        if self.bad > 0 {
            let text = format!(
                "{}: {} bad {} skipped ({})",
                self.command,
                self.bad,
                if self.bad == 1 { "line" } else { "lines" },
                by_reason(&self.by_reason)
            );
            self.message(&text);
        }
    }
}

fn by_reason(counts: &BTreeMap<&'static str, u64>) -> String {
    let mut parts: Vec<(&str, u64)> = counts.iter().map(|(r, n)| (*r, *n)).collect();
    parts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    parts
        .iter()
        .map(|(r, n)| format!("{n} {r}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `1h02m`, `3m05s`, `12s`.
fn duration(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_reasons_read_well() {
        assert_eq!(duration(5.4), "5s");
        assert_eq!(duration(185.0), "3m05s");
        assert_eq!(duration(3720.0), "1h02m");
        let counts = BTreeMap::from([("missing_field", 2), ("malformed_json", 5), ("a", 2)]);
        assert_eq!(by_reason(&counts), "5 malformed_json, 2 a, 2 missing_field");
    }

    #[test]
    fn counts_what_is_read() {
        let mut c = Counting {
            inner: &b"abc\ndef\n"[..],
            read: Arc::new(AtomicU64::new(0)),
        };
        let mut line = String::new();
        c.read_line(&mut line).unwrap();
        assert_eq!(c.read.load(Ordering::Relaxed), 4);
    }
}

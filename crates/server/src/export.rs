//! Export rows: CSV (UTF-8 with BOM, header row) and JSON lines, shared by
//! `GET /api/v1/export` and `yuqing export`.

use std::str::FromStr;

use yuqing_index::{PostView, StoredPost};

/// Columns of a CSV export, in order.
pub const CSV_COLUMNS: &[&str] = &[
    "id",
    "time",
    "platform",
    "author",
    "url",
    "text",
    "categories",
    "regions",
    "level",
    "reposts",
    "comments",
    "likes",
    "views",
];

/// The format of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Comma-separated values, RFC 4180, UTF-8 with a byte-order mark.
    #[default]
    Csv,
    /// One JSON post (the post shape, schema version 1) per line.
    Jsonl,
}

impl Format {
    /// The parameter spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Jsonl => "jsonl",
        }
    }

    /// The `Content-Type` of the format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Jsonl => "application/x-ndjson",
        }
    }
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "csv" => Ok(Format::Csv),
            "jsonl" => Ok(Format::Jsonl),
            _ => Err(format!("`{s}`: expected csv or jsonl")),
        }
    }
}

/// Writes export rows into a buffer.
#[derive(Debug, Clone, Copy)]
pub struct RowWriter {
    /// The format.
    pub format: Format,
    /// The display zone of CSV times, seconds east of UTC.
    pub offset_secs: i32,
}

impl RowWriter {
    /// What comes before the first row: for CSV the byte-order mark (so
    /// that Excel reads the file as UTF-8) and the header row.
    pub fn start(&self, out: &mut Vec<u8>) {
        if self.format == Format::Csv {
            out.extend_from_slice("\u{feff}".as_bytes());
            out.extend_from_slice(CSV_COLUMNS.join(",").as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }

    /// One post.
    pub fn row(&self, post: StoredPost, out: &mut Vec<u8>) {
        match self.format {
            Format::Jsonl => {
                // Serialising our own types cannot fail.
                let _ = serde_json::to_writer(&mut *out, &PostView::from(post));
                out.push(b'\n');
            }
            Format::Csv => {
                let p = &post.post;
                let categories: Vec<&str> = post.categories.iter().map(|c| c.id.as_str()).collect();
                let count = |n: Option<u64>| n.map(|n| n.to_string()).unwrap_or_default();
                let cells = [
                    p.id.clone(),
                    p.ts.to_rfc3339_at(self.offset_secs),
                    p.platform.clone().unwrap_or_default(),
                    p.author.clone().unwrap_or_default(),
                    p.url.clone().unwrap_or_default(),
                    p.text.clone(),
                    categories.join(";"),
                    post.regions.join(";"),
                    post.severity
                        .as_ref()
                        .map(|s| s.level.as_str().to_string())
                        .unwrap_or_default(),
                    count(p.reposts),
                    count(p.comments),
                    count(p.likes),
                    count(p.views),
                ];
                for (i, cell) in cells.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    csv_cell(cell, out);
                }
                out.extend_from_slice(b"\r\n");
            }
        }
    }
}

/// One CSV cell: quoted when it holds a comma, quote or line break; a
/// text cell that a spreadsheet would take for a formula (`=`, `+`, `-`,
/// `@` first) gets a leading `'`.
fn csv_cell(cell: &str, out: &mut Vec<u8>) {
    let formula =
        cell.starts_with(['=', '+', '-', '@', '\t', '\r']) && cell.parse::<f64>().is_err();
    let quote = formula || cell.contains([',', '"', '\n', '\r']);
    if quote {
        out.push(b'"');
    }
    if formula {
        out.push(b'\'');
    }
    for b in cell.bytes() {
        if b == b'"' {
            out.push(b'"');
        }
        out.push(b);
    }
    if quote {
        out.push(b'"');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(s: &str) -> String {
        let mut out = Vec::new();
        csv_cell(s, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn cells_are_quoted_when_needed_and_formulas_defused() {
        assert_eq!(cell("滁州"), "滁州");
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("line\nbreak"), "\"line\nbreak\"");
        assert_eq!(cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(cell("-3"), "-3");
    }
}

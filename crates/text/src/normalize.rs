//! Canonical form of a text, with a map back to the original offsets.

use crate::t2s::T2s;

/// Folds texts into yuqing's canonical form. See the crate docs for the
/// steps. Immutable and `Sync`; building one compiles the OpenCC tables
/// (a few milliseconds), so build it once and share it.
pub struct Normalizer {
    t2s: T2s,
}

impl Default for Normalizer {
    fn default() -> Self {
        Self::new()
    }
}

/// A normalised text and the way back to the original.
///
/// Reuse one value across posts with [`Normalizer::normalize_into`]: its
/// buffers keep their capacity.
#[derive(Debug, Clone, Default)]
pub struct Normalized {
    text: String,
    map: OffsetMap,
    // Second-pass buffers, swapped in when the text needs conversion.
    spare_text: String,
    spare_map: OffsetMap,
}

/// Maps byte offsets in a normalised text to byte offsets in its original.
///
/// Stored as checkpoints `(normalised, original)` where the difference
/// between the two changes; between checkpoints the texts advance byte for
/// byte. Simplified Chinese that needed no folding has no checkpoint at all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OffsetMap {
    checkpoints: Vec<(u32, u32)>,
}

impl OffsetMap {
    /// The original byte offset of normalised offset `n`. Exact at every
    /// character boundary of the normalised text, including its end; a
    /// character produced from several (a collapsed run of spaces, a
    /// converted phrase) maps to the start of its source.
    pub fn to_original(&self, n: usize) -> usize {
        let i = self
            .checkpoints
            .partition_point(|&(cn, _)| cn as usize <= n);
        match i {
            0 => n,
            _ => {
                let (cn, co) = self.checkpoints[i - 1];
                co as usize + (n - cn as usize)
            }
        }
    }

    /// Number of checkpoints (0 when offsets are unchanged).
    pub fn len(&self) -> usize {
        self.checkpoints.len()
    }

    /// Whether normalisation kept every offset.
    pub fn is_empty(&self) -> bool {
        self.checkpoints.is_empty()
    }

    fn clear(&mut self) {
        self.checkpoints.clear();
    }
}

/// Appends checkpoints while text is emitted left to right.
struct MapWriter<'a> {
    map: &'a mut OffsetMap,
    /// original - normalised, as of the last checkpoint.
    delta: i64,
}

impl<'a> MapWriter<'a> {
    fn new(map: &'a mut OffsetMap) -> Self {
        map.clear();
        MapWriter { map, delta: 0 }
    }

    #[inline]
    fn at(&mut self, n: usize, o: usize) {
        let d = o as i64 - n as i64;
        if d != self.delta {
            self.map.checkpoints.push((n as u32, o as u32));
            self.delta = d;
        }
    }

    /// Records that `nlen` normalised bytes at `n` come from `olen`
    /// original bytes at `o`.
    #[inline]
    fn emit(&mut self, n: usize, nlen: usize, o: usize, olen: usize) {
        self.at(n, o);
        if nlen != olen {
            self.at(n + nlen, o + olen);
        }
    }
}

impl Normalized {
    /// The normalised text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The offset map back to the original text.
    pub fn map(&self) -> &OffsetMap {
        &self.map
    }

    /// Shorthand for `self.map().to_original(n)`.
    pub fn to_original(&self, n: usize) -> usize {
        self.map.to_original(n)
    }
}

impl Normalizer {
    /// Builds a normaliser (compiles the traditional-to-simplified tables).
    pub fn new() -> Self {
        Normalizer { t2s: T2s::new() }
    }

    /// Normalises `input`.
    pub fn normalize(&self, input: &str) -> Normalized {
        let mut out = Normalized::default();
        self.normalize_into(input, &mut out);
        out
    }

    /// Normalises `input` into `out`, reusing its buffers.
    pub fn normalize_into(&self, input: &str, out: &mut Normalized) {
        let convert = self.fold(input, &mut out.text, &mut out.map);
        if convert {
            self.convert(out);
        }
    }

    /// Width, case, white space and invisible characters. Returns whether
    /// the folded text contains a character the converter may change.
    ///
    /// Most characters pass unchanged (CJK ideographs, lower-case ASCII,
    /// single spaces); they are copied in stretches, and the offset map is
    /// only touched where something changes.
    fn fold(&self, input: &str, text: &mut String, map: &mut OffsetMap) -> bool {
        text.clear();
        text.reserve(input.len());
        let mut w = MapWriter::new(map);
        let mut convert = false;
        // Start of the stretch of unchanged input not yet copied.
        let mut copy_from = 0usize;
        // Original offset where a pending run of white space starts.
        let mut space_from: Option<usize> = None;
        let flush = |text: &mut String, w: &mut MapWriter, a: usize, b: usize| {
            if a < b {
                w.at(text.len(), a);
                text.push_str(&input[a..b]);
            }
        };
        for (o, c) in input.char_indices() {
            let cu = c as u32;
            // The common case first: an ideograph of the main CJK block.
            if (0x4E00..=0x9FFF).contains(&cu) {
                if let Some(from) = space_from.take() {
                    self.end_space(text, &mut w, from, o);
                    copy_from = o;
                }
                convert |= self.t2s.triggers(c);
                continue;
            }
            if c.is_whitespace() {
                if space_from.is_none() {
                    flush(text, &mut w, copy_from, o);
                    space_from = Some(o);
                }
                continue;
            }
            // An invisible character inside a run of white space is part of
            // the run (`火 \u{200b} 灾` has one space, like its normal form).
            if space_from.is_some() && is_invisible(c) {
                continue;
            }
            if let Some(from) = space_from.take() {
                self.end_space(text, &mut w, from, o);
                copy_from = o;
            }
            if cu < 0x80 {
                if !c.is_ascii_uppercase() && !c.is_ascii_control() {
                    continue;
                }
            } else {
                convert |= self.t2s.triggers(c);
                if !is_invisible(c) && fold_char(c) == c {
                    continue;
                }
            }
            // `c` changes: copy what came before it, then handle it.
            flush(text, &mut w, copy_from, o);
            copy_from = o + c.len_utf8();
            if is_invisible(c) {
                continue;
            }
            let f = fold_char(c);
            w.emit(text.len(), f.len_utf8(), o, c.len_utf8());
            text.push(f);
        }
        if space_from.is_none() {
            flush(text, &mut w, copy_from, input.len());
        }
        convert
    }

    /// Ends a run of white space `input[from..to]` before a visible
    /// character: one space, unless the run leads the text.
    #[inline]
    fn end_space(&self, text: &mut String, w: &mut MapWriter, from: usize, to: usize) {
        if !text.is_empty() {
            w.emit(text.len(), 1, from, to - from);
            text.push(' ');
        }
    }

    /// Traditional to simplified, composing the offset map.
    fn convert(&self, out: &mut Normalized) {
        let Normalized {
            text: src,
            map: src_map,
            spare_text: dst,
            spare_map: dst_map,
        } = out;
        dst.clear();
        dst.reserve(src.len());
        let mut w = MapWriter::new(dst_map);
        let mut last = 0;
        let copy = |dst: &mut String, w: &mut MapWriter, a: usize, b: usize| {
            if a == b {
                return;
            }
            let n = dst.len();
            w.at(n, src_map.to_original(a));
            let cps = &src_map.checkpoints;
            let lo = cps.partition_point(|&(cn, _)| (cn as usize) <= a);
            let hi = cps.partition_point(|&(cn, _)| (cn as usize) < b);
            for &(cn, co) in &cps[lo..hi] {
                w.at(n + (cn as usize - a), co as usize);
            }
            dst.push_str(&src[a..b]);
        };
        self.t2s.for_each_replacement(src, |s, e, to| {
            copy(dst, &mut w, last, s);
            let (os, oe) = (src_map.to_original(s), src_map.to_original(e));
            w.emit(dst.len(), to.len(), os, oe - os);
            dst.push_str(to);
            last = e;
        });
        copy(dst, &mut w, last, src.len());
        w.at(dst.len(), src_map.to_original(src.len()));
        std::mem::swap(src, dst);
        std::mem::swap(src_map, dst_map);
    }
}

/// Zero-width and control characters carry no meaning for matching and
/// are used to dodge keyword filters (`爆\u{200b}炸`).
#[inline]
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}' | '\u{200B}'..='\u{200F}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}'
    ) || (c.is_control() && !c.is_whitespace())
}

/// Full-width ASCII to half-width, upper to lower case (for letters whose
/// lower case is one character).
#[inline]
fn fold_char(c: char) -> char {
    if c.is_ascii() {
        return c.to_ascii_lowercase();
    }
    let c = match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        _ => c,
    };
    if c.is_ascii() {
        return c.to_ascii_lowercase();
    }
    if c.is_uppercase() {
        let mut lower = c.to_lowercase();
        if let (Some(l), None) = (lower.next(), lower.next()) {
            return l;
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every token-sized slice of the normalised text maps back to a slice
    /// of the original that normalises to the same thing.
    fn check_round_trip(n: &Normalizer, input: &str) {
        let out = n.normalize(input);
        let text = out.as_str();
        let bounds: Vec<usize> = text
            .char_indices()
            .map(|(i, _)| i)
            .chain([text.len()])
            .collect();
        for w in bounds.windows(2) {
            let (a, b) = (out.to_original(w[0]), out.to_original(w[1]));
            assert!(a <= b && b <= input.len(), "{input:?}: {w:?} -> {a}..{b}");
            assert!(input.is_char_boundary(a) && input.is_char_boundary(b));
        }
    }

    #[test]
    fn invisible_characters_inside_white_space_leave_one_space() {
        let n = Normalizer::new();
        for (input, want) in [
            ("火 \u{200b} 灾", "火 灾"),
            ("火 \u{200b} ", "火"),
            ("火\u{200b} \u{feff}\t灾", "火 灾"),
            ("\u{200b} 火", "火"),
        ] {
            let out = n.normalize(input);
            assert_eq!(out.as_str(), want, "{input:?}");
            assert_eq!(n.normalize(out.as_str()).as_str(), want, "{input:?}");
            check_round_trip(&n, input);
        }
    }

    #[test]
    fn folds_width_case_and_space() {
        let n = Normalizer::new();
        let out = n.normalize("  ＡＢＣ１２３　Hello\t\n World！ ");
        assert_eq!(out.as_str(), "abc123 hello world!");
        // "hello" starts after "ＡＢＣ１２３　" = 2 + 6*3 + 3 bytes.
        assert_eq!(out.to_original(7), 2 + 18 + 3);
        assert_eq!(
            out.to_original(out.as_str().len()),
            "  ＡＢＣ１２３　Hello\t\n World！".len()
        );
        check_round_trip(&n, "  ＡＢＣ１２３　Hello\t\n World！ ");
    }

    #[test]
    fn drops_invisible_characters() {
        let n = Normalizer::new();
        let out = n.normalize("爆\u{200b}炸\u{0007}了");
        assert_eq!(out.as_str(), "爆炸了");
        assert_eq!(out.to_original(3), 6);
        check_round_trip(&n, "爆\u{200b}炸\u{0007}了");
    }

    #[test]
    fn traditional_becomes_simplified_with_offsets_kept() {
        let n = Normalizer::new();
        let input = "ＸＸ化工廠發生爆炸  數十人受傷";
        let out = n.normalize(input);
        assert_eq!(out.as_str(), "xx化工厂发生爆炸 数十人受伤");
        let pos = out.as_str().find("受伤").unwrap();
        let orig = out.to_original(pos);
        assert_eq!(&input[orig..orig + 6], "受傷");
        check_round_trip(&n, input);
        assert_eq!(n.normalize("乾旱").as_str(), "干旱");
    }

    #[test]
    fn simplified_text_keeps_every_offset() {
        let n = Normalizer::new();
        let out = n.normalize("滁河发生水污染。大量死鱼");
        assert!(out.map().is_empty());
        assert_eq!(out.as_str(), "滁河发生水污染。大量死鱼");
        // Full-width punctuation is ASCII punctuation after folding.
        assert_eq!(n.normalize("死鱼，！").as_str(), "死鱼,!");
    }

    #[test]
    fn empty_and_blank_inputs() {
        let n = Normalizer::new();
        assert_eq!(n.normalize("").as_str(), "");
        assert_eq!(n.normalize(" \t\n").as_str(), "");
    }
}

//! Highlighted snippets: the matching words wrapped in `<em>`, the rest
//! HTML-escaped.

use std::collections::HashSet;

use yuqing_text::Analyzer;

/// Characters of context kept before the first match when the text is cut.
const LEAD: usize = 20;

/// A snippet of at most `max_chars` characters of `text` around the first
/// word in `terms` (normalised words, as the query produced them), with
/// every such word (and word part, as indexed) in `<em>…</em>`. Positions
/// come from the analyzer's offsets into the original text, so a
/// traditional-character post highlights for a simplified query.
pub(crate) fn snippet(
    analyzer: &Analyzer,
    text: &str,
    terms: &HashSet<String>,
    max_chars: usize,
) -> String {
    let mut spans: Vec<(usize, usize)> = Vec::new();
    if !terms.is_empty() {
        let analyzed = analyzer.analyze(text);
        analyzer.index_tokens(&analyzed, |t| {
            if terms.contains(t.text) && t.orig_start < t.orig_end {
                spans.push((t.orig_start, t.orig_end));
            }
        });
    }
    spans.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::with_capacity(spans.len());
    for (s, e) in spans {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }

    // The window, in bytes, on character boundaries.
    let total_chars = text.chars().count();
    let (start, end) = if total_chars <= max_chars {
        (0, text.len())
    } else {
        let anchor = merged.first().map_or(0, |&(s, _)| s);
        let anchor_char = text[..anchor].chars().count();
        let first = anchor_char
            .saturating_sub(LEAD)
            .min(total_chars - max_chars);
        let byte_at = |n: usize| text.char_indices().nth(n).map_or(text.len(), |(i, _)| i);
        (byte_at(first), byte_at(first + max_chars))
    };

    let mut out = String::with_capacity(end - start + 16);
    if start > 0 {
        out.push('…');
    }
    let mut at = start;
    for &(s, e) in &merged {
        let (s, e) = (s.max(start), e.min(end));
        if s >= e || s < at {
            continue;
        }
        escape_into(&text[at..s], &mut out);
        out.push_str("<em>");
        escape_into(&text[s..e], &mut out);
        out.push_str("</em>");
        at = e;
    }
    escape_into(&text[at..end], &mut out);
    if end < text.len() {
        out.push('…');
    }
    out
}

/// HTML-escapes `s` into `out`.
pub(crate) fn escape_into(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(t: &[&str]) -> HashSet<String> {
        t.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn wraps_matches_and_escapes_the_rest() {
        let a = Analyzer::new(["水污染"]);
        let s = snippet(&a, "<b>滁河</b>水污染&死鱼", &terms(&["水污染"]), 100);
        assert_eq!(s, "&lt;b&gt;滁河&lt;/b&gt;<em>水污染</em>&amp;死鱼");
    }

    #[test]
    fn highlights_traditional_text_for_a_simplified_term() {
        let a = Analyzer::new(["水污染"]);
        let s = snippet(&a, "滁河水汙染嚴重", &terms(&["水污染"]), 100);
        assert_eq!(s, "滁河<em>水汙染</em>嚴重");
    }

    #[test]
    fn cuts_long_texts_around_the_first_match() {
        let a = Analyzer::new(["爆炸"]);
        let text = format!("{}工厂发生爆炸{}", "前".repeat(100), "后".repeat(100));
        let s = snippet(&a, &text, &terms(&["爆炸"]), 40);
        assert!(s.starts_with('…') && s.ends_with('…'), "{s}");
        assert!(s.contains("<em>爆炸</em>"), "{s}");
        assert_eq!(
            s.replace("<em>", "").replace("</em>", "").chars().count(),
            42
        );
    }
}

//! SimHash of a post's text, to recognise reposts and copy-paste.

/// Characters that carry no content: white space, punctuation, symbols.
fn is_content(c: char) -> bool {
    c.is_alphanumeric()
}

/// The part of a post that is its own report: a Weibo repost
/// (`转发微博`, `评论 //@someone: quoted`) reduces to the quoted original, so
/// that reposts hash like what they repost.
pub fn report_text(text: &str) -> &str {
    if let Some(i) = text.rfind("//@") {
        let rest = &text[i + 3..];
        // Skip the quoted author's name up to the colon.
        if let Some(j) = rest.find([':', '：']) {
            let quoted = &rest[j + rest[j..].chars().next().map_or(1, char::len_utf8)..];
            if quoted.chars().any(is_content) {
                return quoted;
            }
        }
    }
    text
}

/// 64-bit SimHash over character trigrams of the content characters
/// (lower-cased), so that near-identical texts have nearby hashes.
pub fn simhash(text: &str) -> u64 {
    let chars: Vec<char> = report_text(text)
        .chars()
        .filter(|&c| is_content(c))
        .flat_map(char::to_lowercase)
        .collect();
    let mut weights = [0i32; 64];
    let mut add = |piece: &[char]| {
        let mut buf = [0u8; 16];
        let mut bytes = Vec::with_capacity(12);
        for c in piece {
            bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
        let h = blake3::hash(&bytes);
        let v = u64::from_le_bytes(h.as_bytes()[..8].try_into().unwrap_or([0; 8]));
        for (i, w) in weights.iter_mut().enumerate() {
            if v >> i & 1 == 1 {
                *w += 1;
            } else {
                *w -= 1;
            }
        }
    };
    match chars.len() {
        0 => return 0,
        1..=2 => add(&chars),
        _ => {
            for w in chars.windows(3) {
                add(w);
            }
        }
    }
    weights
        .iter()
        .enumerate()
        .fold(0u64, |acc, (i, &w)| if w > 0 { acc | 1 << i } else { acc })
}

/// Bits that differ.
pub fn distance(a: u64, b: u64) -> u32 {
    (a ^ b).count_ones()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reposts_and_copies_are_near_and_different_reports_far() {
        let a = simhash("滁州一化工厂发生爆炸，造成3人受伤，现场浓烟滚滚");
        let copy = simhash("滁州一化工厂发生爆炸，造成3人受伤，现场浓烟滚滚！！");
        let repost = simhash("转发微博 //@w123: 滁州一化工厂发生爆炸，造成3人受伤，现场浓烟滚滚");
        let comment = simhash("太可怕了 //@w123：滁州一化工厂发生爆炸，造成3人受伤，现场浓烟滚滚");
        let other = simhash("合肥高速公路发生多车相撞事故，两人受伤送医");
        assert!(distance(a, copy) <= 3, "{}", distance(a, copy));
        assert!(distance(a, repost) <= 3, "{}", distance(a, repost));
        assert!(distance(a, comment) <= 3, "{}", distance(a, comment));
        assert!(distance(a, other) > 10, "{}", distance(a, other));
    }
}

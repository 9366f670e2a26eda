//! Reading casualty counts next to casualty words.
//!
//! Chinese reports put the number before the word (`造成3人死亡`,
//! `3名工人遇难`, `13死199伤`, `一死两伤`) or after it (`死亡3人`,
//! `死亡人数升至21人`, `受伤者达40余人`). Only a few characters around each
//! casualty word are read, so this runs only where the automaton found one.

/// Characters that count people.
fn is_classifier(c: char) -> bool {
    matches!(c, '人' | '名' | '位' | '个' | '具' | '例')
}

/// Classifiers accepted after the word (`死亡3人`); `个` and `具` are left
/// out there because `死亡后3个月` is not a count of people.
fn is_forward_classifier(c: char) -> bool {
    matches!(c, '人' | '名' | '位' | '例')
}

fn is_numeral(c: char) -> bool {
    c.is_ascii_digit()
        || matches!(
            c,
            '零' | '〇'
                | '一'
                | '二'
                | '两'
                | '三'
                | '四'
                | '五'
                | '六'
                | '七'
                | '八'
                | '九'
                | '十'
                | '百'
                | '千'
                | '万'
                | '数'
                | '几'
        )
}

fn is_stop(c: char) -> bool {
    // Ideographs of the main block are letters: no table lookup for them.
    if ('\u{4E00}'..='\u{9FFF}').contains(&c) {
        return false;
    }
    c.is_whitespace() || (!c.is_alphanumeric() && c != '.')
}

/// Connecting characters between a casualty word and a following number
/// (`人数已上升至`, `者达`).
fn is_connector(c: char) -> bool {
    matches!(
        c,
        '人' | '数'
            | '者'
            | '员'
            | '已'
            | '经'
            | '上'
            | '升'
            | '增'
            | '加'
            | '至'
            | '到'
            | '达'
            | '为'
            | '共'
            | '计'
            | '累'
            | '超'
            | '过'
            | '逾'
            | '近'
            | '约'
            | '攀'
            | '有'
            | '再'
            | '又'
    )
}

/// Parses a run of numerals: Arabic digits, or Chinese numerals up to the
/// ten-thousands (`三`, `十二`, `两百零五`, `一万`), with `数`/`几` read as
/// their smallest value (`数十` = 20, `十几` = 12). `None` for what is not
/// a well-formed number (`万一`).
pub(crate) fn parse_number(s: &str) -> Option<u32> {
    if s.is_empty() {
        return None;
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse::<u32>().ok().filter(|&n| n <= 1_000_000);
    }
    if s.chars().any(|c| c.is_ascii_digit()) {
        return None;
    }
    let digit = |c: char| -> Option<u32> {
        Some(match c {
            '零' | '〇' => 0,
            '一' => 1,
            '二' | '两' => 2,
            '三' => 3,
            '四' => 4,
            '五' => 5,
            '六' => 6,
            '七' => 7,
            '八' => 8,
            '九' => 9,
            // "several": its smallest sensible value.
            '数' | '几' => 2,
            _ => return None,
        })
    };
    // Checked arithmetic throughout: a run of numerals in a post can be
    // anything (一万万万万万 …), and overflow is "not a count", not a panic.
    let mut total: u32 = 0;
    let mut section: u32 = 0;
    let mut pending: Option<u32> = None;
    let mut last_unit = u32::MAX;
    for c in s.chars() {
        if let Some(d) = digit(c) {
            if pending.is_some() && d != 0 {
                return None; // two digits in a row: 三五 is not a number here
            }
            pending = if d == 0 { None } else { Some(d) };
            if d == 0 {
                continue;
            }
            continue;
        }
        let unit = match c {
            '十' => 10,
            '百' => 100,
            '千' => 1000,
            '万' => 10_000,
            _ => return None,
        };
        if unit == 10_000 {
            let value = section.checked_add(pending.take().unwrap_or(0))?;
            if value == 0 && total == 0 {
                return None; // 万 needs something before it
            }
            total = total.checked_add(value)?.checked_mul(10_000)?;
            section = 0;
            last_unit = u32::MAX;
            continue;
        }
        if unit >= last_unit {
            return None;
        }
        // A leading unit means one of it (十二 = 12, 百余 = 100).
        let d = pending.take().unwrap_or(1);
        section = section.checked_add(d * unit)?;
        last_unit = unit;
    }
    let n = total
        .checked_add(section)?
        .checked_add(pending.unwrap_or(0))?;
    (n > 0 || s.contains(['零', '〇']))
        .then_some(n)
        .filter(|&n| n <= 1_000_000)
}

/// Characters that count things an incident report counts: people,
/// vehicles, vessels, buildings, households, places, occurrences.
fn is_counter(c: char) -> bool {
    matches!(
        c,
        '人' | '名'
            | '位'
            | '辆'
            | '架'
            | '艘'
            | '列'
            | '座'
            | '栋'
            | '幢'
            | '间'
            | '户'
            | '家'
            | '处'
            | '起'
            | '吨'
            | '亩'
            | '例'
            | '级'
    )
}

/// Whether a count (`3人`, `两辆`, `数十名`, `十余户`, `5.8级`) ends
/// within `window` characters before `text[..start]` or starts within
/// `window` characters after `text[end..]`. Only a few characters either
/// side are read.
pub(crate) fn count_close(text: &str, start: usize, end: usize, window: u32) -> bool {
    /// Most characters read either side.
    const READ: usize = 24;
    let window = (window as usize).min(READ - 4);
    // Before: walk back over at most `window` characters to a counter
    // preceded by a numeral (optionally with 余/多/来 between). Read into a
    // fixed buffer: no allocation per term.
    let mut before = ['\0'; READ];
    let mut n = 0;
    for c in text[..start].chars().rev().take(window + 3) {
        before[n] = c;
        n += 1;
    }
    let before = &before[..n];
    for i in 0..before.len().min(window + 1) {
        // 30余, 二十多: a numeral with 余 or 多 is a count whatever follows.
        if matches!(before[i], '余' | '多') && before.get(i + 1).is_some_and(|&c| is_numeral(c)) {
            return true;
        }
        if !is_counter(before[i]) {
            continue;
        }
        let mut j = i + 1;
        match before.get(j) {
            // 多人, 多名, 多辆 (and 十多人): "several" is a count too.
            Some('多') => return true,
            Some('余' | '来') => j += 1,
            _ => {}
        }
        if before.get(j).is_some_and(|&c| is_numeral(c) || c == '.') {
            return true;
        }
    }
    // After: a numeral within `window` characters, then a counter.
    let mut after = ['\0'; READ];
    let mut n = 0;
    for c in text[end..].chars().take(READ) {
        after[n] = c;
        n += 1;
    }
    let after = &after[..n];
    for i in 0..after.len().min(window + 1) {
        if !is_numeral(after[i]) && after[i] != '多' {
            continue;
        }
        let mut j = i;
        while j < after.len() && (is_numeral(after[j]) || after[j] == '.') {
            j += 1;
        }
        if j > i && matches!(after.get(j), Some('余' | '多')) {
            return true;
        }
        if matches!(after.get(j), Some('余' | '多' | '来')) {
            j += 1;
        }
        if after.get(j).is_some_and(|&c| is_counter(c)) {
            return true;
        }
    }
    false
}

/// The count that goes with the casualty word at `text[start..end]`, if
/// one is written next to it.
pub(crate) fn count_near(text: &str, start: usize, end: usize) -> Option<u32> {
    backward(&text[..start]).or_else(|| forward(&text[end..]))
}

/// `造成3人死亡`, `3名工人不幸遇难`, `13死`.
fn backward(before: &str) -> Option<u32> {
    // At most this many characters are read: number, 余, classifier and a
    // gap of up to four (工人不幸).
    const WINDOW: usize = 12;
    let mut chars: [(usize, char); WINDOW] = [(0, ' '); WINDOW];
    let mut n = 0;
    for (i, c) in before.char_indices().rev() {
        if n == WINDOW || is_stop(c) {
            break;
        }
        chars[n] = (i, c);
        n += 1;
    }
    // chars[0] is the character right before the word.
    let w = &chars[..n];
    let num_end = w.iter().position(|&(_, c)| is_numeral(c))?;
    let mut num_start = num_end;
    while num_start + 1 < w.len() && is_numeral(w[num_start + 1].1) {
        num_start += 1;
    }
    // Between the number and the word: optional 余/多/来, then a classifier
    // and up to four characters, or nothing at all (13死).
    let mut between: Vec<char> = w[..num_end].iter().rev().map(|&(_, c)| c).collect();
    if matches!(between.first(), Some('余' | '多' | '来')) {
        between.remove(0);
    }
    let ok = match between.first() {
        None => true,
        Some(&c) if is_classifier(c) => {
            between.len() <= 5 && !between[1..].iter().copied().any(is_numeral)
        }
        Some(_) => false,
    };
    if !ok {
        return None;
    }
    let (s, _) = w[num_start];
    let (e, last) = w[num_end];
    let digits = &before[s..e + last.len_utf8()];
    parse_number(digits)
}

/// `死亡3人`, `死亡人数升至21人`, `受伤者达40余人`.
fn forward(after: &str) -> Option<u32> {
    let mut it = after.char_indices().peekable();
    let mut skipped = 0;
    while let Some(&(_, c)) = it.peek() {
        if is_numeral(c) && c != '数' {
            break;
        }
        if !is_connector(c) || skipped == 6 {
            return None;
        }
        skipped += 1;
        it.next();
    }
    let (s, _) = *it.peek()?;
    let mut e = s;
    while let Some(&(i, c)) = it.peek() {
        if !is_numeral(c) {
            break;
        }
        e = i + c.len_utf8();
        it.next();
    }
    if let Some(&(_, '余' | '多')) = it.peek() {
        it.next();
    }
    match it.peek() {
        Some(&(_, c)) if is_forward_classifier(c) => parse_number(&after[s..e]),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn near(text: &str, word: &str) -> Option<u32> {
        let s = text.find(word).unwrap();
        count_near(text, s, s + word.len())
    }

    #[test]
    fn chinese_numerals() {
        for (s, n) in [
            ("三", 3),
            ("十", 10),
            ("十二", 12),
            ("二十", 20),
            ("两百零五", 205),
            ("一百", 100),
            ("百", 100),
            ("一万", 10_000),
            ("三万五千", 35_000),
            ("数十", 20),
            ("十几", 12),
            ("12", 12),
        ] {
            assert_eq!(parse_number(s), Some(n), "{s}");
        }
        for s in ["万一", "三五", "十百", "", "1二"] {
            assert_eq!(parse_number(s), None, "{s}");
        }
    }

    #[test]
    fn any_run_of_numerals_parses_or_is_refused_without_panic() {
        let alphabet: Vec<char> = "零〇一二两三四五六七八九十百千万数几1".chars().collect();
        let mut buf = String::new();
        let n = alphabet.len();
        for len in 1..=4u32 {
            for mut code in 0..n.pow(len) {
                buf.clear();
                for _ in 0..len {
                    buf.push(alphabet[code % n]);
                    code /= n;
                }
                if let Some(v) = parse_number(&buf) {
                    assert!(v <= 1_000_000, "{buf} -> {v}");
                }
            }
        }
        assert_eq!(parse_number(&"万".repeat(40)), None);
        assert_eq!(parse_number(&format!("一{}", "万".repeat(40))), None);
        let text = format!("爆炸致死亡{}人", "九万".repeat(30));
        let s = text.find("死亡").unwrap();
        assert_eq!(count_near(&text, s, s + 6), None);
    }

    #[test]
    fn numbers_before_the_word() {
        assert_eq!(near("事故造成3人死亡", "死亡"), Some(3));
        assert_eq!(near("3名工人不幸遇难", "遇难"), Some(3));
        assert_eq!(near("已造成13死199伤", "死"), Some(13));
        assert_eq!(near("已造成13死199伤", "伤"), Some(199));
        assert_eq!(near("致一死两伤", "伤"), Some(2));
        assert_eq!(near("造成10余人受伤", "受伤"), Some(10));
        assert_eq!(near("数十名群众被困", "被困"), Some(20));
    }

    #[test]
    fn numbers_after_the_word() {
        assert_eq!(near("目前死亡3人", "死亡"), Some(3));
        assert_eq!(near("遇难人数已上升至21人", "遇难"), Some(21));
        assert_eq!(near("受伤者达40余人", "受伤"), Some(40));
    }

    #[test]
    fn counts_close_to_a_word() {
        let close = |text: &str, word: &str, window| {
            let s = text.find(word).unwrap();
            count_close(text, s, s + word.len(), window)
        };
        assert!(close("老旧小区深夜大火 三人遇难", "大火", 4));
        assert!(close("两辆货车侧翻", "侧翻", 4));
        assert!(close("数十名宾客中毒", "中毒", 4));
        assert!(close("十余户村民饮水困难", "饮水困难", 4));
        assert!(close("发生5.8级地震", "地震", 4));
        assert!(close("多人吃凉皮后中毒", "中毒", 6));
        assert!(close("凌晨火警 30余住客疏散", "火警", 4));
        assert!(close("大火致3人受伤", "大火", 4));
        assert!(!close("这部剧大火了", "大火", 4));
        assert!(!close("2019年大火", "大火", 4));
        assert!(!close("三人行必有我师，大火", "大火", 4));
        assert!(!close("大火", "大火", 4));
    }

    #[test]
    fn no_count_where_none_is_written() {
        assert_eq!(near("一辆货车侧翻致司机死亡", "死亡"), None);
        assert_eq!(near("事故未造成人员伤亡", "伤亡"), None);
        assert_eq!(near("死亡后3个月", "死亡"), None);
        assert_eq!(near("万一受伤怎么办", "受伤"), None);
        assert_eq!(near("2019年，死亡", "死亡"), None);
    }
}

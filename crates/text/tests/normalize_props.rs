//! Properties of the normaliser on arbitrary text: it never panics, its
//! offset map stays inside the original on character boundaries, and
//! normalising twice changes nothing more than normalising once.

use proptest::prelude::*;
use yuqing_text::Normalizer;

/// Characters that exercise every step: ideographs (simplified,
/// traditional, and those OpenCC reads as phrases), full-width forms,
/// upper case, white space of several kinds, zero-width and control
/// characters, combining marks, emoji.
const ALPHABET: &str = "火灾爆炸發災傷乾隆著于的了后後臺台灣湾里裡面麵髮发ＡＢＣａ１２３ABCxyz \t\n\u{3000}\u{a0}\u{200b}\u{200d}\u{feff}\u{ad}\u{7}\u{301}é😀，。！《》“”İΣσςǅK";

fn text() -> impl Strategy<Value = String> {
    let chars: Vec<char> = ALPHABET.chars().collect();
    prop_oneof![
        // Any Unicode scalar values.
        any::<String>(),
        // Dense in the characters that change.
        proptest::collection::vec(proptest::sample::select(chars), 0..40)
            .prop_map(|v| v.into_iter().collect()),
    ]
}

fn normalizer() -> &'static Normalizer {
    static N: std::sync::OnceLock<Normalizer> = std::sync::OnceLock::new();
    N.get_or_init(Normalizer::new)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn normalisation_is_idempotent(input in text()) {
        let once = normalizer().normalize(&input);
        let twice = normalizer().normalize(once.as_str());
        prop_assert_eq!(twice.as_str(), once.as_str());
    }

    #[test]
    fn offsets_map_back_inside_the_original_on_boundaries(input in text()) {
        let out = normalizer().normalize(&input);
        let text = out.as_str();
        let mut last = 0;
        for n in text.char_indices().map(|(i, _)| i).chain([text.len()]) {
            let o = out.to_original(n);
            prop_assert!(o <= input.len(), "{} -> {} of {}", n, o, input.len());
            prop_assert!(input.is_char_boundary(o));
            prop_assert!(o >= last, "offsets go back: {} after {}", o, last);
            last = o;
        }
    }
}

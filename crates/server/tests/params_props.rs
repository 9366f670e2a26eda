//! Property tests of query-string parsing: whatever the query string,
//! parsing answers (never panics), and a bad parameter is named.

use std::sync::OnceLock;

use proptest::prelude::*;
use yuqing_lexicon::Lexicon;
use yuqing_server::params;

fn lexicon() -> &'static Lexicon {
    static LEXICON: OnceLock<Lexicon> = OnceLock::new();
    LEXICON.get_or_init(|| Lexicon::builtin().expect("the built-in dictionaries compile"))
}

const SEARCH: &[&str] = &[
    "q",
    "category",
    "region",
    "platform",
    "from",
    "to",
    "min_score",
    "level",
    "sort",
    "limit",
    "offset",
    "cursor",
];

/// A value: arbitrary text, or near-valid shapes of numbers and times.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[0-9]{0,25}",
        "-?[0-9]{1,5}(\\.[0-9]{0,4})?(e[0-9]{1,3})?",
        "20[0-9]{2}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-9]{2}(Z|[+-][0-9]{2}:[0-9]{2})?",
        Just("NaN".to_string()),
        Just("inf".to_string()),
        Just("滁州".to_string()),
        Just("fire".to_string()),
        Just("red".to_string()),
    ]
}

fn encode(pairs: &[(String, String)]) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        q.append_pair(k, v);
    }
    q.finish()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Any raw query string (percent signs, ampersands, invalid escapes):
    /// an answer, and an error names a parameter.
    #[test]
    fn any_raw_query_string_is_answered(raw in "[a-z_=&%0-9A-F\\x00-\\x7f\u{4e00}-\u{4e10}]{0,200}") {
        for e in [
            params::search(Some(&raw), lexicon()).err(),
            params::histogram(Some(&raw), lexicon()).err(),
            params::facets(Some(&raw), lexicon()).err(),
            params::alerts(Some(&raw), lexicon()).err(),
        ]
        .into_iter()
        .flatten()
        {
            prop_assert!(!e.param.is_empty(), "{e}");
            prop_assert!(e.to_string().starts_with("parameter `"), "{e}");
            prop_assert!(!e.message.is_empty(), "{e}");
        }
    }

    /// Known parameters with arbitrary values: either a request within the
    /// limits, or an error naming one of the parameters given.
    #[test]
    fn a_bad_value_is_named(
        given in proptest::collection::vec((0..SEARCH.len(), value()), 1..5)
    ) {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for (i, v) in given {
            let key = SEARCH[i].to_string();
            if !pairs.iter().any(|(k, _)| *k == key) {
                pairs.push((key, v));
            }
        }
        let raw = encode(&pairs);
        match params::search(Some(&raw), lexicon()) {
            Ok(req) => {
                prop_assert!(req.limit >= 1 && req.limit <= yuqing_index::MAX_LIMIT);
                if let (Some(f), Some(t)) = (req.filters.from, req.filters.to) {
                    prop_assert!(f < t);
                }
                if let Some(s) = req.filters.min_score {
                    prop_assert!(s.is_finite() && s >= 0.0);
                }
            }
            Err(e) => {
                prop_assert!(
                    pairs.iter().any(|(k, _)| *k == e.param),
                    "the error names `{}`, not one of {:?}: {}", e.param, pairs, e
                );
                prop_assert!(!e.message.is_empty());
            }
        }
    }

    /// One parameter given twice, or an unknown one: named.
    #[test]
    fn repeated_and_unknown_parameters_are_named(
        i in 0..SEARCH.len(), a in value(), b in value(), unknown in "[a-z]{1,12}"
    ) {
        let key = SEARCH[i];
        let raw = encode(&[(key.into(), a), (key.into(), b)]);
        let e = params::search(Some(&raw), lexicon()).unwrap_err();
        prop_assert_eq!(e.param.as_str(), key);
        prop_assume!(!SEARCH.contains(&unknown.as_str()));
        let raw = encode(&[(unknown.clone(), "1".into())]);
        let e = params::search(Some(&raw), lexicon()).unwrap_err();
        prop_assert_eq!(e.param, unknown);
    }

    /// Field terms inside `q`: checked, never a panic; an error names the
    /// field and other fields are left alone.
    #[test]
    fn query_fields_are_checked(
        field in prop_oneof![Just("category"), Just("region"), Just("level"), Just("platform")],
        value in value()
    ) {
        match params::query_field(field, &value, lexicon()) {
            Ok(Some(canonical)) => prop_assert!(!canonical.is_empty()),
            Ok(None) => prop_assert_eq!(field, "platform"),
            Err(e) => prop_assert!(e.starts_with(&format!("field `{field}`: ")), "{}", e),
        }
    }
}

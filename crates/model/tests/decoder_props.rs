//! Property tests of the post decoder: whatever the bytes, it answers with
//! a post or an error (never a panic), and an error about a field names it.

use proptest::prelude::*;
use yuqing_model::{FieldNames, ParseOptions, Post, PostError};

fn options() -> [ParseOptions; 2] {
    [
        ParseOptions::default(),
        ParseOptions {
            fields: FieldNames {
                text: "content".into(),
                ..FieldNames::default()
            },
            local_offset_secs: Some(8 * 3600),
            id_optional: true,
            ..ParseOptions::default()
        },
    ]
}

/// A JSON value of any kind, small.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(|f| serde_json::json!(f)),
        ".{0,12}".prop_map(serde_json::Value::from),
        Just(serde_json::Value::from("2024-07-01T08:30:00+08:00")),
        Just(serde_json::Value::from("2024-07-01 08:30:00")),
        Just(serde_json::Value::from("")),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(serde_json::Value::from),
            prop::collection::btree_map("[a-z]{1,4}", inner, 0..3)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

const FIELDS: [&str; 13] = [
    "id", "text", "content", "ts", "platform", "author", "region", "url", "lang", "reposts",
    "comments", "likes", "views",
];

/// An object with some of the post's fields, each with any value.
fn near_post() -> impl Strategy<Value = serde_json::Map<String, serde_json::Value>> {
    prop::collection::vec((prop::sample::select(&FIELDS[..]), json_value()), 0..8)
        .prop_map(|pairs| pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

fn check(bytes: &[u8]) -> Result<(), TestCaseError> {
    for opts in options() {
        match Post::from_json_with(bytes, &opts) {
            Ok(post) => {
                prop_assert!(opts.id_optional || post.validate().is_ok());
            }
            Err(PostError::Missing { field }) | Err(PostError::Field { field, .. }) => {
                prop_assert!(!field.is_empty());
                let text = String::from_utf8_lossy(bytes);
                // The field named is one the input has, or a required one.
                prop_assert!(
                    field == "?"
                        || text.contains(&format!("\"{field}\""))
                        || ["id", "text", "content", "ts"].contains(&field.as_str()),
                    "{field} in {text}"
                );
            }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        check(&bytes)?;
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,80}") {
        check(text.as_bytes())?;
    }

    #[test]
    fn near_valid_posts_never_panic_and_name_the_field(
        object in near_post(),
        cut in 0usize..200,
    ) {
        let json = serde_json::Value::Object(object).to_string();
        check(json.as_bytes())?;
        // The same post cut short is malformed JSON, not a panic.
        let cut = cut.min(json.len());
        check(&json.as_bytes()[..cut])?;
    }

    #[test]
    fn a_wrong_value_in_a_valid_post_is_named(
        field in prop::sample::select(&["id", "text", "ts", "platform", "likes"][..]),
        value in json_value(),
    ) {
        let mut post = serde_json::json!({"id": "a", "text": "滁州爆炸", "ts": 1719792000});
        post[field] = value;
        let json = post.to_string();
        match Post::from_json(json.as_bytes()) {
            Ok(_) => {}
            Err(PostError::Missing { field: f }) | Err(PostError::Field { field: f, .. }) => {
                prop_assert_eq!(f, field);
            }
            Err(e) => prop_assert!(false, "{json}: {e}"),
        }
    }
}

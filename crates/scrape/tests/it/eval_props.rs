//! PromQL's label matchers as the built-in scrape evaluates them
//! (`seawall_scrape::eval`), against a reference written here: regular
//! expressions match the whole value (fully anchored), a missing label is
//! the empty string, and `!=`/`!~` select exactly the complement of
//! `=`/`=~`.

use proptest::prelude::*;
use seawall_scrape::eval::{PagePair, evaluate};
use seawall_scrape::exposition::parse;

/// One alternative of a pattern: a literal, or a literal followed by `.*`.
#[derive(Debug, Clone)]
struct Alt {
    literal: String,
    any_suffix: bool,
}

fn alt() -> impl Strategy<Value = Alt> {
    ("[ab]{0,3}", any::<bool>()).prop_map(|(literal, any_suffix)| Alt {
        literal,
        any_suffix,
    })
}

fn regex_of(alts: &[Alt]) -> String {
    alts.iter()
        .map(|a| format!("{}{}", a.literal, if a.any_suffix { ".*" } else { "" }))
        .collect::<Vec<_>>()
        .join("|")
}

/// Full-match reference: the whole value is one alternative.
fn reference(alts: &[Alt], value: &str) -> bool {
    alts.iter().any(|a| {
        if a.any_suffix {
            value.starts_with(&a.literal)
        } else {
            value == a.literal
        }
    })
}

/// Series `x{i="<n>", l="<v>"}` (or without `l`) with value 1, so a sum
/// counts the selected series.
fn page(values: &[Option<String>]) -> String {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| match v {
            Some(v) => format!("x{{i=\"{i}\",l=\"{v}\"}} 1\n"),
            None => format!("x{{i=\"{i}\"}} 1\n"),
        })
        .collect()
}

fn count(query: &str, text: &str) -> usize {
    let page = parse(text).expect("page");
    let pages = [PagePair {
        instance: "t:1",
        before: &page,
        after: &page,
        seconds: 5.0,
    }];
    let v = evaluate(query, &pages).expect("supported").unwrap_or(0.0);
    assert!(v.fract() == 0.0 && v >= 0.0, "{query}: {v}");
    v as usize
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn regex_matchers_are_fully_anchored(
        values in prop::collection::vec(prop::option::of("[ab]{0,4}"), 1..6),
        alts in prop::collection::vec(alt(), 1..3),
    ) {
        let text = page(&values);
        let re = regex_of(&alts);
        let expected = values
            .iter()
            .filter(|v| reference(&alts, v.as_deref().unwrap_or("")))
            .count();
        prop_assert_eq!(count(&format!("sum(x{{l=~\"{re}\"}})"), &text), expected);
        prop_assert_eq!(
            count(&format!("sum(x{{l!~\"{re}\"}})"), &text),
            values.len() - expected
        );
    }

    #[test]
    fn equality_and_its_complement(
        values in prop::collection::vec(prop::option::of("[ab]{0,2}"), 1..6),
        wanted in "[ab]{0,2}",
    ) {
        let text = page(&values);
        let expected = values
            .iter()
            .filter(|v| v.as_deref().unwrap_or("") == wanted)
            .count();
        prop_assert_eq!(count(&format!("sum(x{{l=\"{wanted}\"}})"), &text), expected);
        prop_assert_eq!(
            count(&format!("sum(x{{l!=\"{wanted}\"}})"), &text),
            values.len() - expected
        );
    }
}

//! The parser: properties over generated and arbitrary input, and its
//! token-label accuracy on messy renderings of generated addresses.

use std::collections::HashSet;

use plaza_address::generate::{self, Rng, messy};
use plaza_address::parse::{Label, MAX_LEN, parse, parse_bytes, parse_with, standardise};
use plaza_address::{Address, Error};
use proptest::prelude::*;

use crate::sample;

fn known_cities() -> HashSet<String> {
    generate::cities(20_000, 11)
}

/// What the parser should give back for a messy rendering of `a`: `a`,
/// with `#` as the unit designator when the rendering used it.
fn expected(a: &Address, truth: &[(String, Label)], zip4_written: bool) -> Address {
    let mut want = a.clone();
    if truth.iter().any(|(t, l)| t == "#" && *l == Label::UnitType) {
        want.unit_type = "#".into();
    }
    if !zip4_written {
        want.zip4.clear();
    }
    want
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = parse_bytes(&bytes);
    }

    #[test]
    fn arbitrary_text_never_panics_and_errors_are_stable(text in "\\PC{0,260}") {
        match parse(&text) {
            Ok(p) => prop_assert!(!p.address.number.is_empty() && !p.address.name.is_empty()),
            Err(e) => {
                let code = e.public().code;
                prop_assert!(
                    ["address.empty", "address.too_long", "address.invalid_characters", "address.unparseable"]
                        .contains(&code.as_ref()),
                    "{code}"
                );
                if text.len() > MAX_LEN {
                    prop_assert_eq!(code.as_ref(), "address.too_long");
                }
            }
        }
    }

    #[test]
    fn standardising_is_idempotent(text in "[0-9]{1,4}( [A-Za-z]{1,9}| #| [0-9A-Z]{1,3}| ,){1,9}( [0-9]{5}(-[0-9]{4})?)?") {
        if let Ok(a) = standardise(&text) {
            let again = standardise(&a.single_line());
            prop_assert_eq!(again.as_ref().ok(), Some(&a), "{} -> {}", text, a.single_line());
        }
    }

    #[test]
    fn any_parsed_text_has_a_fixed_standard_form(text in "[ -~]{0,90}") {
        if let Ok(p) = parse(&text) {
            let standard = p.address.single_line();
            prop_assert_eq!(parse(&standard).map(|p| p.address).ok(), Some(p.address), "{} -> {}", text, standard);
        }
    }

    #[test]
    fn generated_addresses_rendered_messily_parse_back_to_their_labels(index in 0usize..20_000, seed in any::<u64>()) {
        thread_local! {
            static DATA: (Vec<(Address, String)>, HashSet<String>) = (sample(20_000, 11), known_cities());
        }
        DATA.with(|(addresses, cities)| {
            let a = &addresses[index].0;
            let mut rng = Rng::new(seed);
            let (text, truth) = messy(a, &mut rng);
            let known = |c: &str| cities.contains(c);
            let p = parse_with(&text, Some(&known)).unwrap();
            let got: Vec<(String, Label)> = p.tokens.iter().map(|t| (t.text.clone(), t.label)).collect();
            prop_assert_eq!(&got, &truth, "{}", text);
            let zip4_written = truth.iter().any(|(_, l)| *l == Label::Zip4);
            prop_assert_eq!(&p.address, &expected(a, &truth, zip4_written), "{}", text);
            // The standard form is a fixed point.
            let standard = p.address.single_line();
            prop_assert_eq!(parse_with(&standard, Some(&known)).unwrap().address, p.address);
            Ok(())
        })?;
    }
}

#[test]
fn token_label_accuracy_on_messy_addresses() {
    let addresses = sample(20_000, 11);
    let cities = known_cities();
    let known = |c: &str| cities.contains(c);
    let mut rng = Rng::new(99);
    let (mut tokens, mut right_with, mut right_without, mut whole_with, mut whole_without) =
        (0usize, 0usize, 0usize, 0usize, 0usize);
    let n = 5_000;
    for i in 0..n {
        let a = &addresses[(i * 7) % addresses.len()].0;
        let (text, truth) = messy(a, &mut rng);
        tokens += truth.len();
        for (with, right, whole) in [
            (true, &mut right_with, &mut whole_with),
            (false, &mut right_without, &mut whole_without),
        ] {
            let p = if with {
                parse_with(&text, Some(&known))
            } else {
                parse(&text)
            }
            .unwrap();
            let good = p
                .tokens
                .iter()
                .zip(&truth)
                .filter(|(t, (text, label))| t.text == *text && t.label == *label)
                .count();
            *right += good;
            if good == truth.len() && p.tokens.len() == truth.len() {
                *whole += 1;
            }
        }
    }
    let with = right_with as f64 / tokens as f64;
    let without = right_without as f64 / tokens as f64;
    println!(
        "token-label accuracy over {n} messy addresses ({tokens} tokens): {:.2} % with the reference set's city names ({:.2} % of addresses fully right), {:.2} % without ({:.2} %)",
        with * 100.0,
        whole_with as f64 * 100.0 / n as f64,
        without * 100.0,
        whole_without as f64 * 100.0 / n as f64,
    );
    assert!(with >= 0.999, "accuracy with city names {with}");
    assert!(without >= 0.97, "accuracy without city names {without}");
}

#[test]
fn messy_spellings_standardise_alike() {
    let forms = [
        "123 north main street apartment 4b, york, pennsylvania 17401",
        "123 N. Main St. Apt 4B York PA 17401",
        "123  N MAIN STR  APT 4B, YORK PA 17401",
        "123 North Main Street, Apartment 4B, York, PA 17401",
    ];
    for f in forms {
        assert_eq!(
            standardise(f).unwrap().single_line(),
            "123 N MAIN ST APT 4B, YORK PA 17401",
            "{f}"
        );
    }
    assert_eq!(
        standardise("55 Elm Ave #12 York PA 17401")
            .unwrap()
            .unit_type,
        "#"
    );
}

#[test]
fn bad_input_is_refused_with_a_stable_code() {
    let cases: [(&str, &str); 6] = [
        ("", "address.empty"),
        ("   ", "address.empty"),
        (&"9 Long Road ".repeat(20), "address.too_long"),
        ("12 Main St\u{7}", "address.invalid_characters"),
        ("12 Straße", "address.invalid_characters"),
        ("Main Street York PA", "address.unparseable"),
    ];
    for (text, code) in cases {
        let err = parse(text).unwrap_err();
        assert_eq!(err.public().code, code, "{text:?}");
    }
    assert!(matches!(
        parse_bytes(b"12 Main St \xc3\x28"),
        Err(Error::InvalidCharacters)
    ));
}

use super::phonetic::{nysiis, soundex};
use super::similarity::{damerau_levenshtein, jaro_winkler, one_edit_apart};
use super::*;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 0.0005
}

#[test]
fn soundex_known_values() {
    for (name, code) in [
        ("Robert", "R163"),
        ("Rupert", "R163"),
        ("Rubin", "R150"),
        ("Tymczak", "T522"),
        ("Pfister", "P236"),
        ("Honeyman", "H555"),
        ("Ashcraft", "A261"),
        ("Ashcroft", "A261"),
        ("Lee", "L000"),
        ("Gutierrez", "G362"),
        ("Jackson", "J250"),
        ("O'Brien", "O165"),
    ] {
        assert_eq!(soundex(name), code, "{name}");
    }
    assert_eq!(soundex("1234"), "");
}

#[test]
fn nysiis_follows_the_published_rules() {
    for (name, code) in [
        // Rule 1: the start of the name.
        ("Knight", "NAGT"),
        ("Phillips", "FALAP"),
        ("Schmidt", "SNAD"),
        ("Macintosh", "MCANT"),
        ("Kelly", "CALY"),
        // Rule 2: the end of the name.
        ("Brandt", "BRAND"),
        ("McKee", "MCY"),
        // The scan: vowels to A, H and W after vowels, trailing S and A.
        ("Brown", "BRAN"),
        ("Johnson", "JANSAN"),
        ("Williams", "WALAN"),
        ("Bishop", "BASAP"),
        ("Evans", "EVAN"),
        ("Stevens", "STAFAN"),
    ] {
        assert_eq!(nysiis(name), code, "{name}");
    }
    // Spellings of one name meet; different names do not.
    assert_eq!(nysiis("Catherine"), nysiis("Katherine"));
    assert_eq!(nysiis("Phillips"), nysiis("Philips"));
    assert_eq!(nysiis("Macdonald"), nysiis("Mcdonald"));
    assert_ne!(nysiis("Smith"), nysiis("Schmidt"));
    assert_eq!(nysiis(""), "");
}

#[test]
fn jaro_winkler_known_values() {
    assert!(
        close(jaro_winkler("MARTHA", "MARHTA"), 0.961),
        "{}",
        jaro_winkler("MARTHA", "MARHTA")
    );
    assert!(
        close(jaro_winkler("DIXON", "DICKSONX"), 0.813),
        "{}",
        jaro_winkler("DIXON", "DICKSONX")
    );
    assert!(
        close(jaro_winkler("DWAYNE", "DUANE"), 0.840),
        "{}",
        jaro_winkler("DWAYNE", "DUANE")
    );
    assert_eq!(jaro_winkler("SMITH", "SMITH"), 1.0);
    assert_eq!(jaro_winkler("ABC", "XYZ"), 0.0);
    assert_eq!(jaro_winkler("", ""), 1.0);
}

#[test]
fn jaro_winkler_and_distance_agree_with_an_independent_implementation() {
    let names = super::nicknames::pair_count();
    assert!(names >= 60, "{names} nickname pairs");
    let words = [
        "SMITH",
        "SMYTH",
        "SCHMIDT",
        "JOHNSON",
        "JONSON",
        "JOHNSTON",
        "MARTHA",
        "MARHTA",
        "AB",
        "BA",
        "A",
        "",
        "CATHERINE",
        "KATHRYN",
        "WILLIAMS",
        "WILLAIMS",
        "GONZALEZ",
        "GONZALES",
        "OBRIEN",
        "BRIAN",
        "ABCDEFGHIJ",
        "JIHGFEDCBA",
        "TYMCZAK",
        "TYMZCAK",
    ];
    for a in words {
        for b in words {
            let ours = jaro_winkler(a, b);
            let theirs = strsim::jaro_winkler(a, b);
            assert!((ours - theirs).abs() < 1e-9, "{a} {b}: {ours} vs {theirs}");
            assert_eq!(
                damerau_levenshtein(a, b),
                strsim::osa_distance(a, b),
                "{a} {b}"
            );
            assert_eq!(
                one_edit_apart(a, b),
                strsim::osa_distance(a, b) == 1,
                "{a} {b}"
            );
        }
    }
}

#[test]
fn names_and_identifiers_are_normalised() {
    assert_eq!(normalise_name("O'Brien").as_deref(), Some("OBRIEN"));
    assert_eq!(normalise_name("smith jr.").as_deref(), Some("SMITH"));
    assert_eq!(normalise_name("De La Cruz").as_deref(), Some("DELACRUZ"));
    assert_eq!(normalise_name(" - "), None);
    assert_eq!(
        normalise_identifier("912-34-5678").as_deref(),
        Some("912345678")
    );
    assert_eq!(normalise_identifier("pa 1234").as_deref(), Some("PA1234"));
}

#[test]
fn nicknames_meet_their_formal_names_and_each_other() {
    assert!(compare::nickname_match("Bill", "William"));
    assert!(compare::nickname_match("Billy", "Will"));
    assert!(compare::nickname_match("Peggy", "Margaret"));
    assert!(compare::nickname_match("Al", "Alfred") && compare::nickname_match("Al", "Albert"));
    assert!(!compare::nickname_match("Bill", "Robert"));
    assert!(!compare::nickname_match("Zelda", "Zelda"));
}

fn person(first: &str, last: &str, dob: (u16, u8, u8)) -> Descriptors {
    Descriptors {
        first: Some(first.into()),
        middle: None,
        last: Some(last.into()),
        sex: Some(Sex::Male),
        dob: Date::new(dob.0, dob.1, dob.2),
        ..Default::default()
    }
}

fn level(c: &Candidate, field: Field) -> Option<Level> {
    c.fields.iter().find(|f| f.field == field).map(|f| f.level)
}

#[test]
fn comparison_levels_name_the_noise() {
    let m = Matcher::new(Weights::shipped());
    let q = person("William", "Johnson", (1970, 3, 14));
    let c = m.compare(&q, &person("Bill", "Jonson", (1970, 3, 14)));
    assert_eq!(level(&c, Field::First), Some(Level::Nickname));
    assert_eq!(level(&c, Field::Last), Some(Level::Typo));
    let c = m.compare(&q, &person("Johnson", "William", (1970, 3, 14)));
    assert_eq!(level(&c, Field::NameOrder), Some(Level::Swapped));
    assert_eq!(level(&c, Field::First), Some(Level::Exact));
    // 1970-12-03 against 1970-03-12.
    let c = m.compare(
        &Descriptors {
            dob: Date::new(1970, 3, 12),
            ..q.clone()
        },
        &Descriptors {
            dob: Date::new(1970, 12, 3),
            ..q.clone()
        },
    );
    assert_eq!(level(&c, Field::Dob), Some(Level::DayMonthSwapped));
    assert_eq!(Date::new(1970, 14, 3), None, "no such date");
    let c = m.compare(
        &q,
        &Descriptors {
            dob: Date::new(1907, 3, 14),
            ..q.clone()
        },
    );
    assert_eq!(level(&c, Field::Dob), Some(Level::YearDigitsTransposed));
    let c = m.compare(
        &q,
        &Descriptors {
            dob: Date::new(1970, 3, 19),
            ..q.clone()
        },
    );
    assert_eq!(level(&c, Field::Dob), Some(Level::OneDigit));
    let c = m.compare(
        &q,
        &Descriptors {
            dob: Date::new(1975, 8, 2),
            ..q.clone()
        },
    );
    assert_eq!(level(&c, Field::Dob), Some(Level::Disagree));
    let with_ssn = Descriptors {
        ssn: Some("912-34-5678".into()),
        ..q.clone()
    };
    let c = m.compare(
        &with_ssn,
        &Descriptors {
            ssn: Some("912345687".into()),
            ..q.clone()
        },
    );
    assert_eq!(level(&c, Field::Ssn), Some(Level::OneDigit));
    let c = m.compare(&with_ssn, &q);
    assert_eq!(level(&c, Field::Ssn), None, "missing fields are left out");
}

fn with_middle(d: Descriptors, middle: &str) -> Descriptors {
    Descriptors {
        middle: Some(middle.into()),
        ..d
    }
}

#[test]
fn a_twin_scores_below_the_person_and_the_drivers_say_why() {
    let mut m = Matcher::new(Weights::shipped());
    m.insert(1, &person("James", "Tymczak", (1980, 6, 2)));
    m.insert(2, &person("Jomes", "Tymczak", (1980, 6, 2)));
    m.insert(
        3,
        &with_middle(person("Robert", "Tymczak", (1980, 6, 2)), "Paul"),
    );
    m.insert(4, &person("James", "Tymczak", (1954, 1, 30)));
    m.insert(5, &person("Robert", "Tymczak", (1980, 6, 2)));
    let query = with_middle(person("James", "Tymczak", (1980, 6, 2)), "Carl");
    let found = m.score_all(&query);
    // A record blocking does not put forward scores minus infinity.
    let score = |id| {
        found
            .iter()
            .find(|c| c.record_id == id)
            .map_or(f64::NEG_INFINITY, |c| c.score)
    };
    assert!(score(1) > score(2) && score(2) > score(5), "{found:?}");
    assert!(
        score(3) < m.weights().review_threshold,
        "the twin: {found:?}"
    );
    assert!(
        score(4) < m.weights().review_threshold,
        "the father: {found:?}"
    );
    // Without middle names, a twin with the same rare surname, birth date
    // and sex is for an examiner at most, never an automatic match.
    assert!(score(5) < m.weights().match_threshold, "{found:?}");
    let twin = found.iter().find(|c| c.record_id == 3).unwrap();
    let drivers = twin.drivers();
    assert_eq!(drivers[0].field, Field::Dob, "{drivers:?}");
    assert!(
        drivers
            .iter()
            .any(|d| d.field == Field::First && d.weight < 0.0)
    );
    assert!(
        drivers
            .iter()
            .any(|d| d.field == Field::Middle && d.level == Level::Disagree)
    );
    let top = m.search(&query);
    assert_eq!(top[0].record_id, 1);
    assert_eq!(top[0].decision, Decision::Match);
    assert!(top.iter().all(|c| c.record_id != 3 && c.record_id != 4));
}

#[test]
fn another_surname_the_applicant_lists_finds_and_matches_the_record() {
    let mut m = Matcher::new(Weights::shipped());
    m.insert(1, &person("Mary", "Kowalski", (1971, 11, 5)));
    m.insert(2, &person("Mary", "Jensen", (1971, 11, 5)));
    let query = Descriptors {
        aliases: vec!["Kowalski".into()],
        ..person("Mary", "Lindqvist", (1971, 11, 5))
    };
    let top = m.search(&query);
    assert_eq!(top[0].record_id, 1);
    assert_eq!(top[0].decision, Decision::Match);
    assert!(
        top.iter()
            .all(|c| c.record_id == 1 || c.decision != Decision::Match),
        "{top:?}"
    );
    assert!(
        top[0]
            .fields
            .iter()
            .any(|f| f.field == Field::Last && f.level == Level::Alias)
    );
}

#[test]
fn blocking_finds_swapped_names_nicknames_and_year_typos() {
    let mut m = Matcher::new(Weights::shipped());
    m.insert(10, &person("Smith", "Robert", (1966, 9, 21)));
    m.insert(11, &person("Bob", "Smith", (1966, 9, 21)));
    m.insert(12, &person("Robert", "Smiht", (1969, 9, 21)));
    m.insert(13, &person("Robert", "Jones", (1966, 9, 21)));
    m.insert(
        14,
        &Descriptors {
            dob: None,
            ssn: Some("901-11-2222".into()),
            ..person("Robert", "Smith", (1966, 9, 21))
        },
    );
    m.insert(15, &person("Alice", "Brown", (1990, 1, 1)));
    let q = person("Robert", "Smith", (1966, 9, 21));
    let mut ids: Vec<u64> = m.score_all(&q).iter().map(|c| c.record_id).collect();
    ids.sort();
    assert_eq!(ids, [10, 11, 12, 13, 14]);
    assert!(m.index().entries() >= m.len() * 4);
    assert!(m.index().largest_block() <= m.len());
}

#[test]
fn the_shipped_weights_parse_and_a_bad_file_is_refused_with_every_reason() {
    let w = Weights::shipped();
    assert!(w.match_threshold > w.review_threshold);
    assert_eq!(w.threshold_shift(10), 0.0);
    assert_eq!(w.threshold_shift(800_000), 3.0);
    assert_eq!(w.decide(w.match_threshold + 0.1, 10), Decision::Match);
    assert_eq!(
        w.decide(w.match_threshold + 0.1, 800_000),
        Decision::NonMatch
    );
    assert_eq!(
        w.decide(w.review_threshold + 3.1, 800_000),
        Decision::PossibleMatch
    );
    assert_eq!(w.decide(w.match_threshold + 3.1, 800_000), Decision::Match);
    assert!(w.weight(Field::Dob, Level::Exact, || 0.0) > 10.0);
    assert!(w.weight(Field::First, Level::Disagree, || 0.0) < 0.0);
    let common = w.weight(Field::Last, Level::Exact, || 0.02);
    let rare = w.weight(Field::Last, Level::Exact, || 0.000_001);
    assert!(rare > common);
    assert_eq!(rare, (0.92f64 / w.frequency_floor).log2());

    let bad = weights::SHIPPED
        .replace("match = 20.0", "match = 5.0")
        .replace(
            "typo = { m = 0.05, u = 0.001 }",
            "typo = { m = 1.5, u = 0.001 }",
        )
        .replace("[fbi]", "[fbi]\nclose = { m = 0.1, u = 0.1 }")
        .replace(
            "swapped = { m = 0.03, u = 0.085 }",
            "swapped = { m = 0.03, u = \"frequency\" }",
        )
        + "\ncolour = \"blue\"\n";
    let err = Weights::parse("bad.toml", &bad).unwrap_err();
    assert_eq!(err.file, "bad.toml");
    assert_eq!(err.reasons.len(), 5, "{err}");
    for needle in [
        "must not be above match",
        "last.typo",
        "fbi.close",
        "name_order.swapped",
        "colour",
    ] {
        assert!(err.to_string().contains(needle), "{needle}: {err}");
    }
    let e = crate::Error::from(err);
    assert_eq!(e.public().code, "checks.weights_invalid");
    assert!(Weights::parse("x", "match = [").is_err());
    assert!(Weights::load(Some(std::path::Path::new("/nonexistent/w.toml"))).is_err());
}

#[test]
fn filler_and_invalid_ssns_read_as_missing() {
    for filler in [
        "000-12-3456",
        "666-12-3456",
        "512-00-3456",
        "512-34-0000",
        "123-45-6789",
        "111-11-1111",
        "555555555",
        "999-99-9999",
        "000-00-0000",
        "078-05-1120",
        "219-09-9999",
        "987-65-4320",
        "987-65-4329",
        "12345678",
        "5123456789",
        "N/A",
        "UNKNOWN",
        "51234567X",
        "",
    ] {
        assert_eq!(normalise_ssn(filler), None, "{filler:?}");
    }
    for (ssn, digits) in [
        ("512-34-5678", "512345678"),
        (" 512 34 5678 ", "512345678"),
        // Never issued, but what synthetic people are given: kept.
        ("912-34-5678", "912345678"),
        ("999-12-3456", "999123456"),
        ("987-65-4319", "987654319"),
        ("123-45-6788", "123456788"),
        ("001-01-0001", "001010001"),
    ] {
        assert_eq!(normalise_ssn(ssn).as_deref(), Some(digits), "{ssn:?}");
    }
}

#[test]
fn a_shared_filler_ssn_neither_blocks_nor_scores() {
    let mut m = Matcher::new(Weights::shipped());
    let strangers = [
        ("Alice", "Brown", (1990, 1, 1)),
        ("Omar", "Haddad", (1961, 7, 23)),
        ("Grace", "Okafor", (1984, 2, 9)),
        ("Lars", "Berg", (1977, 12, 30)),
    ];
    for (i, (first, last, dob)) in strangers.into_iter().enumerate() {
        for (j, filler) in ["123-45-6789", "000-00-0000", "078-05-1120"]
            .into_iter()
            .enumerate()
        {
            m.insert(
                (i * 10 + j) as u64,
                &Descriptors {
                    ssn: Some(filler.into()),
                    ..person(first, last, dob)
                },
            );
        }
    }
    m.insert(
        99,
        &Descriptors {
            ssn: Some("912-34-5678".into()),
            ..person("Hana", "Sato", (1988, 4, 4))
        },
    );
    // Filed under names and dates only: no block of all the fillers.
    assert!(
        m.index().largest_block() <= 3,
        "{}",
        m.index().largest_block()
    );

    let query = Descriptors {
        ssn: Some("123-45-6789".into()),
        ..person("Ruth", "Abernathy", (1950, 5, 5))
    };
    assert!(m.score_all(&query).is_empty(), "{:?}", m.score_all(&query));
    let only = |ssn: &str| Descriptors {
        ssn: Some(ssn.into()),
        ..Default::default()
    };
    assert!(m.score_all(&only("123-45-6789")).is_empty());
    assert!(m.score_all(&only("078 05 1120")).is_empty());
    // A real number alone does find its record.
    let found = m.score_all(&only("912-34-5678"));
    assert_eq!(found.iter().map(|c| c.record_id).collect::<Vec<_>>(), [99]);

    // Two people who share a filler score as if neither gave a number.
    let a = person("Ruth", "Abernathy", (1950, 5, 5));
    let b = person("Ruth", "Abernathy", (1950, 5, 8));
    let filler = |d: &Descriptors, ssn: &str| Descriptors {
        ssn: Some(ssn.into()),
        ..d.clone()
    };
    let plain = m.compare(&a, &b);
    for ssn in ["123-45-6789", "666-12-3456", "512-00-3456", "999-99-9999"] {
        let c = m.compare(&filler(&a, ssn), &filler(&b, ssn));
        assert_eq!(level(&c, Field::Ssn), None, "{ssn}");
        assert_eq!(c.score, plain.score, "{ssn}");
    }
    let c = m.compare(&filler(&a, "512-34-5678"), &filler(&b, "512-34-5678"));
    assert_eq!(level(&c, Field::Ssn), Some(Level::Exact));
    assert!(c.score > plain.score + 10.0, "{} {}", c.score, plain.score);
}

#[test]
fn accented_letters_fold_to_plain_ones() {
    for (raw, folded) in [
        ("José", "JOSE"),
        ("Nuñez", "NUNEZ"),
        ("NUÑEZ", "NUNEZ"),
        ("Müller", "MULLER"),
        ("François", "FRANCOIS"),
        ("Strauß", "STRAUSS"),
        ("Ærøskøbing", "AEROSKOBING"),
        ("Œuvray", "OEUVRAY"),
        ("Ýmir Ÿvon", "YMIRYVON"),
        ("Åsa Ängström", "ASAANGSTROM"),
        ("Íñigo Ìrlà", "INIGOIRLA"),
        ("Gonçalves Jr.", "GONCALVES"),
        // Decomposed: the base letter and a combining accent.
        ("Jose\u{301}", "JOSE"),
    ] {
        assert_eq!(normalise_name(raw).as_deref(), Some(folded), "{raw}");
    }
    assert_eq!(normalise_name("李"), None);
    for c in "áàâäãåÁÀÂÄÃÅ".chars() {
        assert_eq!(fold_letter(c), Some("A"), "{c}");
    }
    for c in "óòôöõøÓÒÔÖÕØ".chars() {
        assert_eq!(fold_letter(c), Some("O"), "{c}");
    }
    for c in "úùûüÚÙÛÜ".chars() {
        assert_eq!(fold_letter(c), Some("U"), "{c}");
    }
    assert_eq!(fold_letter('e'), None, "plain letters are not the table's");
    assert_eq!(fold_letter('-'), None);
}

#[test]
fn accented_and_plain_spellings_share_blocking_keys_and_match_exactly() {
    let accented = person("José", "Nuñez", (1979, 10, 4));
    let plain = person("JOSE", "NUNEZ", (1979, 10, 4));
    let keys = |d: &Descriptors| blocking::record_keys(&Prepared::new(d));
    assert_eq!(keys(&accented), keys(&plain));
    assert_eq!(
        blocking::query_keys(&Prepared::new(&accented)),
        blocking::query_keys(&Prepared::new(&plain))
    );

    let mut m = Matcher::new(Weights::shipped());
    m.insert(1, &plain);
    m.insert(2, &person("Jos", "Nuez", (1979, 10, 4)));
    m.insert(3, &person("Renée", "Lefèvre", (1985, 3, 17)));
    let top = m.search(&accented);
    assert_eq!(top[0].record_id, 1, "{top:?}");
    assert_eq!(top[0].decision, Decision::Match);
    assert_eq!(level(&top[0], Field::First), Some(Level::Exact));
    assert_eq!(level(&top[0], Field::Last), Some(Level::Exact));
    let top = m.search(&person("Renee", "Lefevre", (1985, 3, 17)));
    assert_eq!(top[0].record_id, 3, "{top:?}");
    assert_eq!(level(&top[0], Field::Last), Some(Level::Exact));
}

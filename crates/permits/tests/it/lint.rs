//! Every lint code, provoked by one small edit to a good catalogue, with
//! the line it must point at.

use std::collections::HashSet;

use plaza_kernel::testing::temp_dir;
use plaza_permits::lint::{self, Code, LintError, MAX_FILE_BYTES, Source};

/// A good two-permit file; each case edits one line of it.
pub const GOOD: &str = r#"# SAMPLE DATA for tests.
jurisdiction = "MA"

[[disqualifier]]
code = "ma-140-131-d-vi"
description = "Subject to a restraining order"
lookback_years = 5

[[permit]]
id = "ma-ltc"
name = "Licence to Carry"
kind = "carry_licence"
fee_cents = 10000
validity = { years = 6 }
minimum_age = 21
residency = { required = true, non_resident_allowed = false }
training = { hours = 5, live_fire_hours = 1, proof = ["course_certificate"], min_score_percent = 70 }
references = 0
fingerprints = true
interview = true
waiting_period_days = 0
decision_deadline = { days = 40, counting = "calendar" }
renewal = { opens_days_before_expiry = 90, grace_days_after = 90 }
disqualifiers = ["ma-140-131-d-vi"]

[[permit]]
id = "ma-ltc-renewal"
name = "Licence to Carry, renewal"
kind = "carry_renewal"
renews = "ma-ltc"
fee_cents = 10000
validity = { years = 6 }
minimum_age = 21
residency = { required = true, non_resident_allowed = false }
references = 0
fingerprints = true
interview = false
waiting_period_days = 0
decision_deadline = { days = 40, counting = "calendar" }
disqualifiers = ["ma-140-131-d-vi"]
"#;

/// The 1-based line of the `n`-th (0-based) line that starts with `start`.
pub fn line_of(text: &str, start: &str, n: usize) -> u32 {
    text.lines()
        .enumerate()
        .filter(|(_, l)| l.starts_with(start))
        .nth(n)
        .map(|(i, _)| i as u32 + 1)
        .unwrap_or_else(|| panic!("no line {n} starting {start:?}"))
}

/// `text` with the `n`-th line starting with `start` replaced by `new`
/// (several lines when `new` holds newlines; none when it is empty), and
/// the line number it had.
pub fn edit(text: &str, start: &str, n: usize, new: &str) -> (String, u32) {
    let line = line_of(text, start, n);
    let out: Vec<&str> = text
        .lines()
        .enumerate()
        .flat_map(|(i, l)| {
            if i as u32 + 1 == line {
                if new.is_empty() {
                    vec![]
                } else {
                    new.lines().collect()
                }
            } else {
                vec![l]
            }
        })
        .collect();
    (out.join("\n") + "\n", line)
}

fn lint_one(text: &str) -> Result<usize, Vec<LintError>> {
    lint::lint(&[Source::new("ma.toml", text)]).map(|t| t.len())
}

fn errors_of(files: &[(&str, &str)]) -> Vec<LintError> {
    let sources: Vec<Source> = files.iter().map(|(n, t)| Source::new(*n, *t)).collect();
    match lint::lint(&sources) {
        Ok(types) => panic!("accepted {} types, expected errors", types.len()),
        Err(errors) => errors,
    }
}

/// Asserts that `errors` hold `code` in `file` at `line`.
#[track_caller]
fn expect(errors: &[LintError], file: &str, code: Code, line: Option<u32>) {
    assert!(
        errors
            .iter()
            .any(|e| e.code == code && e.file == file && e.line == line),
        "wanted {file}:{line:?} {code}; got:\n{}",
        errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// One edit of [`GOOD`] and what it must produce.
struct Case {
    code: Code,
    start: &'static str,
    /// Which line starting with `start`: 0 the first permit's, 1 the
    /// renewal's.
    nth: usize,
    new: &'static str,
    /// The line the error must point at, when it is not the edited line:
    /// (start, nth) of that line.
    at: Option<(&'static str, usize)>,
}

const fn case(code: Code, start: &'static str, nth: usize, new: &'static str) -> Case {
    Case {
        code,
        start,
        nth,
        new,
        at: None,
    }
}

const fn case_at(
    code: Code,
    start: &'static str,
    nth: usize,
    new: &'static str,
    at: (&'static str, usize),
) -> Case {
    Case {
        code,
        start,
        nth,
        new,
        at: Some(at),
    }
}

const CASES: &[Case] = &[
    case(Code::Syntax, "fee_cents", 0, "fee_cents = "),
    case_at(
        Code::FieldUnknown,
        "name",
        0,
        "name = \"x\"\ncolour = \"blue\"",
        ("colour", 0),
    ),
    case_at(Code::FieldMissing, "fee_cents", 0, "", ("[[permit]]", 0)),
    case_at(Code::FieldMissing, "jurisdiction", 0, "", ("# SAMPLE", 0)),
    case(Code::FieldType, "minimum_age", 0, "minimum_age = \"21\""),
    case(Code::FieldType, "fingerprints", 1, "fingerprints = 1"),
    case(Code::FieldInvalid, "name", 0, "name = \"  \""),
    case(Code::IdInvalid, "id", 0, "id = \"MA LTC\""),
    case(
        Code::IdWrongJurisdiction,
        "id",
        1,
        "id = \"ny-ltc-renewal\"",
    ),
    case(
        Code::JurisdictionUnknown,
        "jurisdiction",
        0,
        "jurisdiction = \"XX\"",
    ),
    case(Code::KindUnknown, "kind", 0, "kind = \"bazooka_licence\""),
    case(Code::FeeNegative, "fee_cents", 0, "fee_cents = -100"),
    case(Code::FeeAbsurd, "fee_cents", 1, "fee_cents = 150_000_000"),
    case_at(
        Code::FeeNonResidentNotAllowed,
        "fee_cents",
        0,
        "fee_cents = 10000\nnon_resident_fee_cents = 30000",
        ("non_resident_fee_cents", 0),
    ),
    case(Code::AgeOutOfRange, "minimum_age", 0, "minimum_age = 15"),
    case(Code::AgeOutOfRange, "minimum_age", 1, "minimum_age = 100"),
    case(
        Code::ValidityShape,
        "validity",
        0,
        "validity = { years = 6, days = 30 }",
    ),
    case(Code::ValidityShape, "validity", 1, "validity = {}"),
    case(
        Code::ValidityOutOfRange,
        "validity",
        0,
        "validity = { years = 50 }",
    ),
    case(
        Code::ResidencyContradictory,
        "residency",
        0,
        "residency = { required = false, non_resident_allowed = false }",
    ),
    case(
        Code::TrainingNoProof,
        "training",
        0,
        "training = { hours = 5, proof = [] }",
    ),
    case(
        Code::TrainingUnknownProof,
        "training",
        0,
        "training = { hours = 5, proof = [\"a_good_feeling\"] }",
    ),
    case(
        Code::TrainingOutOfRange,
        "training",
        0,
        "training = { hours = 500, proof = [\"course_certificate\"] }",
    ),
    case(
        Code::TrainingLiveFireExceedsHours,
        "training",
        0,
        "training = { hours = 1, live_fire_hours = 2, proof = [\"course_certificate\"] }",
    ),
    case(
        Code::TrainingScoreOutOfRange,
        "training",
        0,
        "training = { hours = 1, proof = [\"course_certificate\"], min_score_percent = 101 }",
    ),
    case(
        Code::ReferencesOutOfRange,
        "references",
        0,
        "references = 11",
    ),
    case(
        Code::WaitingOutOfRange,
        "waiting_period_days",
        1,
        "waiting_period_days = 400",
    ),
    case(
        Code::DeadlineZero,
        "decision_deadline",
        0,
        "decision_deadline = { days = 0, counting = \"calendar\" }",
    ),
    case(
        Code::DeadlineOutOfRange,
        "decision_deadline",
        1,
        "decision_deadline = { days = 1000, counting = \"calendar\" }",
    ),
    case(
        Code::DeadlineUnknownCounting,
        "decision_deadline",
        0,
        "decision_deadline = { days = 10, counting = \"weekdays\" }",
    ),
    // A single-use permit has nothing to renew; nor has a safety certificate.
    case_at(
        Code::RenewalNotRenewable,
        "validity",
        0,
        "validity = { void_after_issue_days = 10 }",
        ("renewal", 0),
    ),
    case_at(
        Code::RenewalNotRenewable,
        "kind",
        0,
        "kind = \"safety_certificate\"",
        ("renewal", 0),
    ),
    case(
        Code::RenewalOutOfRange,
        "renewal",
        0,
        "renewal = { opens_days_before_expiry = 0, grace_days_after = 0 }",
    ),
    case(
        Code::RenewalOutOfRange,
        "renewal",
        0,
        "renewal = { opens_days_before_expiry = 30, grace_days_after = 400 }",
    ),
    case_at(
        Code::RenewalWindowTooLong,
        "validity",
        0,
        "validity = { days = 60 }",
        ("renewal", 0),
    ),
    case_at(Code::RenewsMissing, "renews", 0, "", ("[[permit]]", 1)),
    case_at(
        Code::RenewsUnexpected,
        "kind",
        0,
        "kind = \"carry_licence\"\nrenews = \"ma-ltc\"",
        ("renews", 0),
    ),
    case(Code::RenewsUnknown, "renews", 0, "renews = \"ma-nothing\""),
    case_at(
        Code::RenewsMismatch,
        "kind",
        1,
        "kind = \"owner_id_renewal\"",
        ("renews", 0),
    ),
    case(
        Code::DisqualifierInvalidCode,
        "code",
        0,
        "code = \"MA 140\"",
    ),
    case(Code::DisqualifierFederal, "code", 0, "code = \"922(g)(1)\""),
    case(
        Code::DisqualifierFederal,
        "disqualifiers",
        1,
        "disqualifiers = [\"ma-140-131-d-vi\", \"922g9\"]",
    ),
    case(
        Code::DisqualifierDuplicate,
        "disqualifiers",
        0,
        "disqualifiers = [\"ma-140-131-d-vi\", \"ma-140-131-d-vi\"]",
    ),
    case(
        Code::DisqualifierUnknown,
        "disqualifiers",
        1,
        "disqualifiers = [\"ma-140-131-d-vi\", \"ma-nope\"]",
    ),
    case(
        Code::DisqualifierLookbackOutOfRange,
        "lookback_years",
        0,
        "lookback_years = 0",
    ),
];

#[test]
fn the_good_file_is_accepted() {
    assert_eq!(lint_one(GOOD), Ok(2));
}

#[test]
fn each_edit_is_refused_with_its_code_at_its_line() {
    for c in CASES {
        let (text, edited) = edit(GOOD, c.start, c.nth, c.new);
        let line = match c.at {
            Some((start, nth)) => line_of(&text, start, nth),
            None => edited,
        };
        let errors = errors_of(&[("ma.toml", &text)]);
        expect(&errors, "ma.toml", c.code, Some(line));
        for e in &errors {
            assert!(
                !e.reason.is_empty() && !e.reason.contains('\n'),
                "a reason on one line: {e}"
            );
        }
    }
}

#[test]
fn every_mistake_in_a_file_is_reported_not_only_the_first() {
    let (text, fee) = edit(GOOD, "fee_cents", 0, "fee_cents = -1");
    let (text, age) = edit(&text, "minimum_age", 1, "minimum_age = 12");
    let (text, kind) = edit(&text, "kind", 0, "kind = \"nope\"");
    let errors = errors_of(&[("ma.toml", &text)]);
    expect(&errors, "ma.toml", Code::FeeNegative, Some(fee));
    expect(&errors, "ma.toml", Code::AgeOutOfRange, Some(age));
    expect(&errors, "ma.toml", Code::KindUnknown, Some(kind));
    let lines: Vec<_> = errors.iter().map(|e| e.line).collect();
    let mut sorted = lines.clone();
    sorted.sort();
    assert_eq!(lines, sorted, "reported in line order");
}

#[test]
fn messages_name_the_permit_and_the_field() {
    let (text, _) = edit(GOOD, "fee_cents", 1, "fee_cents = -1");
    let errors = errors_of(&[("ma.toml", &text)]);
    assert_eq!(
        errors[0].to_string(),
        format!(
            "ma.toml:{}: fee.negative: permit ma-ltc-renewal: fee_cents is negative (-1)",
            line_of(&text, "fee_cents", 1)
        )
    );
    let (text, _) = edit(
        GOOD,
        "decision_deadline",
        0,
        "decision_deadline = { days = 0, counting = \"business\" }",
    );
    let errors = errors_of(&[("ma.toml", &text)]);
    assert!(
        errors[0]
            .reason
            .starts_with("permit ma-ltc: decision_deadline: days is 0"),
        "{}",
        errors[0]
    );
}

#[test]
fn ids_are_unique_across_files() {
    let other = GOOD.replace("# SAMPLE DATA for tests.", "# SAMPLE DATA, second file.");
    let errors = errors_of(&[("ma.toml", GOOD), ("ma-2.toml", &other)]);
    expect(
        &errors,
        "ma-2.toml",
        Code::IdDuplicate,
        Some(line_of(&other, "id", 0)),
    );
    let first = errors.iter().find(|e| e.code == Code::IdDuplicate).unwrap();
    assert!(
        first
            .reason
            .contains(&format!("ma.toml:{}", line_of(GOOD, "id", 0))),
        "the first use is named: {first}"
    );
    assert!(
        errors.iter().all(|e| e.file == "ma-2.toml"),
        "the first file is not blamed"
    );
}

#[test]
fn a_disqualifier_code_means_one_thing_in_every_file() {
    let (other, _) = edit(GOOD, "description", 0, "description = \"Something else\"");
    let other = other
        .replace("\"ma-ltc\"", "\"ma-ltc-b\"")
        .replace("\"ma-ltc-renewal\"", "\"ma-ltc-b-renewal\"");
    let errors = errors_of(&[("a.toml", GOOD), ("b.toml", &other)]);
    expect(
        &errors,
        "b.toml",
        Code::DisqualifierConflict,
        Some(line_of(&other, "[[disqualifier]]", 0)),
    );
    // The same definition in both files is fine.
    let same = GOOD
        .replace("\"ma-ltc\"", "\"ma-ltc-b\"")
        .replace("\"ma-ltc-renewal\"", "\"ma-ltc-b-renewal\"");
    let ok = lint::lint(&[Source::new("a.toml", GOOD), Source::new("b.toml", &same)]).unwrap();
    assert_eq!(ok.len(), 4);
}

#[test]
fn a_single_use_permit_cannot_be_renewed() {
    let (text, _) = edit(GOOD, "renewal", 0, "");
    let (text, _) = edit(
        &text,
        "validity",
        0,
        "validity = { void_after_issue_days = 10 }",
    );
    let errors = errors_of(&[("ma.toml", &text)]);
    assert_eq!(errors.len(), 1, "{errors:?}");
    expect(
        &errors,
        "ma.toml",
        Code::RenewsMismatch,
        Some(line_of(&text, "renews", 0)),
    );
    assert!(errors[0].reason.contains("single-use"), "{}", errors[0]);
}

#[test]
fn a_renewal_of_a_broken_permit_is_not_blamed_for_it() {
    let (text, line) = edit(GOOD, "minimum_age", 0, "minimum_age = 5");
    let errors = errors_of(&[("ma.toml", &text)]);
    assert_eq!(errors.len(), 1, "only the broken permit: {errors:?}");
    expect(&errors, "ma.toml", Code::AgeOutOfRange, Some(line));
}

#[test]
fn a_broken_definition_is_reported_once_not_at_every_use() {
    let (text, line) = edit(GOOD, "lookback_years", 0, "lookback_years = 0");
    let errors = errors_of(&[("ma.toml", &text)]);
    assert_eq!(errors.len(), 1, "{errors:?}");
    expect(
        &errors,
        "ma.toml",
        Code::DisqualifierLookbackOutOfRange,
        Some(line),
    );
}

#[test]
fn a_disqualifier_defined_twice_in_a_file_is_refused() {
    let (text, _) = edit(
        GOOD,
        "[[disqualifier]]",
        0,
        "[[disqualifier]]\ncode = \"ma-140-131-d-vi\"\ndescription = \"Again\"\n\n[[disqualifier]]",
    );
    let errors = errors_of(&[("ma.toml", &text)]);
    expect(
        &errors,
        "ma.toml",
        Code::DisqualifierDuplicate,
        Some(line_of(&text, "code", 1)),
    );
}

#[test]
fn a_file_without_permits_is_refused() {
    let errors = errors_of(&[("ma.toml", "jurisdiction = \"MA\"\n")]);
    expect(&errors, "ma.toml", Code::NoPermits, Some(1));
    let errors = errors_of(&[("ma.toml", "jurisdiction = \"MA\"\npermit = []\n")]);
    expect(&errors, "ma.toml", Code::NoPermits, Some(1));
}

#[test]
fn size_limits() {
    let big = format!("{GOOD}\n#{}\n", "x".repeat(MAX_FILE_BYTES));
    let errors = errors_of(&[("big.toml", &big)]);
    expect(&errors, "big.toml", Code::FileTooLarge, None);
    let many = format!("jurisdiction = \"MA\"\n{}", "[[permit]]\n".repeat(201));
    let errors = errors_of(&[("many.toml", &many)]);
    expect(&errors, "many.toml", Code::TooManyPermits, Some(1));
}

#[test]
fn one_bad_file_refuses_the_whole_catalogue() {
    let (bad, line) = edit(GOOD, "minimum_age", 0, "minimum_age = 7");
    let bad = bad.replace("\"MA\"", "\"NY\"").replace("\"ma-", "\"ny-");
    let errors = errors_of(&[("ma.toml", GOOD), ("ny.toml", &bad)]);
    assert_eq!(errors.len(), 1, "{errors:?}");
    expect(&errors, "ny.toml", Code::AgeOutOfRange, Some(line));
}

#[test]
fn folders_are_read_in_name_order_and_file_problems_reported() {
    let dir = temp_dir("permits-lint");
    std::fs::write(
        dir.join("b.toml"),
        GOOD.replace("\"MA\"", "\"CT\"").replace("\"ma-", "\"ct-"),
    )
    .unwrap();
    std::fs::write(dir.join("a.toml"), GOOD).unwrap();
    std::fs::write(dir.join("README.md"), "not a catalogue file").unwrap();
    let sources = lint::read_sources(&dir).unwrap();
    let names: Vec<_> = sources
        .iter()
        .map(|s| s.name.rsplit('/').next().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["a.toml", "b.toml"]);
    assert_eq!(lint::lint(&sources).unwrap().len(), 4);

    std::fs::write(dir.join("c.toml"), [0xff, 0xfe, 0x00]).unwrap();
    let errors = lint::read_sources(&dir).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].code, Code::FileNotUtf8);
    assert!(errors[0].file.ends_with("c.toml"));

    let errors = lint::read_sources(&dir.join("missing")).unwrap_err();
    assert_eq!(errors[0].code, Code::FileUnreadable);
    assert_eq!(errors[0].line, None);

    let empty = temp_dir("permits-empty");
    let errors = lint::read_sources(&empty).unwrap_err();
    assert_eq!(errors[0].code, Code::CatalogueEmpty);
    assert_eq!(lint::lint(&[]).unwrap_err()[0].code, Code::CatalogueEmpty);

    let crowded = temp_dir("permits-crowded");
    for i in 0..=lint::MAX_FILES {
        std::fs::write(crowded.join(format!("{i:03}.toml")), "").unwrap();
    }
    let errors = lint::read_sources(&crowded).unwrap_err();
    assert_eq!(errors[0].code, Code::CatalogueTooManyFiles);
}

/// Codes provoked by the tests above rather than by [`CASES`].
const ELSEWHERE: &[Code] = &[
    Code::IdDuplicate,
    Code::DisqualifierConflict,
    Code::NoPermits,
    Code::FileTooLarge,
    Code::TooManyPermits,
    Code::FileNotUtf8,
    Code::FileUnreadable,
    Code::CatalogueEmpty,
    Code::CatalogueTooManyFiles,
];

#[test]
fn every_code_is_tested() {
    let tested: HashSet<Code> = CASES
        .iter()
        .map(|c| c.code)
        .chain(ELSEWHERE.iter().copied())
        .collect();
    let untested: Vec<_> = Code::ALL.iter().filter(|c| !tested.contains(c)).collect();
    assert!(untested.is_empty(), "no test provokes {untested:?}");
}

proptest::proptest! {
    /// Whatever an editor does to a file, the linter answers: the types, or
    /// mistakes that each point at a line of the file.
    #[test]
    fn any_edit_is_accepted_or_refused_with_lines_inside_the_file(
        at in 0usize..GOOD.len(),
        cut in 0usize..40,
        junk in "[ -~\n]{0,24}",
    ) {
        let mut text = GOOD.to_owned();
        let end = (at + cut).min(text.len());
        text.replace_range(at..end, &junk);
        match lint::lint(&[Source::new("f.toml", text.as_str())]) {
            Ok(types) => proptest::prop_assert!(types.len() <= 2),
            Err(errors) => {
                proptest::prop_assert!(!errors.is_empty());
                let last = text.lines().count() as u32 + 1;
                for e in errors {
                    proptest::prop_assert!(
                        e.line.is_some_and(|l| (1..=last).contains(&l)),
                        "{}", e
                    );
                }
            }
        }
    }
}

//! Reading and checking catalogue files. Every mistake is reported with
//! its file, line, a stable code and the reason, all of them at once; a
//! catalogue with any mistake is refused whole.
//!
//! The file format is described in `catalogue/README.md`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::Path;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::federal::FederalProhibitor;
use crate::types::{
    Counting, Deadline, Disqualifier, Jurisdiction, Kind, PermitType, Proof, RenewalWindow,
    Residency, Training, Validity,
};

/// Largest catalogue file accepted.
pub const MAX_FILE_BYTES: usize = 1024 * 1024;
/// Most files a catalogue folder may hold.
pub const MAX_FILES: usize = 200;
/// Highest fee accepted: $10,000.
pub const MAX_FEE_CENTS: i64 = 1_000_000;
/// Most permit types one file may hold.
pub const MAX_PERMITS_PER_FILE: usize = 200;

/// What is wrong, as a stable code. Tools and tests branch on the code; the
/// reason is for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    FileUnreadable,
    FileNotUtf8,
    FileTooLarge,
    CatalogueEmpty,
    CatalogueTooManyFiles,
    Syntax,
    FieldUnknown,
    FieldMissing,
    FieldType,
    FieldInvalid,
    NoPermits,
    TooManyPermits,
    IdInvalid,
    IdWrongJurisdiction,
    IdDuplicate,
    JurisdictionUnknown,
    KindUnknown,
    FeeNegative,
    FeeAbsurd,
    FeeNonResidentNotAllowed,
    AgeOutOfRange,
    ValidityShape,
    ValidityOutOfRange,
    ResidencyContradictory,
    TrainingNoProof,
    TrainingUnknownProof,
    TrainingOutOfRange,
    TrainingLiveFireExceedsHours,
    TrainingScoreOutOfRange,
    ReferencesOutOfRange,
    WaitingOutOfRange,
    DeadlineZero,
    DeadlineOutOfRange,
    DeadlineUnknownCounting,
    RenewalNotRenewable,
    RenewalOutOfRange,
    RenewalWindowTooLong,
    RenewsMissing,
    RenewsUnexpected,
    RenewsUnknown,
    RenewsMismatch,
    DisqualifierInvalidCode,
    DisqualifierFederal,
    DisqualifierDuplicate,
    DisqualifierUnknown,
    DisqualifierConflict,
    DisqualifierLookbackOutOfRange,
}

impl Code {
    pub const ALL: [Code; 47] = [
        Code::FileUnreadable,
        Code::FileNotUtf8,
        Code::FileTooLarge,
        Code::CatalogueEmpty,
        Code::CatalogueTooManyFiles,
        Code::Syntax,
        Code::FieldUnknown,
        Code::FieldMissing,
        Code::FieldType,
        Code::FieldInvalid,
        Code::NoPermits,
        Code::TooManyPermits,
        Code::IdInvalid,
        Code::IdWrongJurisdiction,
        Code::IdDuplicate,
        Code::JurisdictionUnknown,
        Code::KindUnknown,
        Code::FeeNegative,
        Code::FeeAbsurd,
        Code::FeeNonResidentNotAllowed,
        Code::AgeOutOfRange,
        Code::ValidityShape,
        Code::ValidityOutOfRange,
        Code::ResidencyContradictory,
        Code::TrainingNoProof,
        Code::TrainingUnknownProof,
        Code::TrainingOutOfRange,
        Code::TrainingLiveFireExceedsHours,
        Code::TrainingScoreOutOfRange,
        Code::ReferencesOutOfRange,
        Code::WaitingOutOfRange,
        Code::DeadlineZero,
        Code::DeadlineOutOfRange,
        Code::DeadlineUnknownCounting,
        Code::RenewalNotRenewable,
        Code::RenewalOutOfRange,
        Code::RenewalWindowTooLong,
        Code::RenewsMissing,
        Code::RenewsUnexpected,
        Code::RenewsUnknown,
        Code::RenewsMismatch,
        Code::DisqualifierInvalidCode,
        Code::DisqualifierFederal,
        Code::DisqualifierDuplicate,
        Code::DisqualifierUnknown,
        Code::DisqualifierConflict,
        Code::DisqualifierLookbackOutOfRange,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Code::FileUnreadable => "file.unreadable",
            Code::FileNotUtf8 => "file.not_utf8",
            Code::FileTooLarge => "file.too_large",
            Code::CatalogueEmpty => "catalogue.empty",
            Code::CatalogueTooManyFiles => "catalogue.too_many_files",
            Code::Syntax => "toml.syntax",
            Code::FieldUnknown => "field.unknown",
            Code::FieldMissing => "field.missing",
            Code::FieldType => "field.type",
            Code::FieldInvalid => "field.invalid",
            Code::NoPermits => "file.no_permits",
            Code::TooManyPermits => "file.too_many_permits",
            Code::IdInvalid => "id.invalid",
            Code::IdWrongJurisdiction => "id.wrong_jurisdiction",
            Code::IdDuplicate => "id.duplicate",
            Code::JurisdictionUnknown => "jurisdiction.unknown",
            Code::KindUnknown => "kind.unknown",
            Code::FeeNegative => "fee.negative",
            Code::FeeAbsurd => "fee.absurd",
            Code::FeeNonResidentNotAllowed => "fee.non_resident_not_allowed",
            Code::AgeOutOfRange => "age.out_of_range",
            Code::ValidityShape => "validity.shape",
            Code::ValidityOutOfRange => "validity.out_of_range",
            Code::ResidencyContradictory => "residency.contradictory",
            Code::TrainingNoProof => "training.no_proof",
            Code::TrainingUnknownProof => "training.unknown_proof",
            Code::TrainingOutOfRange => "training.out_of_range",
            Code::TrainingLiveFireExceedsHours => "training.live_fire_exceeds_hours",
            Code::TrainingScoreOutOfRange => "training.score_out_of_range",
            Code::ReferencesOutOfRange => "references.out_of_range",
            Code::WaitingOutOfRange => "waiting.out_of_range",
            Code::DeadlineZero => "deadline.zero",
            Code::DeadlineOutOfRange => "deadline.out_of_range",
            Code::DeadlineUnknownCounting => "deadline.unknown_counting",
            Code::RenewalNotRenewable => "renewal.not_renewable",
            Code::RenewalOutOfRange => "renewal.out_of_range",
            Code::RenewalWindowTooLong => "renewal.window_too_long",
            Code::RenewsMissing => "renews.missing",
            Code::RenewsUnexpected => "renews.unexpected",
            Code::RenewsUnknown => "renews.unknown",
            Code::RenewsMismatch => "renews.mismatch",
            Code::DisqualifierInvalidCode => "disqualifier.invalid_code",
            Code::DisqualifierFederal => "disqualifier.federal",
            Code::DisqualifierDuplicate => "disqualifier.duplicate",
            Code::DisqualifierUnknown => "disqualifier.unknown",
            Code::DisqualifierConflict => "disqualifier.conflict",
            Code::DisqualifierLookbackOutOfRange => "disqualifier.lookback_out_of_range",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One mistake in a catalogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LintError {
    pub file: String,
    /// 1-based; `None` when the mistake is the file as a whole (unreadable).
    pub line: Option<u32>,
    pub code: Code,
    pub reason: String,
}

impl fmt::Display for LintError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}: {}", self.file, self.code, self.reason),
            None => write!(f, "{}: {}: {}", self.file, self.code, self.reason),
        }
    }
}

/// A catalogue file's name (as reported) and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub name: String,
    pub text: String,
}

impl Source {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Source {
        Source {
            name: name.into(),
            text: text.into(),
        }
    }
}

fn whole_file(file: &str, code: Code, reason: impl Into<String>) -> LintError {
    LintError {
        file: file.to_owned(),
        line: None,
        code,
        reason: reason.into(),
    }
}

/// At most `cap + 1` bytes of the file, so that a huge file (or a device
/// such as `/dev/zero`) is refused without being read whole.
fn read_capped(path: &Path, cap: usize) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(cap as u64 + 1)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// The catalogue at `path`: the file itself, or every `*.toml` file of the
/// folder (not its sub-folders), in name order.
pub fn read_sources(path: &Path) -> Result<Vec<Source>, Vec<LintError>> {
    let shown = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|e| {
        vec![whole_file(
            &shown,
            Code::FileUnreadable,
            format!("cannot read it: {e}"),
        )]
    })?;
    let files = if meta.is_dir() {
        let entries = std::fs::read_dir(path).map_err(|e| {
            vec![whole_file(
                &shown,
                Code::FileUnreadable,
                format!("cannot list it: {e}"),
            )]
        })?;
        let mut files: Vec<_> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "toml"))
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(vec![whole_file(
                &shown,
                Code::CatalogueEmpty,
                "the folder holds no .toml catalogue file",
            )]);
        }
        if files.len() > MAX_FILES {
            return Err(vec![whole_file(
                &shown,
                Code::CatalogueTooManyFiles,
                format!("{} files; at most {MAX_FILES}", files.len()),
            )]);
        }
        files
    } else {
        vec![path.to_path_buf()]
    };
    let mut sources = Vec::with_capacity(files.len());
    let mut errors = Vec::new();
    for file in files {
        let name = file.display().to_string();
        match read_capped(&file, MAX_FILE_BYTES) {
            Err(e) => errors.push(whole_file(
                &name,
                Code::FileUnreadable,
                format!("cannot read it: {e}"),
            )),
            Ok(bytes) if bytes.len() > MAX_FILE_BYTES => errors.push(whole_file(
                &name,
                Code::FileTooLarge,
                format!("more than {MAX_FILE_BYTES} bytes"),
            )),
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => sources.push(Source { name, text }),
                Err(_) => errors.push(whole_file(&name, Code::FileNotUtf8, "it is not UTF-8 text")),
            },
        }
    }
    if errors.is_empty() {
        Ok(sources)
    } else {
        Err(errors)
    }
}

/// Checks a whole catalogue; the permit types in catalogue order (files in
/// the order given, permits in file order), or every mistake.
pub fn lint(sources: &[Source]) -> Result<Vec<PermitType>, Vec<LintError>> {
    if sources.is_empty() {
        return Err(vec![whole_file(
            "(catalogue)",
            Code::CatalogueEmpty,
            "no catalogue file was given",
        )]);
    }
    let mut errors = Vec::new();
    let mut drafts = Vec::new();
    let mut files = Vec::with_capacity(sources.len());
    for (index, source) in sources.iter().enumerate() {
        let mut file = FileLint::new(&source.name, &source.text);
        if source.text.len() > MAX_FILE_BYTES {
            file.errors.push(whole_file(
                &source.name,
                Code::FileTooLarge,
                format!("{} bytes; at most {MAX_FILE_BYTES}", source.text.len()),
            ));
        } else {
            drafts.extend(file.read(&source.text).into_iter().map(|d| (index, d)));
        }
        files.push(file);
    }
    cross_check(&mut files, &drafts);
    for file in files {
        let mut found = file.errors;
        found.sort_by_key(|e| e.line);
        errors.extend(found);
    }
    if errors.is_empty() {
        Ok(drafts.into_iter().map(|(_, d)| d.permit).collect())
    } else {
        Err(errors)
    }
}

/// A permit as read from one file, with where its cross-file references
/// are, before the whole catalogue is checked.
struct Draft {
    permit: PermitType,
    renews_at: usize,
    definitions: Vec<(Disqualifier, usize)>,
}

/// Checks across files: duplicate ids, what renewals renew, and state
/// disqualifier codes meaning one thing everywhere.
fn cross_check(files: &mut [FileLint<'_>], drafts: &[(usize, Draft)]) {
    // Every id read, including those of permits with mistakes of their own.
    let all_ids: Vec<(usize, String, usize)> = files
        .iter()
        .enumerate()
        .flat_map(|(i, f)| f.ids.iter().map(move |(id, at)| (i, id.clone(), *at)))
        .collect();
    let mut first_use: HashMap<&str, (usize, usize)> = HashMap::new();
    for (file, id, at) in &all_ids {
        match first_use.get(id.as_str()) {
            Some(&(first_file, first_at)) => {
                let first = files[first_file].locate(first_at);
                files[*file].push(
                    *at,
                    Code::IdDuplicate,
                    format!("id {id:?} is already used at {first}"),
                );
            }
            None => {
                first_use.insert(id, (*file, *at));
            }
        }
    }
    let by_id: HashMap<&str, &PermitType> = drafts
        .iter()
        .map(|(_, d)| (d.permit.id.as_str(), &d.permit))
        .collect();
    for (file, d) in drafts {
        let p = &d.permit;
        let Some(target) = &p.renews else { continue };
        let Some(base) = by_id.get(target.as_str()) else {
            if first_use.contains_key(target.as_str()) {
                // It exists but has mistakes of its own, reported there.
                continue;
            }
            files[*file].push(
                d.renews_at,
                Code::RenewsUnknown,
                format!(
                    "permit {}: renews {target:?}, which is not in the catalogue",
                    p.id
                ),
            );
            continue;
        };
        let wanted = p.kind.renews();
        let problem = if Some(base.kind) != wanted {
            Some(format!(
                "kind {} renews kind {}, but {target} is kind {}",
                p.kind,
                wanted.map_or("(nothing)", Kind::as_str),
                base.kind
            ))
        } else if base.jurisdiction != p.jurisdiction {
            Some(format!(
                "{target} is issued by {}, not {}",
                base.jurisdiction, p.jurisdiction
            ))
        } else if base.validity.single_use() {
            Some(format!("{target} is single-use and cannot be renewed"))
        } else {
            None
        };
        if let Some(reason) = problem {
            files[*file].push(
                d.renews_at,
                Code::RenewsMismatch,
                format!("permit {}: {reason}", p.id),
            );
        }
    }
    // A code defined in more than one file must mean the same everywhere.
    let mut codes: BTreeMap<&str, (usize, usize, &Disqualifier)> = BTreeMap::new();
    let mut reported = HashSet::new();
    for (file, d) in drafts {
        for (dq, at) in &d.definitions {
            match codes.get(dq.code.as_str()) {
                Some(&(first_file, first_at, first)) if first_file != *file && first != dq => {
                    if reported.insert((*file, *at)) {
                        let where_ = files[first_file].locate(first_at);
                        files[*file].push(
                            *at,
                            Code::DisqualifierConflict,
                            format!(
                                "disqualifier {} is defined differently at {where_}",
                                dq.code
                            ),
                        );
                    }
                }
                Some(_) => {}
                None => {
                    codes.insert(&dq.code, (*file, *at, dq));
                }
            }
        }
    }
}

/// "an integer", "a string".
fn with_article(noun: &str) -> String {
    let vowel = noun.starts_with(['a', 'e', 'i', 'o', 'u']);
    format!("{} {noun}", if vowel { "an" } else { "a" })
}

fn is_slug(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.split('-').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

fn is_disqualifier_code(s: &str) -> bool {
    (2..=64).contains(&s.len())
        && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
}

type Value<'i> = Spanned<DeValue<'i>>;

/// A file's state disqualifiers by code, with where each is defined;
/// `None` for a code whose definition has a mistake.
type Definitions = HashMap<String, Option<(Disqualifier, usize)>>;

/// A table being read: its entries, where it starts and whom messages
/// name.
struct Table<'t, 'i> {
    entries: &'t DeTable<'i>,
    at: usize,
    /// Whom messages name (`permit ma-ltc: `); empty for the file itself.
    prefix: String,
}

impl<'t, 'i> Table<'t, 'i> {
    fn get(&self, key: &str) -> Option<&'t Value<'i>> {
        self.entries.get(key)
    }
}

/// The mistakes of one file.
struct FileLint<'a> {
    file: &'a str,
    line_starts: Vec<usize>,
    errors: Vec<LintError>,
    /// The id of every permit of the file that has one, and where it is.
    ids: Vec<(String, usize)>,
}

impl<'a> FileLint<'a> {
    fn new(file: &'a str, text: &str) -> FileLint<'a> {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        FileLint {
            file,
            line_starts,
            errors: Vec::new(),
            ids: Vec::new(),
        }
    }

    fn line(&self, offset: usize) -> u32 {
        self.line_starts.partition_point(|&start| start <= offset) as u32
    }

    fn locate(&self, offset: usize) -> String {
        format!("{}:{}", self.file, self.line(offset))
    }

    fn push(&mut self, at: usize, code: Code, reason: impl Into<String>) {
        self.errors.push(LintError {
            file: self.file.to_owned(),
            line: Some(self.line(at)),
            code,
            reason: reason.into(),
        });
    }

    /// Reports the keys of `table` that are not in `known`.
    fn unknown_keys(&mut self, table: &Table<'_, '_>, known: &[&str]) {
        for (key, _) in table.entries.iter() {
            if !known.contains(&key.get_ref().as_ref()) {
                self.push(
                    key.span().start,
                    Code::FieldUnknown,
                    format!(
                        "{}unknown field {:?} (known: {})",
                        table.prefix,
                        key.get_ref(),
                        known.join(", ")
                    ),
                );
            }
        }
    }

    fn value<'t, 'i>(
        &mut self,
        table: &Table<'t, 'i>,
        key: &str,
        required: bool,
    ) -> Option<&'t Value<'i>> {
        let v = table.get(key);
        if v.is_none() && required {
            self.push(
                table.at,
                Code::FieldMissing,
                format!("{}{key} is missing", table.prefix),
            );
        }
        v
    }

    fn wrong_type(&mut self, table: &Table<'_, '_>, key: &str, v: &Value<'_>, wanted: &str) {
        self.push(
            v.span().start,
            Code::FieldType,
            format!(
                "{}{key} must be {wanted}, not {}",
                table.prefix,
                with_article(v.get_ref().type_str())
            ),
        );
    }

    /// One line of text, 1 to `max` characters.
    fn text(
        &mut self,
        table: &Table<'_, '_>,
        key: &str,
        required: bool,
        max: usize,
    ) -> Option<String> {
        let v = self.value(table, key, required)?;
        let Some(s) = v.get_ref().as_str() else {
            self.wrong_type(table, key, v, "text");
            return None;
        };
        let s = s.trim();
        if s.is_empty() || s.chars().count() > max || s.chars().any(char::is_control) {
            self.push(
                v.span().start,
                Code::FieldInvalid,
                format!(
                    "{}{key} must be text of 1 to {max} characters on one line",
                    table.prefix
                ),
            );
            return None;
        }
        Some(s.to_owned())
    }

    /// An integer and where it is.
    fn int(&mut self, table: &Table<'_, '_>, key: &str, required: bool) -> Option<(i64, usize)> {
        let v = self.value(table, key, required)?;
        let parsed = v
            .get_ref()
            .as_integer()
            .map(|i| i64::from_str_radix(i.as_str(), i.radix()));
        match parsed {
            Some(Ok(n)) => Some((n, v.span().start)),
            Some(Err(_)) => {
                self.push(
                    v.span().start,
                    Code::FieldType,
                    format!("{}{key} is too large a number", table.prefix),
                );
                None
            }
            None => {
                self.wrong_type(table, key, v, "a whole number");
                None
            }
        }
    }

    /// A whole number in `range`, else `code`.
    fn ranged(
        &mut self,
        table: &Table<'_, '_>,
        key: &str,
        required: bool,
        range: std::ops::RangeInclusive<i64>,
        code: Code,
        unit: &str,
    ) -> Option<u32> {
        let (n, at) = self.int(table, key, required)?;
        if range.contains(&n) {
            Some(n as u32)
        } else {
            self.push(
                at,
                code,
                format!(
                    "{}{key} is {n}; it must be {} to {} {unit}",
                    table.prefix,
                    range.start(),
                    range.end()
                ),
            );
            None
        }
    }

    fn boolean(&mut self, table: &Table<'_, '_>, key: &str, required: bool) -> Option<bool> {
        let v = self.value(table, key, required)?;
        match v.get_ref().as_bool() {
            Some(b) => Some(b),
            None => {
                self.wrong_type(table, key, v, "true or false");
                None
            }
        }
    }

    fn table<'t, 'i>(
        &mut self,
        parent: &Table<'t, 'i>,
        key: &str,
        required: bool,
    ) -> Option<Table<'t, 'i>> {
        let v = self.value(parent, key, required)?;
        match v.get_ref() {
            DeValue::Table(entries) => Some(Table {
                entries,
                at: v.span().start,
                prefix: format!("{}{key}: ", parent.prefix),
            }),
            _ => {
                self.wrong_type(parent, key, v, "a table");
                None
            }
        }
    }

    /// A list of texts, each with where it is.
    fn strings(
        &mut self,
        table: &Table<'_, '_>,
        key: &str,
        required: bool,
    ) -> Option<Vec<(String, usize)>> {
        let v = self.value(table, key, required)?;
        let Some(items) = v.get_ref().as_array() else {
            self.wrong_type(table, key, v, "a list of texts");
            return None;
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items.iter() {
            match item.get_ref().as_str() {
                Some(s) => out.push((s.to_owned(), item.span().start)),
                None => self.wrong_type(table, key, item, "a list of texts"),
            }
        }
        Some(out)
    }

    /// A list of tables (`[[name]]`).
    fn tables<'t, 'i>(
        &mut self,
        parent: &Table<'t, 'i>,
        key: &str,
        required: bool,
    ) -> Vec<(&'t DeTable<'i>, usize)> {
        let Some(v) = self.value(parent, key, required) else {
            return Vec::new();
        };
        let Some(items) = v.get_ref().as_array() else {
            self.wrong_type(parent, key, v, &format!("a list of [[{key}]] tables"));
            return Vec::new();
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items.iter() {
            match item.get_ref() {
                DeValue::Table(t) => out.push((t, item.span().start)),
                _ => self.wrong_type(parent, key, item, &format!("a [[{key}]] table")),
            }
        }
        out
    }

    /// Reads one file; the permits that read cleanly (the caller refuses
    /// the catalogue when any error was pushed).
    fn read(&mut self, text: &str) -> Vec<Draft> {
        let (doc, syntax) = DeTable::parse_recoverable(text);
        if !syntax.is_empty() {
            for e in syntax {
                let at = e.span().map_or(0, |s| s.start);
                let message = e.message().trim().replace('\n', " ");
                self.push(at, Code::Syntax, format!("not valid TOML: {message}"));
            }
            return Vec::new();
        }
        let root = Table {
            entries: doc.get_ref(),
            at: 0,
            prefix: String::new(),
        };
        self.unknown_keys(&root, &["jurisdiction", "disqualifier", "permit"]);
        let jurisdiction = match self.value(&root, "jurisdiction", true) {
            Some(v) => match v.get_ref().as_str() {
                Some(code) => match Jurisdiction::parse(code) {
                    Some(j) => Some(j),
                    None => {
                        self.push(
                            v.span().start,
                            Code::JurisdictionUnknown,
                            format!(
                                "unknown jurisdiction {code:?}: use a two-letter state or territory code in capitals, or US"
                            ),
                        );
                        None
                    }
                },
                None => {
                    self.wrong_type(&root, "jurisdiction", v, "text");
                    None
                }
            },
            None => None,
        };
        let definitions = self.definitions(&root);
        let permits = self.tables(&root, "permit", false);
        let none_given = root
            .get("permit")
            .is_none_or(|v| v.get_ref().as_array().is_some_and(|a| a.is_empty()));
        if permits.is_empty() && none_given {
            self.push(0, Code::NoPermits, "the file defines no [[permit]]");
        }
        if permits.len() > MAX_PERMITS_PER_FILE {
            self.push(
                0,
                Code::TooManyPermits,
                format!(
                    "{} permits; at most {MAX_PERMITS_PER_FILE} a file",
                    permits.len()
                ),
            );
            return Vec::new();
        }
        let mut drafts = Vec::new();
        for (i, (entries, at)) in permits.into_iter().enumerate() {
            if let Some(d) = self.permit(entries, at, i + 1, jurisdiction, &definitions) {
                drafts.push(d);
            }
        }
        drafts
    }

    /// The file's `[[disqualifier]]` definitions, by code.
    fn definitions(&mut self, root: &Table<'_, '_>) -> Definitions {
        let mut defined = Definitions::new();
        for (i, (entries, at)) in self
            .tables(root, "disqualifier", false)
            .into_iter()
            .enumerate()
        {
            let mut t = Table {
                entries,
                at,
                prefix: format!("disqualifier #{}: ", i + 1),
            };
            self.unknown_keys(&t, &["code", "description", "lookback_years"]);
            let code = match self.value(&t, "code", true) {
                Some(v) => match v.get_ref().as_str() {
                    Some(code) => {
                        // Known from here on, even if the definition fails.
                        defined.entry(code.to_owned()).or_insert(None);
                        Some((code.to_owned(), v.span().start))
                    }
                    None => {
                        self.wrong_type(&t, "code", v, "text");
                        None
                    }
                },
                None => None,
            };
            let code = code.and_then(|(code, code_at)| {
                if let Some(federal) = FederalProhibitor::colliding_with(&code) {
                    self.push(
                        code_at,
                        Code::DisqualifierFederal,
                        format!(
                            "code {code:?} is the federal prohibitor {} ({}); federal prohibitors apply to every permit already, state codes must differ",
                            federal.code(),
                            federal.citation()
                        ),
                    );
                    None
                } else if !is_disqualifier_code(&code) {
                    self.push(
                        code_at,
                        Code::DisqualifierInvalidCode,
                        format!(
                            "code {code:?} must be 2 to 64 lower-case letters, digits, '-' or '.'"
                        ),
                    );
                    None
                } else {
                    Some((code, code_at))
                }
            });
            if let Some((code, _)) = &code {
                t.prefix = format!("disqualifier {code}: ");
            }
            let description = self.text(&t, "description", true, 500);
            let lookback_years = match t.get("lookback_years") {
                Some(_) => self
                    .ranged(
                        &t,
                        "lookback_years",
                        false,
                        1..=99,
                        Code::DisqualifierLookbackOutOfRange,
                        "years",
                    )
                    .map(Some),
                None => Some(None),
            };
            let (Some((code, code_at)), Some(description), Some(lookback_years)) =
                (code, description, lookback_years)
            else {
                continue;
            };
            if let Some(Some((_, first))) = defined.get(&code) {
                let first = self.locate(*first);
                self.push(
                    code_at,
                    Code::DisqualifierDuplicate,
                    format!("disqualifier {code} is already defined at {first}"),
                );
                continue;
            }
            defined.insert(
                code.clone(),
                Some((
                    Disqualifier {
                        code,
                        description,
                        lookback_years,
                    },
                    at,
                )),
            );
        }
        defined
    }

    fn permit(
        &mut self,
        entries: &DeTable<'_>,
        at: usize,
        position: usize,
        jurisdiction: Option<Jurisdiction>,
        definitions: &Definitions,
    ) -> Option<Draft> {
        const KNOWN: &[&str] = &[
            "id",
            "name",
            "kind",
            "statute",
            "fee_cents",
            "non_resident_fee_cents",
            "validity",
            "minimum_age",
            "residency",
            "training",
            "references",
            "fingerprints",
            "interview",
            "waiting_period_days",
            "decision_deadline",
            "renewal",
            "renews",
            "disqualifiers",
        ];
        let mut t = Table {
            entries,
            at,
            prefix: format!("permit #{position}: "),
        };
        let errors_before = self.errors.len();
        // The id first, so that later messages can name the permit.
        let id_at = t.get("id").map_or(at, |v| v.span().start);
        let id = self.text(&t, "id", true, 64).and_then(|id| {
            if !is_slug(&id) {
                self.push(
                    id_at,
                    Code::IdInvalid,
                    format!(
                        "id {id:?} must be lower-case letters and digits in groups joined by '-', at most 64 characters"
                    ),
                );
                return None;
            }
            if let Some(j) = jurisdiction
                && !id.starts_with(&j.id_prefix())
            {
                self.push(
                    id_at,
                    Code::IdWrongJurisdiction,
                    format!("id {id:?} must start with {:?} (the file's jurisdiction)", j.id_prefix()),
                );
            }
            Some(id)
        });
        if let Some(id) = &id {
            t.prefix = format!("permit {id}: ");
            self.ids.push((id.clone(), id_at));
        }
        self.unknown_keys(&t, KNOWN);
        let name = self.text(&t, "name", true, 120);
        let kind = self
            .value(&t, "kind", true)
            .and_then(|v| match v.get_ref().as_str() {
                Some(s) => Kind::parse(s).or_else(|| {
                    let known: Vec<_> = Kind::ALL.iter().map(|k| k.as_str()).collect();
                    self.push(
                        v.span().start,
                        Code::KindUnknown,
                        format!(
                            "{}unknown kind {s:?} (known: {})",
                            t.prefix,
                            known.join(", ")
                        ),
                    );
                    None
                }),
                None => {
                    self.wrong_type(&t, "kind", v, "text");
                    None
                }
            });
        let statute = self.text(&t, "statute", false, 200);
        let fee_cents = self.fee(&t, "fee_cents", true);
        let non_resident_fee = self.fee(&t, "non_resident_fee_cents", false);
        let validity = self.validity(&t);
        let minimum_age = self.ranged(
            &t,
            "minimum_age",
            true,
            16..=99,
            Code::AgeOutOfRange,
            "years",
        );
        let residency = self.residency(&t);
        if let (Some(r), Some(v)) = (residency, t.get("non_resident_fee_cents"))
            && !r.non_resident_allowed
        {
            self.push(
                v.span().start,
                Code::FeeNonResidentNotAllowed,
                format!(
                    "{}non_resident_fee_cents is set but residency.non_resident_allowed is false",
                    t.prefix
                ),
            );
        }
        let training = match self.table(&t, "training", false) {
            Some(tt) => self.training(&tt),
            None if t.get("training").is_some() => None,
            None => Some(Training::default()),
        };
        let references = self.ranged(
            &t,
            "references",
            true,
            0..=10,
            Code::ReferencesOutOfRange,
            "references",
        );
        let fingerprints = self.boolean(&t, "fingerprints", true);
        let interview = self.boolean(&t, "interview", true);
        let waiting_period_days = self.ranged(
            &t,
            "waiting_period_days",
            true,
            0..=365,
            Code::WaitingOutOfRange,
            "days",
        );
        let decision_deadline = self.deadline(&t);
        let renewal = match self.table(&t, "renewal", false) {
            Some(rt) => self.renewal(&rt, kind, validity).map(Some),
            None if t.get("renewal").is_some() => None,
            None => Some(None),
        };
        let renews_at = t.get("renews").map_or(at, |v| v.span().start);
        let renews = match (self.text(&t, "renews", false, 64), kind) {
            (Some(target), Some(k)) if k.renews().is_none() => {
                self.push(
                    renews_at,
                    Code::RenewsUnexpected,
                    format!(
                        "{}kind {k} renews nothing; renews = {target:?} is for renewal kinds",
                        t.prefix
                    ),
                );
                None
            }
            (None, Some(k)) if k.renews().is_some() && t.get("renews").is_none() => {
                self.push(
                    at,
                    Code::RenewsMissing,
                    format!(
                        "{}kind {k} must say which permit it renews (renews = \"<id>\")",
                        t.prefix
                    ),
                );
                None
            }
            (target, _) => target,
        };
        let (state_disqualifiers, used) = self.disqualifiers(&t, definitions);
        if self.errors.len() > errors_before {
            return None;
        }
        let permit = PermitType {
            id: id?,
            name: name?,
            jurisdiction: jurisdiction?,
            kind: kind?,
            statute,
            fee_cents: fee_cents?,
            non_resident_fee_cents: non_resident_fee,
            validity: validity?,
            minimum_age: minimum_age?,
            residency: residency?,
            training: training?,
            references: references?,
            fingerprints: fingerprints?,
            interview: interview?,
            waiting_period_days: waiting_period_days?,
            decision_deadline: decision_deadline?,
            renewal: renewal?,
            renews,
            state_disqualifiers,
        };
        Some(Draft {
            permit,
            renews_at,
            definitions: used,
        })
    }

    fn fee(&mut self, t: &Table<'_, '_>, key: &str, required: bool) -> Option<u32> {
        let (n, at) = self.int(t, key, required)?;
        if n < 0 {
            self.push(
                at,
                Code::FeeNegative,
                format!("{}{key} is negative ({n})", t.prefix),
            );
            None
        } else if n > MAX_FEE_CENTS {
            self.push(
                at,
                Code::FeeAbsurd,
                format!(
                    "{}{key} is {n} cents (${}); at most {MAX_FEE_CENTS} cents: fees are in cents, not dollars",
                    t.prefix,
                    n / 100
                ),
            );
            None
        } else {
            Some(n as u32)
        }
    }

    fn validity(&mut self, t: &Table<'_, '_>) -> Option<Validity> {
        let vt = self.table(t, "validity", true)?;
        self.unknown_keys(&vt, &["years", "days", "void_after_issue_days"]);
        let given: Vec<&str> = ["years", "days", "void_after_issue_days"]
            .into_iter()
            .filter(|k| vt.get(k).is_some())
            .collect();
        if given.len() != 1 {
            self.push(
                vt.at,
                Code::ValidityShape,
                format!(
                    "{}give exactly one of years, days or void_after_issue_days (given: {})",
                    vt.prefix,
                    if given.is_empty() {
                        "none".to_owned()
                    } else {
                        given.join(", ")
                    }
                ),
            );
            return None;
        }
        match given[0] {
            "years" => self
                .ranged(
                    &vt,
                    "years",
                    true,
                    1..=20,
                    Code::ValidityOutOfRange,
                    "years",
                )
                .map(Validity::Years),
            "days" => self
                .ranged(
                    &vt,
                    "days",
                    true,
                    1..=3650,
                    Code::ValidityOutOfRange,
                    "days",
                )
                .map(Validity::Days),
            _ => self
                .ranged(
                    &vt,
                    "void_after_issue_days",
                    true,
                    1..=365,
                    Code::ValidityOutOfRange,
                    "days",
                )
                .map(Validity::VoidAfterIssueDays),
        }
    }

    fn residency(&mut self, t: &Table<'_, '_>) -> Option<Residency> {
        let rt = self.table(t, "residency", true)?;
        self.unknown_keys(&rt, &["required", "non_resident_allowed"]);
        let required = self.boolean(&rt, "required", true);
        let non_resident_allowed = self.boolean(&rt, "non_resident_allowed", true);
        let r = Residency {
            required: required?,
            non_resident_allowed: non_resident_allowed?,
        };
        if !r.required && !r.non_resident_allowed {
            self.push(
                rt.at,
                Code::ResidencyContradictory,
                format!(
                    "{}residence is not required, yet non-residents may not apply",
                    rt.prefix
                ),
            );
            return None;
        }
        Some(r)
    }

    fn training(&mut self, tt: &Table<'_, '_>) -> Option<Training> {
        self.unknown_keys(
            tt,
            &["hours", "live_fire_hours", "proof", "min_score_percent"],
        );
        let hours = self.ranged(
            tt,
            "hours",
            true,
            0..=200,
            Code::TrainingOutOfRange,
            "hours",
        );
        let live_fire = match tt.get("live_fire_hours") {
            Some(_) => self.ranged(
                tt,
                "live_fire_hours",
                true,
                0..=200,
                Code::TrainingOutOfRange,
                "hours",
            ),
            None => Some(0),
        };
        let mut proof = Vec::new();
        let mut proof_ok = true;
        if let Some(items) = self.strings(tt, "proof", true) {
            for (s, at) in items {
                match Proof::parse(&s) {
                    Some(p) if !proof.contains(&p) => proof.push(p),
                    Some(_) => {}
                    None => {
                        proof_ok = false;
                        let known: Vec<_> = Proof::ALL.iter().map(|p| p.as_str()).collect();
                        self.push(
                            at,
                            Code::TrainingUnknownProof,
                            format!(
                                "{}unknown proof {s:?} (known: {})",
                                tt.prefix,
                                known.join(", ")
                            ),
                        );
                    }
                }
            }
            if proof.is_empty() && proof_ok {
                self.push(
                    tt.at,
                    Code::TrainingNoProof,
                    format!(
                        "{}training is required but proof lists no evidence an applicant may show",
                        tt.prefix
                    ),
                );
                proof_ok = false;
            }
        } else {
            proof_ok = false;
        }
        let min_score = match tt.get("min_score_percent") {
            Some(_) => self
                .ranged(
                    tt,
                    "min_score_percent",
                    true,
                    1..=100,
                    Code::TrainingScoreOutOfRange,
                    "percent",
                )
                .map(Some),
            None => Some(None),
        };
        let (hours, live_fire_hours) = (hours?, live_fire?);
        if live_fire_hours > hours {
            let at = tt.get("live_fire_hours").map_or(tt.at, |v| v.span().start);
            self.push(
                at,
                Code::TrainingLiveFireExceedsHours,
                format!(
                    "{}live_fire_hours ({live_fire_hours}) is part of hours ({hours}) and cannot exceed it",
                    tt.prefix
                ),
            );
            return None;
        }
        if !proof_ok {
            return None;
        }
        Some(Training {
            hours,
            live_fire_hours,
            proof,
            min_score_percent: min_score?,
        })
    }

    fn deadline(&mut self, t: &Table<'_, '_>) -> Option<Deadline> {
        let dt = self.table(t, "decision_deadline", true)?;
        self.unknown_keys(&dt, &["days", "counting"]);
        let days = match self.int(&dt, "days", true) {
            Some((0, at)) => {
                self.push(
                    at,
                    Code::DeadlineZero,
                    format!(
                        "{}days is 0: no application could be decided in time",
                        dt.prefix
                    ),
                );
                None
            }
            Some((n, at)) if !(1..=730).contains(&n) => {
                self.push(
                    at,
                    Code::DeadlineOutOfRange,
                    format!("{}days is {n}; it must be 1 to 730", dt.prefix),
                );
                None
            }
            Some((n, _)) => Some(n as u32),
            None => None,
        };
        let counting = self
            .value(&dt, "counting", true)
            .and_then(|v| match v.get_ref().as_str() {
                Some("calendar") => Some(Counting::Calendar),
                Some("business") => Some(Counting::Business),
                Some(other) => {
                    self.push(
                        v.span().start,
                        Code::DeadlineUnknownCounting,
                        format!(
                            "{}counting {other:?} must be \"calendar\" or \"business\"",
                            dt.prefix
                        ),
                    );
                    None
                }
                None => {
                    self.wrong_type(&dt, "counting", v, "text");
                    None
                }
            });
        Some(Deadline {
            days: days?,
            counting: counting?,
        })
    }

    fn renewal(
        &mut self,
        rt: &Table<'_, '_>,
        kind: Option<Kind>,
        validity: Option<Validity>,
    ) -> Option<RenewalWindow> {
        self.unknown_keys(rt, &["opens_days_before_expiry", "grace_days_after"]);
        let not_renewable = match (kind, validity) {
            (Some(k), _) if !k.renewable() => {
                Some(format!("kind {k} is not renewed (it is earned anew)"))
            }
            (_, Some(v)) if v.single_use() => {
                Some(format!("a single-use permit ({v}) is not renewed"))
            }
            _ => None,
        };
        if let Some(why) = not_renewable {
            self.push(
                rt.at,
                Code::RenewalNotRenewable,
                format!("{}{why}; remove the renewal window", rt.prefix),
            );
            return None;
        }
        let opens = self.ranged(
            rt,
            "opens_days_before_expiry",
            true,
            1..=730,
            Code::RenewalOutOfRange,
            "days",
        );
        let grace = self.ranged(
            rt,
            "grace_days_after",
            true,
            0..=365,
            Code::RenewalOutOfRange,
            "days",
        );
        let (opens, grace) = (opens?, grace?);
        if let Some(v) = validity
            && opens >= v.approximate_days()
        {
            let at = rt
                .get("opens_days_before_expiry")
                .map_or(rt.at, |x| x.span().start);
            self.push(
                at,
                Code::RenewalWindowTooLong,
                format!(
                    "{}renewal would open {opens} days before expiry, but the permit lasts only {v}",
                    rt.prefix
                ),
            );
            return None;
        }
        Some(RenewalWindow {
            opens_days_before_expiry: opens,
            grace_days_after: grace,
        })
    }

    /// The permit's disqualifiers, resolved against the file's
    /// definitions, and the definitions used with where they are.
    fn disqualifiers(
        &mut self,
        t: &Table<'_, '_>,
        definitions: &Definitions,
    ) -> (Vec<Disqualifier>, Vec<(Disqualifier, usize)>) {
        let mut list = Vec::new();
        let mut used = Vec::new();
        let Some(codes) = self.strings(t, "disqualifiers", false) else {
            return (list, used);
        };
        let mut seen = HashSet::new();
        for (code, at) in codes {
            if let Some(federal) = FederalProhibitor::colliding_with(&code) {
                self.push(
                    at,
                    Code::DisqualifierFederal,
                    format!(
                        "{}{code:?} is the federal prohibitor {} ({}), which applies to every permit; list only state disqualifiers",
                        t.prefix,
                        federal.code(),
                        federal.citation()
                    ),
                );
                continue;
            }
            if !seen.insert(code.clone()) {
                self.push(
                    at,
                    Code::DisqualifierDuplicate,
                    format!("{}disqualifier {code} is listed twice", t.prefix),
                );
                continue;
            }
            match definitions.get(&code) {
                Some(Some((d, def_at))) => {
                    list.push(d.clone());
                    used.push((d.clone(), *def_at));
                }
                // Its definition is wrong, and reported where it is.
                Some(None) => {}
                None => self.push(
                    at,
                    Code::DisqualifierUnknown,
                    format!(
                        "{}disqualifier {code:?} is not defined by a [[disqualifier]] of this file",
                        t.prefix
                    ),
                ),
            }
        }
        (list, used)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_counted_from_one() {
        let f = FileLint::new("f", "a\nbc\n\nd");
        assert_eq!(f.line(0), 1);
        assert_eq!(f.line(1), 1);
        assert_eq!(f.line(2), 2);
        assert_eq!(f.line(5), 3);
        assert_eq!(f.line(6), 4);
    }

    #[test]
    fn every_code_is_listed_once() {
        let mut codes: Vec<_> = Code::ALL.iter().map(|c| c.as_str()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), Code::ALL.len());
    }

    #[test]
    fn slugs_and_codes() {
        assert!(is_slug("ma-ltc"));
        assert!(is_slug("us-ffl-01"));
        assert!(!is_slug("ma--ltc"));
        assert!(!is_slug("-ma"));
        assert!(!is_slug("MA-LTC"));
        assert!(is_disqualifier_code("ma-140-131-d-iv"));
        assert!(is_disqualifier_code("ny-400.00-1-c"));
        assert!(!is_disqualifier_code("-x"));
        assert!(!is_disqualifier_code("ma 140"));
    }
}

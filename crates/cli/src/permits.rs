//! `plaza permits …`: the permit-type catalogue and its linter.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use plaza_permits::catalogue::shipped_sources;
use plaza_permits::lint::{self, LintError};
use plaza_permits::types::dollars;
use plaza_permits::{Error, TypeSet};

/// How `plaza permits list` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A table for people.
    Text,
    /// A JSON array of the permit types, every field included.
    Json,
}

/// Writes `text` to standard output; a reader that stopped reading (a
/// closed pipe, as with `| head`) is not an error.
fn emit(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(e).context("writing to standard output")
        }
        _ => Ok(()),
    }
}

fn lines(errors: &[LintError]) -> String {
    errors.iter().map(|e| format!("{e}\n")).collect()
}

/// `plaza permits lint [PATH]`: every mistake on standard output as
/// `file:line: code: reason`, exit status 1 when there is any.
pub fn lint(path: Option<&Path>) -> anyhow::Result<ExitCode> {
    let (what, sources) = match path {
        Some(p) => match lint::read_sources(p) {
            Ok(sources) => (p.display().to_string(), sources),
            Err(errors) => {
                emit(&lines(&errors))?;
                eprintln!("plaza: {} cannot be read", p.display());
                return Ok(ExitCode::FAILURE);
            }
        },
        None => ("the shipped catalogue".to_owned(), shipped_sources()),
    };
    match TypeSet::from_sources(&sources) {
        Ok(set) => {
            emit(&format!(
                "{what}: {} permit types in {} jurisdictions from {} file(s); no errors\n",
                set.len(),
                set.jurisdictions().len(),
                sources.len()
            ))?;
            Ok(ExitCode::SUCCESS)
        }
        Err(Error::Catalogue(errors)) => {
            emit(&lines(&errors))?;
            eprintln!(
                "plaza: {} error(s) in {what}; the catalogue is refused whole",
                errors.len()
            );
            Ok(ExitCode::FAILURE)
        }
        Err(e) => Err(e).context("checking the catalogue"),
    }
}

/// `plaza permits list [--format json|text] [--catalogue PATH]`.
pub fn list(catalogue: Option<&Path>, format: Format) -> anyhow::Result<ExitCode> {
    let set = match catalogue {
        Some(p) => match TypeSet::read(p) {
            Ok(set) => set,
            Err(Error::Catalogue(errors)) => {
                eprint!("{}", lines(&errors));
                eprintln!(
                    "plaza: the catalogue at {} is refused ({} error(s))",
                    p.display(),
                    errors.len()
                );
                return Ok(ExitCode::FAILURE);
            }
            Err(e) => return Err(e).context("reading the catalogue"),
        },
        None => TypeSet::shipped(),
    };
    let text = match format {
        Format::Json => serde_json::to_string_pretty(set.types()).context("writing JSON")? + "\n",
        Format::Text => {
            let mut text = table(&set);
            if catalogue.is_none() {
                text.push_str(
                    "(the shipped catalogue: SAMPLE DATA shaped like real permits, not legal advice)\n",
                );
            }
            text
        }
    };
    emit(&text)?;
    Ok(ExitCode::SUCCESS)
}

/// One line a type, in columns.
fn table(set: &TypeSet) -> String {
    let header = [
        "ID",
        "JUR",
        "KIND",
        "FEE",
        "VALIDITY",
        "DECISION DEADLINE",
        "NAME",
    ]
    .map(str::to_owned);
    let rows: Vec<[String; 7]> = set
        .types()
        .iter()
        .map(|t| {
            let fee = match t.non_resident_fee_cents {
                Some(nr) => format!("{} ({} non-res.)", dollars(t.fee_cents), dollars(nr)),
                None => dollars(t.fee_cents),
            };
            [
                t.id.clone(),
                t.jurisdiction.to_string(),
                t.kind.to_string(),
                fee,
                t.validity.to_string(),
                t.decision_deadline.to_string(),
                t.name.clone(),
            ]
        })
        .collect();
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        text.push_str(cells.join("  ").trim_end());
        text.push('\n');
    }
    text.push_str(&format!(
        "{} permit types in {} jurisdictions\n",
        set.len(),
        set.jurisdictions().len()
    ));
    text
}

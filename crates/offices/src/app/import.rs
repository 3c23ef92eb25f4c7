//! Bulk import from CSV: every row is checked first; one bad row refuses
//! the whole file (with every bad row's line and reason) and nothing is
//! written. A good file is applied in one transaction: offices are matched
//! by code, created or updated, and each change publishes its event.

use std::collections::HashMap;
use std::io::Read;

use super::{Offices, publish_change};
use crate::domain::{Office, OfficeFields, OfficeKind};
use crate::error::{Error, RowError};
use crate::store;

/// The columns of an offices file, in order.
pub const COLUMNS: [&str; 13] = [
    "code",
    "name",
    "kind",
    "street",
    "city",
    "county",
    "state",
    "zip",
    "latitude",
    "longitude",
    "phone",
    "hours",
    "active",
];

/// What an import did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ImportReport {
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
}

/// Reads and checks a whole offices file. Returns the rows with their line
/// numbers, or every bad row.
pub fn parse_csv<R: Read>(input: R) -> Result<Vec<(u64, OfficeFields)>, Error> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(input);
    let headers = reader.headers()?.clone();
    let got: Vec<&str> = headers.iter().map(str::trim).collect();
    if got != COLUMNS {
        return Err(Error::Import(vec![RowError {
            line: 1,
            reason: format!("header must be exactly: {}", COLUMNS.join(",")),
        }]));
    }
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    let mut seen_codes: HashMap<String, u64> = HashMap::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                errors.push(RowError {
                    line,
                    reason: format!("unreadable row: {e}"),
                });
                continue;
            }
        };
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        if record.len() != COLUMNS.len() {
            errors.push(RowError {
                line,
                reason: format!("has {} fields, expected {}", record.len(), COLUMNS.len()),
            });
            continue;
        }
        match parse_row(&record) {
            Ok(f) => {
                if let Some(first) = seen_codes.insert(f.code.clone(), line) {
                    errors.push(RowError {
                        line,
                        reason: format!("code {} already used on line {first}", f.code),
                    });
                } else {
                    rows.push((line, f));
                }
            }
            Err(reason) => errors.push(RowError { line, reason }),
        }
    }
    if errors.is_empty() {
        Ok(rows)
    } else {
        Err(Error::Import(errors))
    }
}

fn parse_row(r: &csv::StringRecord) -> Result<OfficeFields, String> {
    let number = |i: usize, name: &str| -> Result<f64, String> {
        r[i].trim()
            .parse::<f64>()
            .map_err(|_| format!("{name}: {:?} is not a number", &r[i]))
    };
    let kind = OfficeKind::parse(r[2].trim());
    let active = match r[12].trim() {
        "true" | "1" | "yes" => true,
        "false" | "0" | "no" => false,
        other => return Err(format!("active: {other:?} must be true or false")),
    };
    OfficeFields::parse(
        &r[0],
        &r[1],
        kind,
        &r[3],
        &r[4],
        &r[5],
        &r[6],
        &r[7],
        number(8, "latitude")?,
        number(9, "longitude")?,
        &r[10],
        &r[11],
        active,
    )
    .map_err(|e| match e {
        Error::Invalid { field, reason } => format!("{field}: {reason}"),
        other => other.to_string(),
    })
}

impl Offices {
    /// Applies checked rows in one transaction. `progress` is told how many
    /// rows are done.
    pub async fn import(
        &self,
        actor: &str,
        rows: Vec<(u64, OfficeFields)>,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<ImportReport, Error> {
        let mut report = ImportReport::default();
        let mut tx = self.db.begin().await?;
        let now = self.clock.now_ms();
        for (n, (_, fields)) in rows.into_iter().enumerate() {
            match store::find_by_code(&mut tx, &fields.code).await? {
                None => {
                    let office = Office {
                        id: uuid::Uuid::now_v7().to_string(),
                        fields,
                        version: 1,
                        updated_at_ms: now,
                    };
                    store::insert(&mut tx, &office).await?;
                    publish_change(&mut tx, &office, "imported", actor).await?;
                    report.created += 1;
                }
                Some(current) if current.fields == fields => report.unchanged += 1,
                Some(current) => {
                    let office = Office {
                        id: current.id,
                        fields,
                        version: current.version + 1,
                        updated_at_ms: now,
                    };
                    store::update(&mut tx, &office).await?;
                    publish_change(&mut tx, &office, "imported", actor).await?;
                    report.updated += 1;
                }
            }
            if n % 100 == 99 {
                progress(n as u64 + 1);
            }
        }
        self.db.commit(tx).await?;
        progress(report.created + report.updated + report.unchanged);
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str =
        "code,name,kind,street,city,county,state,zip,latitude,longitude,phone,hours,active\n";

    #[test]
    fn every_bad_row_is_reported_with_its_line() {
        let text = format!(
            "{HEADER}DMV-1,A,dmv_office,1 Main St,York,York,PA,17401,39.96,-76.73,,Mo-Fr,true\n\
             DMV-2,B,spaceport,1 Main St,York,York,PA,17401,39.96,-76.73,,Mo-Fr,true\n\
             DMV-3,C,dmv_office,1 Main St,York,York,PA,1740,39.96,-76.73,,Mo-Fr,true\n\
             DMV-1,D,dmv_office,1 Main St,York,York,PA,17401,39.96,-76.73,,Mo-Fr,true\n\
             DMV-5,E,dmv_office,1 Main St,York,York,PA,17401,north,-76.73,,Mo-Fr,true\n"
        );
        let Err(Error::Import(errors)) = parse_csv(text.as_bytes()) else {
            panic!("bad rows accepted")
        };
        let lines: Vec<u64> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![3, 4, 5, 6]);
        assert!(errors[0].reason.starts_with("kind"), "{}", errors[0].reason);
        assert!(errors[1].reason.starts_with("zip"));
        assert!(errors[2].reason.contains("line 2"));
        assert!(errors[3].reason.contains("latitude"));
    }

    #[test]
    fn wrong_header_is_refused() {
        assert!(
            matches!(parse_csv("a,b\n1,2\n".as_bytes()), Err(Error::Import(e)) if e[0].line == 1)
        );
    }
}

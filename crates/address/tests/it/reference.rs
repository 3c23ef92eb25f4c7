//! Imports and validation against real storage.

use std::collections::{HashMap, HashSet};

use plaza_address::reference::{self, COLUMNS};
use plaza_address::{Address, Addresses, ChangeKind, Error, Field, Outcome, Validation, open_db};
use plaza_kernel::db::StorageTarget;
use plaza_kernel::testing::{postgres_target, sqlite_target};

use crate::{admin, citizen, csv, sample};

async fn app(target: &StorageTarget) -> Addresses {
    Addresses::new(open_db(target).await.expect("address db"))
}

async fn load(app: &Addresses, rows: u64, seed: u64) {
    let set = reference::read(csv(rows, seed).as_slice(), &|_| {}).unwrap();
    let report = app.import(&admin(), &set, &|_| {}).await.unwrap();
    assert_eq!(report.addresses, rows);
}

async fn validate(app: &Addresses, a: &Address) -> Validation {
    app.validate(&citizen(), &a.single_line()).await.unwrap()
}

async fn import_is_all_or_nothing(target: StorageTarget) {
    let app = app(&target).await;
    load(&app, 2_000, 5).await;
    let first = sample(2_000, 5);
    let a = &first[10].0;
    assert_eq!(validate(&app, a).await.outcome, Outcome::Exact);
    let streets = app.index().await.unwrap().streets();

    let header = COLUMNS.join(",");
    let text = format!(
        "{header}\n\
         1,,,Ridge,Rd,,,Oakton,York,PA,17401,0001\n\
         2,,,Ridge,Rd,,,Oakton,York,PA,1740,0001\n\
         3,,,Ridge,Roadway,,,Oakton,York,PA,17401,0001\n\
         4,,Up,Ridge,Rd,,,Oakton,York,PA,17401,0001\n\
         1,,,Ridge,Road,,,Oakton,York,PA,17401,0002\n\
         5,,,Ridge,Rd,,,Elmton,York,PA,17401,0001\n\
         6,,,Ridge,Rd,,Flat 3,Oakton,York,PA,17401,0001\n\
         7,,,Ridge,Rd,,,Oakton,York,Narnia,17401,0001\n\
         8,,,Ridge,Rd\n\
         9,,,Ridge,Rd,,,Oakton,York,PA,17401,0001\n"
    );
    let Err(Error::Import(errors)) = reference::read(text.as_bytes(), &|_| {}) else {
        panic!("bad rows accepted")
    };
    let lines: Vec<u64> = errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, vec![3, 4, 5, 6, 7, 8, 9, 10], "{errors:?}");
    let reason = |line: u64| &errors.iter().find(|e| e.line == line).unwrap().reason;
    assert!(reason(3).starts_with("Zip_Code"), "{}", reason(3));
    assert!(reason(4).starts_with("St_PosTyp"), "{}", reason(4));
    assert!(reason(5).starts_with("St_PreDir"), "{}", reason(5));
    assert!(reason(6).contains("line 2"), "{}", reason(6));
    assert!(reason(7).contains("OAKTON"), "{}", reason(7));
    assert!(reason(8).starts_with("Unit"), "{}", reason(8));
    assert!(reason(9).starts_with("State"), "{}", reason(9));
    assert!(reason(10).contains("fields"), "{}", reason(10));
    assert!(matches!(
        reference::read("a,b\n1,2\n".as_bytes(), &|_| {}),
        Err(Error::Import(e)) if e[0].line == 1
    ));

    // Nothing of a refused file, or of a refused caller's import, lands.
    let good = reference::read(csv(300, 6).as_slice(), &|_| {}).unwrap();
    assert!(matches!(
        app.import(&citizen(), &good, &|_| {}).await,
        Err(Error::Denied(e)) if e.code == "forbidden"
    ));
    app.reload();
    assert_eq!(app.index().await.unwrap().streets(), streets);
    assert_eq!(validate(&app, a).await.outcome, Outcome::Exact);

    // A good file replaces the set as a whole.
    let report = app.import(&admin(), &good, &|_| {}).await.unwrap();
    assert_eq!(report.addresses, 300);
    let b = &sample(300, 6)[7].0;
    assert_eq!(validate(&app, b).await.outcome, Outcome::Exact);
    assert_eq!(app.index().await.unwrap().addresses, 300);
    app.db().drop_schema().await.unwrap();
}

#[tokio::test]
async fn sqlite_import_is_all_or_nothing() {
    import_is_all_or_nothing(sqlite_target()).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set PLAZA_TEST_DATABASE_URL (.ci/run does)"]
async fn postgres_import_is_all_or_nothing() {
    import_is_all_or_nothing(postgres_target()).await;
}

/// Addresses whose street name is the only one of its kind in its city,
/// so a changed suffix or directional cannot land on another street.
fn unique_streets(data: &[(Address, String)]) -> Vec<&Address> {
    let mut names: HashMap<(String, String), HashSet<String>> = HashMap::new();
    for (a, _) in data {
        names
            .entry((a.city.clone(), a.name.clone()))
            .or_default()
            .insert(a.street() + &a.zip5);
    }
    data.iter()
        .map(|(a, _)| a)
        .filter(|a| names[&(a.city.clone(), a.name.clone())].len() == 1)
        .collect()
}

fn only(v: &Validation, field: Field, kind: ChangeKind) {
    assert_eq!(v.outcome, Outcome::Corrected, "{v:?}");
    assert!(v.deliverable);
    assert!(
        v.changes.iter().any(|c| c.field == field && c.kind == kind),
        "expected {field:?} {kind:?} in {:?}",
        v.changes
    );
}

async fn validation_answers(target: StorageTarget) {
    let app = app(&target).await;
    let data = sample(6_000, 21);
    load(&app, 6_000, 21).await;
    let unique = unique_streets(&data);
    let plain = |f: &dyn Fn(&&Address) -> bool| -> Address {
        (*unique
            .iter()
            .find(|a| a.unit_type.is_empty() && f(a))
            .expect("such an address in the sample"))
        .clone()
    };

    // Exact, with or without ZIP+4, however it is spelt.
    let a = plain(&|a| a.predir.is_empty() && a.name.len() >= 6 && !a.name.contains(' '));
    let v = validate(&app, &a).await;
    assert_eq!(v.outcome, Outcome::Exact, "{v:?}");
    assert!(v.deliverable && v.changes.is_empty());
    assert_eq!(v.matched.as_ref(), Some(&a));
    assert_eq!(
        v.county.as_deref(),
        Some(data.iter().find(|(x, _)| *x == a).unwrap().1.as_str())
    );
    let mut no_zip4 = a.clone();
    no_zip4.zip4.clear();
    let messy = format!(
        "{} {} {}, {}, Pennsylvania {}",
        a.number,
        a.name.to_lowercase(),
        plaza_address::pub28::suffix_name(&a.suffix)
            .unwrap()
            .to_lowercase(),
        a.city.to_lowercase(),
        a.zip5
    );
    let v = app.validate(&citizen(), &messy).await.unwrap();
    assert_eq!(v.outcome, Outcome::Exact, "{messy}: {v:?}");
    assert_eq!(v.matched.as_ref().unwrap().zip4, a.zip4, "ZIP+4 filled in");

    // A typo in the street name.
    let mut typo = no_zip4.clone();
    let mut name: Vec<char> = typo.name.chars().collect();
    name.swap(1, 2);
    typo.name = name.into_iter().collect();
    let v = validate(&app, &typo).await;
    only(&v, Field::StreetName, ChangeKind::Corrected);
    assert_eq!(v.matched.as_ref(), Some(&a));

    // A typo in the city, and no ZIP code.
    let mut city = no_zip4.clone();
    city.city.remove(2);
    city.zip5.clear();
    let v = validate(&app, &city).await;
    only(&v, Field::City, ChangeKind::Corrected);
    only(&v, Field::Zip5, ChangeKind::Added);
    assert_eq!(v.matched.as_ref(), Some(&a));

    // Missing and wrong suffix.
    let mut missing = no_zip4.clone();
    missing.suffix.clear();
    let v = validate(&app, &missing).await;
    only(&v, Field::Suffix, ChangeKind::Added);
    assert_eq!(v.matched.as_ref(), Some(&a));
    let mut wrong = no_zip4.clone();
    wrong.suffix = if a.suffix == "ST" {
        "AVE".into()
    } else {
        "ST".into()
    };
    let v = validate(&app, &wrong).await;
    only(&v, Field::Suffix, ChangeKind::Corrected);
    assert_eq!(v.matched.as_ref(), Some(&a));

    // A missing suffix on a street whose name ends in a suffix word
    // (`MILL CREEK RD` written `MILL CREEK`).
    let creek = plain(&|a| {
        a.name
            .rsplit(' ')
            .next()
            .is_some_and(|w| a.name.contains(' ') && plaza_address::pub28::suffix(w).is_some())
    });
    let mut bare = creek.clone();
    bare.zip4.clear();
    bare.suffix.clear();
    let v = validate(&app, &bare).await;
    only(&v, Field::Suffix, ChangeKind::Added);
    assert_eq!(v.matched.as_ref(), Some(&creek));

    // Wrong ZIP code (another of the city's).
    let other_zip = data
        .iter()
        .find(|(x, _)| x.city == a.city && x.zip5 != a.zip5)
        .map(|(x, _)| x.zip5.clone())
        .expect("the city has two ZIP codes");
    let mut zip = no_zip4.clone();
    zip.zip5 = other_zip;
    let v = validate(&app, &zip).await;
    only(&v, Field::Zip5, ChangeKind::Corrected);
    assert_eq!(v.matched.as_ref(), Some(&a));

    // Missing and wrong directional.
    let d = plain(&|a| !a.predir.is_empty());
    let mut missing = d.clone();
    missing.zip4.clear();
    missing.predir.clear();
    let v = validate(&app, &missing).await;
    only(&v, Field::PreDirectional, ChangeKind::Added);
    assert_eq!(v.matched.as_ref(), Some(&d));
    let mut wrong = missing.clone();
    wrong.predir = if d.predir == "N" {
        "S".into()
    } else {
        "N".into()
    };
    let v = validate(&app, &wrong).await;
    only(&v, Field::PreDirectional, ChangeKind::Corrected);
    assert_eq!(v.matched.as_ref(), Some(&d));

    // A unit written with `#` gets its designator.
    let u = data
        .iter()
        .map(|(a, _)| a)
        .find(|a| a.unit_type == "APT")
        .unwrap()
        .clone();
    let mut hash = u.clone();
    hash.unit_type = "#".into();
    let v = validate(&app, &hash).await;
    only(&v, Field::UnitType, ChangeKind::Corrected);
    assert_eq!(v.matched.as_ref(), Some(&u));

    // No match: a building of flats without the flat, a number that is not
    // on the street, a street that is not in the city.
    let mut no_unit = u.clone();
    no_unit.unit_type.clear();
    no_unit.unit_id.clear();
    let v = validate(&app, &no_unit).await;
    assert_eq!(v.outcome, Outcome::NoMatch);
    assert!(!v.deliverable);
    assert!(
        v.suggestions
            .iter()
            .any(|s| s.number == u.number && s.unit_type == "APT"),
        "{:?}",
        v.suggestions
    );
    let mut far = no_zip4.clone();
    far.number = "99999".into();
    let v = validate(&app, &far).await;
    assert_eq!(v.outcome, Outcome::NoMatch);
    assert!(
        v.suggestions
            .iter()
            .any(|s| s.street() == a.street() && s.zip5 == a.zip5),
        "{:?}",
        v.suggestions
    );
    let mut nowhere = no_zip4.clone();
    nowhere.name = "QWXYZ".into();
    let v = validate(&app, &nowhere).await;
    assert_eq!(v.outcome, Outcome::NoMatch);
    assert!(!v.suggestions.is_empty());
    assert!(
        v.suggestions
            .iter()
            .all(|s| s.zip5 == a.zip5 || s.city == a.city)
    );

    // Not enough to check.
    let err = app.validate(&citizen(), "12 Main St").await.unwrap_err();
    assert_eq!(err.public().code, "address.incomplete");
    app.db().drop_schema().await.unwrap();
}

#[tokio::test]
async fn sqlite_validation_answers() {
    validation_answers(sqlite_target()).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set PLAZA_TEST_DATABASE_URL (.ci/run does)"]
async fn postgres_validation_answers() {
    validation_answers(postgres_target()).await;
}

//! The catalogue in force: replaced only by a catalogue valid whole.

use std::path::Path;

use plaza_kernel::testing::temp_dir;
use plaza_permits::lint::Code;
use plaza_permits::{Catalogue, Error, TypeSet};

use crate::lint::{GOOD, edit};

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

#[test]
fn reload_installs_a_valid_catalogue_and_keeps_the_old_one_on_any_error() {
    let catalogue = Catalogue::shipped();
    let shipped = catalogue.current();
    assert!(shipped.get("ma-ltc").is_some());

    // A valid folder of two files replaces the shipped catalogue.
    let dir = temp_dir("permits-reload");
    write(&dir, "ma.toml", GOOD);
    write(
        &dir,
        "ct.toml",
        &GOOD.replace("\"MA\"", "\"CT\"").replace("\"ma-", "\"ct-"),
    );
    let installed = catalogue.reload(&dir).unwrap();
    assert_eq!(installed.len(), 4);
    assert_eq!(catalogue.current().len(), 4);
    assert!(catalogue.current().get("tx-ltc").is_none());
    let before = catalogue.current();

    // One good file and one bad: refused whole, with the bad file's reason;
    // the catalogue in force is unchanged, the good file's edit included.
    let (bad, line) = edit(
        &GOOD.replace("\"MA\"", "\"CT\"").replace("\"ma-", "\"ct-"),
        "fee_cents",
        0,
        "fee_cents = -500",
    );
    write(&dir, "ct.toml", &bad);
    write(
        &dir,
        "ma.toml",
        &GOOD.replace("name = \"Licence to Carry\"", "name = \"Changed\""),
    );
    let Err(Error::Catalogue(errors)) = catalogue.reload(&dir) else {
        panic!("a bad file must refuse the catalogue");
    };
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].code, Code::FeeNegative);
    assert!(errors[0].file.ends_with("ct.toml"));
    assert_eq!(errors[0].line, Some(line));
    let now = catalogue.current();
    assert_eq!(*now, *before, "the catalogue in force did not change");
    assert_eq!(now.get("ma-ltc").unwrap().name, "Licence to Carry");

    // A folder that cannot be read at all changes nothing either.
    assert!(catalogue.reload(&dir.join("nowhere")).is_err());
    assert_eq!(*catalogue.current(), *before);

    // Fixed, it is taken.
    write(
        &dir,
        "ct.toml",
        &bad.replace("fee_cents = -500", "fee_cents = 500"),
    );
    catalogue.reload(&dir).unwrap();
    assert_eq!(catalogue.current().get("ma-ltc").unwrap().name, "Changed");
    assert_eq!(catalogue.current().get("ct-ltc").unwrap().fee_cents, 500);
}

#[test]
fn readers_keep_the_set_they_took_while_a_new_one_is_installed() {
    let catalogue = Catalogue::shipped();
    let held = catalogue.current();
    catalogue
        .replace(&[plaza_permits::Source::new("ma.toml", GOOD)])
        .unwrap();
    assert!(held.get("tx-ltc").is_some(), "the old set is still whole");
    assert!(catalogue.current().get("tx-ltc").is_none());
}

#[test]
fn the_public_error_has_a_stable_code_and_lists_reasons() {
    let (bad, _) = edit(GOOD, "minimum_age", 0, "minimum_age = 3");
    let err = TypeSet::from_sources(&[plaza_permits::Source::new("ma.toml", bad)]).unwrap_err();
    let public = err.public();
    assert_eq!(public.code, "permits.catalogue_invalid");
    assert!(
        public.message.contains("age.out_of_range"),
        "{}",
        public.message
    );
    assert!(public.message.contains("unchanged"), "{}", public.message);
    let set = TypeSet::shipped();
    assert_eq!(
        set.require("xx-nothing").unwrap_err().public().code,
        "permits.unknown_type"
    );
}

#[test]
fn load_without_a_path_is_the_shipped_catalogue() {
    let c = Catalogue::load(None).unwrap();
    assert_eq!(*c.current(), TypeSet::shipped());
    let dir = temp_dir("permits-load");
    write(&dir, "ma.toml", GOOD);
    let c = Catalogue::load(Some(&dir.join("ma.toml"))).unwrap();
    assert_eq!(c.current().len(), 2);
    assert!(Catalogue::load(Some(&dir.join("missing.toml"))).is_err());
}

use plaza_fulfillment::aamva::{self, Date};

/// A payload: the compliance indicator, `header` (file type, IIN, version,
/// [jurisdiction version,] entries), the designators, the subfiles.
fn payload(header: &str, subfiles: &[(&str, &str)]) -> Vec<u8> {
    let start = 4 + header.len() + 10 * subfiles.len();
    let mut out = b"@\n\x1e\r".to_vec();
    out.extend_from_slice(header.as_bytes());
    let mut offset = start;
    for (kind, body) in subfiles {
        out.extend_from_slice(format!("{kind}{offset:04}{:04}", body.len()).as_bytes());
        offset += body.len();
    }
    for (_, body) in subfiles {
        out.extend_from_slice(body.as_bytes());
    }
    out
}

fn reason(bytes: &[u8]) -> &'static str {
    aamva::parse(bytes).unwrap_err().code
}

#[test]
fn version_1_has_no_jurisdiction_version_and_iso_dates() {
    let dl = "DLDAQ123456789\nDAAPUBLIC,JOHN,QUINCY\nDBB19700102\nDBA20300102\nDAGMAIN ST\r";
    let p = aamva::parse(&payload("ANSI 6360020101", &[("DL", dl)])).unwrap();
    assert_eq!(p.version, 1);
    assert_eq!(p.jurisdiction_version, None);
    assert_eq!(p.iin, "636002");
    assert_eq!(p.date("DBB").unwrap(), Date::new(1970, 1, 2).unwrap());
    assert_eq!(
        p.names().unwrap(),
        ("PUBLIC".into(), "JOHN".into(), "QUINCY".into())
    );
}

#[test]
fn versions_2_and_3_use_given_names_and_us_dates() {
    for version in ["02", "03"] {
        let dl = "DLDAQD1234567\nDCSSMITH\nDCTANNA,MARIE\nDBB07041976\nDBA07042028\r";
        let p = aamva::parse(&payload(
            &format!("ANSI 636014{version}0001"),
            &[("DL", dl)],
        ))
        .unwrap();
        assert_eq!(p.jurisdiction_version, Some(0));
        assert_eq!(p.date("DBB").unwrap(), Date::new(1976, 7, 4).unwrap());
        assert_eq!(
            p.names().unwrap(),
            ("SMITH".into(), "ANNA".into(), "MARIE".into())
        );
    }
}

#[test]
fn versions_4_to_9_with_a_jurisdiction_subfile() {
    for v in 4..=9 {
        let dl = "DLDCAC\nDAQX99\nDCSDOE\nDACJANE\nDADNONE\nDBB12311999\nDBA12312031\nDCGUSA\r";
        let zx = "ZXZXAFOO\nZXBBAR\r";
        let p = aamva::parse(&payload(
            &format!("ANSI 636000{v:02}0502"),
            &[("DL", dl), ("ZX", zx)],
        ))
        .unwrap();
        assert_eq!(p.version, v);
        assert_eq!(p.jurisdiction_version, Some(5));
        assert_eq!(p.subfiles.len(), 2);
        assert_eq!(p.subfiles[1].get("ZXB"), Some("BAR"));
        assert_eq!(p.date("DBA").unwrap(), Date::new(2031, 12, 31).unwrap());
    }
}

#[test]
fn canadian_cards_use_iso_dates_and_id_cards_are_read() {
    let id = "IDDAQ5551212\nDCSTREMBLAY\nDACLUC\nDBB19880315\nDBA20290315\nDCGCAN\r";
    let p = aamva::parse(&payload("ANSI 636028080001", &[("ID", id)])).unwrap();
    assert_eq!(p.main().unwrap().kind, "ID");
    assert_eq!(p.date("DBB").unwrap(), Date::new(1988, 3, 15).unwrap());
}

#[test]
fn plaza_cards_parse_back_as_version_10() {
    let card = crate::card("Garcia-Lopez", "PL1234567");
    let bytes = card.encode();
    assert!(bytes.starts_with(b"@\n\x1e\rANSI 636099100101DL00310"));
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(
        text.contains("\nDAK627011234  \n"),
        "postal code 9 digits, space-padded to 11"
    );
    assert!(text.contains("\nDBB06301980\n"), "US dates MMDDCCYY");
    assert!(text.contains("\nDDEN\nDDFN\nDDGN\n"));
    assert!(text.ends_with('\r'));
    let p = aamva::parse(&bytes).unwrap();
    assert_eq!(p.card_data().unwrap(), card);
}

#[test]
fn long_names_are_truncated_and_flagged() {
    let long = "Wolfeschlegelsteinhausenbergerdorff-Smithers";
    let card = crate::card(long, "PL1");
    let text = String::from_utf8(card.encode()).unwrap();
    assert!(text.contains("\nDDET\n"));
    let p = aamva::parse(text.as_bytes()).unwrap();
    assert_eq!(p.main().unwrap().get("DCS").unwrap().len(), aamva::NAME_MAX);
    assert_eq!(p.card_data().unwrap(), card.as_encoded());
}

#[test]
fn malformed_payloads_are_refused_with_their_reason() {
    let good_dl = "DLDAQ1\nDBB01011990\nDBA01012030\r";
    assert_eq!(reason(b""), "aamva.bad_header");
    assert_eq!(reason(b"@\n\x1e\rXXXXX636000100101"), "aamva.bad_header");
    assert_eq!(
        reason(&payload("ANSI 63A000100101", &[("DL", good_dl)])),
        "aamva.bad_header"
    );
    assert_eq!(
        reason(&payload("ANSI 636000100100", &[])),
        "aamva.bad_header"
    );
    assert_eq!(
        reason(&payload("ANSI 636000110101", &[("DL", good_dl)])),
        "aamva.unsupported_version"
    );
    // One entry announced, its designator cut short.
    let mut cut = payload("ANSI 636000100101", &[("DL", good_dl)]);
    cut.truncate(21 + 5);
    assert_eq!(cut[19..21], *b"01");
    assert_eq!(reason(&cut), "aamva.bad_designator");
    let mut bad = payload("ANSI 636000100101", &[("DL", good_dl)]);
    bad[24] = b'x'; // inside the offset digits
    assert_eq!(reason(&bad), "aamva.bad_designator");
    let mut long = payload("ANSI 636000100101", &[("DL", good_dl)]);
    long.truncate(long.len() - 3);
    assert_eq!(reason(&long), "aamva.subfile_out_of_range");
    assert_eq!(
        reason(&payload("ANSI 636000100101", &[("DL", "IDDAQ1\r")])),
        "aamva.bad_subfile"
    );
    assert_eq!(
        reason(&payload(
            "ANSI 636000100101",
            &[("DL", "DLDAQ1\nDBA01012030\r")]
        )),
        "aamva.missing_element"
    );
    assert_eq!(
        reason(&payload("ANSI 636000100101", &[("ZX", "ZXZXA1\r")])),
        "aamva.missing_element"
    );
    assert_eq!(
        reason(&payload(
            "ANSI 636000100101",
            &[("DL", "DLDAQ1\nDBB13401990\nDBA01012030\r")]
        )),
        "aamva.bad_element"
    );
    assert_eq!(
        reason(&payload(
            "ANSI 636000100101",
            &[("DL", "DLDAQ1\nX\nDBB01011990\r")]
        )),
        "aamva.bad_element"
    );
}

#[test]
fn invalid_card_fields_are_refused() {
    use plaza_fulfillment::aamva::{CardData, CardFields};
    let base: CardFields = crate::card("Doe", "PL1").fields().clone();
    type Change = Box<dyn Fn(&mut CardFields)>;
    let cases: Vec<(&str, Change)> = vec![
        ("iin", Box::new(|f| f.iin = "12345".into())),
        ("family_name", Box::new(|f| f.family_name = "D0E".into())),
        ("eye_colour", Box::new(|f| f.eye_colour = "RED".into())),
        (
            "postal_code",
            Box::new(|f| f.postal_code = "1234567".into()),
        ),
        ("height_in", Box::new(|f| f.height_in = 200)),
        ("customer_id", Box::new(|f| f.customer_id = "PL\n1".into())),
        ("expiry", Box::new(|f| f.expiry = f.issue_date)),
        ("street_1", Box::new(|f| f.street_1 = "X".repeat(36))),
    ];
    for (field, change) in cases {
        let mut f = base.clone();
        change(&mut f);
        let e = CardData::new(f).unwrap_err();
        assert_eq!(e.code, "aamva.invalid_field");
        assert!(e.detail.starts_with(field), "{field}: {}", e.detail);
    }
}

//! `plaza permits lint` and `plaza permits list` as a user runs them: the
//! shipped catalogue from any folder, and an edited catalogue refused with
//! the file, line and code of each mistake.

use plaza_kernel::testing::temp_dir;
use plaza_permits::catalogue::SHIPPED;
use serde_json::Value;

use super::{plaza, run};

fn output(args: &[&str], cwd: &std::path::Path) -> (i32, String, String) {
    let out = plaza(args, &[])
        .current_dir(cwd)
        .output()
        .expect("run plaza");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn shipped(name: &str) -> &'static str {
    SHIPPED
        .iter()
        .find(|(n, _)| n.ends_with(name))
        .map(|(_, text)| *text)
        .unwrap()
}

#[test]
fn the_shipped_catalogue_lints_clean_and_lists_from_any_folder() {
    let elsewhere = temp_dir("permits-cli");
    let (code, out, err) = output(&["permits", "lint"], &elsewhere);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("no errors"), "{out}");

    let (code, out, err) = output(&["permits", "list", "--format", "json"], &elsewhere);
    assert_eq!(code, 0, "{err}");
    let types: Vec<Value> = serde_json::from_str(&out).expect("a JSON array");
    assert!(types.len() >= 50, "{} types", types.len());
    let jurisdictions: std::collections::HashSet<&str> = types
        .iter()
        .map(|t| t["jurisdiction"].as_str().unwrap())
        .collect();
    assert!(jurisdictions.len() >= 12);
    for t in &types {
        for field in [
            "id",
            "jurisdiction",
            "name",
            "kind",
            "fee_cents",
            "validity",
            "decision_deadline",
        ] {
            assert!(!t[field].is_null(), "{field} of {t}");
        }
    }
    let ltc = types
        .iter()
        .find(|t| t["id"] == "ma-ltc")
        .expect("ma-ltc listed");
    assert_eq!(ltc["fee_cents"], 10_000);
    assert_eq!(ltc["validity"], serde_json::json!({"years": 6}));
    assert_eq!(
        ltc["decision_deadline"],
        serde_json::json!({"days": 40, "counting": "calendar"})
    );

    let (code, out, _) = output(&["permits", "list"], &elsewhere);
    assert_eq!(code, 0);
    let line = out
        .lines()
        .find(|l| l.starts_with("il-ccl "))
        .expect("il-ccl in the table");
    assert!(line.contains("$150.00 ($300.00 non-res.)"), "{line}");
    assert!(line.contains("90 calendar days"), "{line}");
    assert!(out.contains("SAMPLE DATA"), "{out}");
}

#[test]
fn an_edited_catalogue_is_refused_with_file_line_and_code() {
    let dir = temp_dir("permits-cli-bad");
    let good = shipped("ma.toml");
    let bad = good.replacen("fee_cents = 10000", "fee_cents = -100", 1);
    let bad_line = bad.lines().position(|l| l == "fee_cents = -100").unwrap() + 1;
    std::fs::write(dir.join("ma.toml"), &bad).unwrap();
    std::fs::write(dir.join("tx.toml"), shipped("tx.toml")).unwrap();
    let (code, out, err) = run(&["permits", "lint", dir.to_str().unwrap()], &[]);
    assert_eq!(code, 1, "{out}{err}");
    let ma = dir.join("ma.toml");
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [format!(
            "{}:{bad_line}: fee.negative: permit ma-ltc: fee_cents is negative (-100)",
            ma.display()
        )]
    );
    assert!(err.contains("refused whole"), "{err}");

    let (code, out, err) = run(
        &["permits", "list", "--catalogue", dir.to_str().unwrap()],
        &[],
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.is_empty(),
        "nothing listed from a refused catalogue: {out}"
    );
    assert!(err.contains("fee.negative"), "{err}");

    // Fixed, the folder lints and lists.
    std::fs::write(dir.join("ma.toml"), good).unwrap();
    let (code, out, _) = run(&["permits", "lint", dir.to_str().unwrap()], &[]);
    assert_eq!(code, 0, "{out}");
    let (code, out, _) = run(
        &[
            "permits",
            "list",
            "--format",
            "json",
            "--catalogue",
            dir.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, 0);
    let types: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert!(
        types
            .iter()
            .all(|t| t["jurisdiction"] == "MA" || t["jurisdiction"] == "TX")
    );

    let (code, out, _) = run(
        &["permits", "lint", dir.join("none").to_str().unwrap()],
        &[],
    );
    assert_eq!(code, 1);
    assert!(out.contains("file.unreadable"), "{out}");
}

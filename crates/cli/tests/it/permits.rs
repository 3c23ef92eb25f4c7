//! `plaza permits lint` and `plaza permits list` as a user runs them: the
//! shipped catalogue from any folder, and an edited catalogue refused with
//! the file, line and code of each mistake; and `plaza serve` hosting the
//! permits service (refusing to start on a bad catalogue).

use plaza_kernel::testing::temp_dir;
use plaza_permits::catalogue::SHIPPED;
use serde_json::Value;

use super::{Server, plaza, run};

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

#[tokio::test]
async fn serve_hosts_permits_over_rest_and_grpc() {
    let dir = temp_dir("permits-serve");
    let env = [
        ("PLAZA_DATA_DIR", dir.join("data").display().to_string()),
        ("PLAZA_SHUTDOWN_DRAIN_MS", "1500".to_owned()),
    ];
    let mut server = Server::start(
        &["serve", "--http", "127.0.0.1:0", "--grpc", "127.0.0.1:0"],
        &env,
    );
    let http = server.http.clone().expect("HTTP address printed");
    let grpc = server.grpc.clone().expect("gRPC address printed");
    assert!(dir.join("data/permits.db").exists(), "its own database");
    let client = {
        plaza_kernel::install_crypto_provider();
        reqwest::Client::new()
    };
    let r = client
        .get(format!("{http}/v1/permit-types"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["types"].as_array().unwrap().len(), 81);
    let r = client
        .get(format!("{http}/v1/permit-types/il-foid"))
        .send()
        .await
        .unwrap();
    let foid: Value = r.json().await.unwrap();
    assert_eq!(foid["jurisdiction"], "IL");
    // Applying needs a signed-in caller.
    let r = client
        .post(format!("{http}/v1/permit-applications"))
        .header("Idempotency-Key", "k1")
        .json(
            &serde_json::json!({"permit_type": "il-foid", "resident": true,
            "applicant": {"given_name": "A", "family_name": "B",
                          "birth_date": "1980-01-01", "address": "1 Main St"}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    let channel = tonic::transport::Endpoint::from_shared(grpc)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    for service in [
        "plaza.permits.v1.PermitTypes",
        "plaza.permits.v1.PermitApplications",
    ] {
        let status = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap();
        assert_eq!(
            status.get_ref().status,
            tonic_health::pb::health_check_response::ServingStatus::Serving as i32,
            "{service}"
        );
    }
    assert_eq!(server.interrupt(), 0);
}

#[test]
fn serve_refuses_to_start_on_a_refused_catalogue() {
    let dir = temp_dir("permits-serve-bad");
    let catalogue = dir.join("catalogue");
    std::fs::create_dir_all(&catalogue).unwrap();
    let bad = shipped("ma.toml").replacen("fee_cents = 10000", "fee_cents = -100", 1);
    std::fs::write(catalogue.join("ma.toml"), bad).unwrap();
    let (code, out, err) = run(
        &[
            "serve",
            "--http",
            "127.0.0.1:0",
            "--grpc",
            "127.0.0.1:0",
            "--services",
            "permits",
        ],
        &[
            ("PLAZA_DATA_DIR", dir.join("data").display().to_string()),
            (
                "PLAZA_PERMITS_CATALOGUE_DIR",
                catalogue.display().to_string(),
            ),
        ],
    );
    assert_ne!(code, 0, "{out}");
    assert!(err.contains("fee.negative"), "{err}");
    assert!(err.contains("permits.catalogue_dir"), "{err}");
    assert!(!out.contains("Plaza is running"), "{out}");
}

#[test]
fn serve_refuses_a_time_zone_it_does_not_know() {
    let dir = temp_dir("permits-serve-tz");
    let (code, out, err) = run(
        &[
            "serve",
            "--http",
            "127.0.0.1:0",
            "--grpc",
            "127.0.0.1:0",
            "--services",
            "permits",
        ],
        &[
            ("PLAZA_DATA_DIR", dir.join("data").display().to_string()),
            ("PLAZA_PERMITS_TIME_ZONE", "Mars/Olympus".to_owned()),
        ],
    );
    assert_ne!(code, 0, "{out}");
    assert!(err.contains("permits.time_zone"), "{err}");
    assert!(err.contains("US/Central"), "{err}");
}

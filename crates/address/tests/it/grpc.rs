//! The gRPC service on a port-0 server: anyone may call it, and bad input
//! comes back with its stable code.

use plaza_address::grpc::GrpcAddress;
use plaza_address::{Addresses, open_db, reference};
use plaza_contracts::address::v1 as pb;
use plaza_contracts::address::v1::address_service_client::AddressServiceClient;
use plaza_contracts::address::v1::address_service_server::AddressServiceServer;
use plaza_kernel::auth::{CALLER_METADATA, CallerSeal};
use plaza_kernel::testing::sqlite_target;

use crate::{admin, citizen, csv, sample};

fn code(s: &tonic::Status) -> String {
    s.metadata()
        .get("plaza-code")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn round_trip_over_grpc() {
    let app = Addresses::new(open_db(&sqlite_target()).await.unwrap());
    let set = reference::read(csv(1_000, 3).as_slice(), &|_| {}).unwrap();
    app.import(&admin(), &set, &|_| {}).await.unwrap();
    let seal = CallerSeal::from_key([9; 32]);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = AddressServiceServer::new(GrpcAddress::new(app, seal.clone()));
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(server)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
            .await
            .unwrap()
    });
    let mut client = AddressServiceClient::connect(format!("http://{addr}"))
        .await
        .unwrap();

    // Anonymous: labels.
    let parsed = client
        .parse(pb::ParseRequest {
            text: "12 north main street apt 4, york pa 17401".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let labels: Vec<&str> = parsed.tokens.iter().map(|t| t.label.as_str()).collect();
    assert_eq!(
        labels,
        [
            "address_number",
            "pre_directional",
            "street_name",
            "suffix",
            "unit_type",
            "unit_id",
            "city",
            "state",
            "zip5"
        ]
    );
    assert_eq!(parsed.tokens[1].raw, "north");
    let a = parsed.address.unwrap();
    assert_eq!(a.delivery_line, "12 N MAIN ST APT 4");
    assert_eq!(a.last_line, "YORK PA 17401");

    // Signed in: the standard form.
    let mut req = tonic::Request::new(pb::StandardiseRequest {
        text: "7 Elm Avenue Suite 100 Erie Pennsylvania 16501-0001".into(),
    });
    req.metadata_mut().insert(
        CALLER_METADATA,
        seal.seal(&citizen(), plaza_kernel::clock::now_ms())
            .parse()
            .unwrap(),
    );
    let s = client.standardise(req).await.unwrap().into_inner();
    let s = s.address.unwrap();
    assert_eq!(s.delivery_line, "7 ELM AVE STE 100");
    assert_eq!(s.last_line, "ERIE PA 16501-0001");

    // Validation: a corrected match with its changes.
    let known = &sample(1_000, 3)[42].0;
    let mut typo = known.clone();
    typo.suffix.clear();
    typo.zip4.clear();
    let v = client
        .validate(pb::ValidateRequest {
            text: typo.single_line(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(v.outcome, pb::Outcome::Corrected as i32, "{v:?}");
    assert!(v.deliverable);
    assert_eq!(v.matched.as_ref().unwrap().zip4, known.zip4);
    assert!(
        v.changes
            .iter()
            .any(|c| c.field == "suffix" && c.kind == "added" && c.to == known.suffix),
        "{:?}",
        v.changes
    );

    // Bad input: stable codes.
    for (text, want) in [
        ("x".repeat(201), "address.too_long"),
        (String::new(), "address.empty"),
        ("12 Main St \u{1F600}".into(), "address.invalid_characters"),
        ("Main Street".into(), "address.unparseable"),
    ] {
        let err = client
            .validate(pb::ValidateRequest { text: text.clone() })
            .await
            .unwrap_err();
        assert_eq!(code(&err), want, "{text:?}");
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
    }
    // A forged caller is refused.
    let mut req = tonic::Request::new(pb::ParseRequest {
        text: "1 Main St".into(),
    });
    req.metadata_mut()
        .insert(CALLER_METADATA, "forged.seal".parse().unwrap());
    let err = client.parse(req).await.unwrap_err();
    assert_eq!(code(&err), "caller_seal_invalid");
}

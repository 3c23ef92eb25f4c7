//! The gRPC service on a port-0 server, walked with every kind of caller.

use plaza_contracts::fulfillment::v1 as pb;
use plaza_contracts::fulfillment::v1::fulfillment_service_client::FulfillmentServiceClient;
use plaza_fulfillment::grpc::GrpcFulfillment;
use plaza_kernel::auth::{CALLER_METADATA, Caller, CallerSeal, Role};
use tonic::transport::Channel;

fn code(s: &tonic::Status) -> String {
    s.metadata()
        .get("plaza-code")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

fn person(sub: &str, role: Role, jurisdiction: Option<&str>) -> Caller {
    Caller {
        subject: sub.into(),
        issuer: "https://id.plaza.test".into(),
        roles: vec![role],
        jurisdiction: jurisdiction.map(str::to_owned),
    }
}

struct Call<'a>(&'a CallerSeal);

impl Call<'_> {
    fn req<T>(&self, who: Option<&Caller>, key: Option<&str>, body: T) -> tonic::Request<T> {
        let mut req = tonic::Request::new(body);
        if let Some(c) = who {
            req.metadata_mut().insert(
                CALLER_METADATA,
                self.0
                    .seal(c, plaza_kernel::clock::now_ms())
                    .parse()
                    .unwrap(),
            );
        }
        if let Some(k) = key {
            req.metadata_mut()
                .insert("idempotency-key", k.parse().unwrap());
        }
        req
    }
}

fn pb_date(y: u32, m: u32, d: u32) -> Option<pb::Date> {
    Some(pb::Date {
        year: y,
        month: m,
        day: d,
    })
}

fn create(owner: &str) -> pb::CreateOrderRequest {
    pb::CreateOrderRequest {
        renewal_id: "ren-1".into(),
        owner: owner.into(),
        card: Some(pb::CardData {
            iin: "636099".into(),
            jurisdiction_version: 1,
            vehicle_class: "D".into(),
            restrictions: "NONE".into(),
            endorsements: "NONE".into(),
            expiry: pb_date(2034, 6, 30),
            issue_date: pb_date(2026, 11, 30),
            birth_date: pb_date(1980, 6, 30),
            family_name: "Okafor".into(),
            first_name: "Chidi".into(),
            middle_names: String::new(),
            sex: pb::Sex::Male as i32,
            eye_colour: "BRO".into(),
            height_in: 70,
            street_1: "9 Elm Ave".into(),
            street_2: String::new(),
            city: "Springfield".into(),
            state: "PL".into(),
            postal_code: "62701".into(),
            customer_id: "PL5550001".into(),
            document_discriminator: "D1".into(),
            real_id: true,
            card_revision_date: pb_date(2024, 1, 15),
            organ_donor: false,
            veteran: true,
            inventory_control: "ICN1".into(),
        }),
        delivery: Some(pb::Delivery {
            kind: Some(pb::delivery::Kind::Pickup(pb::PickupDelivery {
                office_id: "off-3".into(),
            })),
        }),
    }
}

async fn start() -> (FulfillmentServiceClient<Channel>, CallerSeal) {
    let env = crate::env().await;
    let seal = CallerSeal::from_key([5; 32]);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = GrpcFulfillment::new(env.app.clone(), seal.clone()).into_server();
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(server)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
            .await
            .unwrap()
    });
    let client = FulfillmentServiceClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    (client, seal)
}

#[tokio::test]
async fn every_rpc_with_every_kind_of_caller() {
    let (mut client, seal) = start().await;
    let call = Call(&seal);
    let owner = person("cit-1", Role::Citizen, None);
    let stranger = person("cit-2", Role::Citizen, None);
    let clerk_here = person("clerk-1", Role::Clerk, Some("PL"));
    let clerk_elsewhere = person("clerk-2", Role::Clerk, Some("PA"));
    let auditor = person("aud-1", Role::Auditor, None);

    // Anonymous callers are asked to sign in; a citizen cannot order for
    // someone else; a request without a key is refused.
    let e = client
        .create_order(call.req(None, Some("k1"), create("")))
        .await
        .unwrap_err();
    assert_eq!(code(&e), "sign_in_required");
    let e = client
        .create_order(call.req(Some(&stranger), Some("k1"), create(&owner.actor())))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::PermissionDenied);
    let e = client
        .create_order(call.req(Some(&owner), None, create("")))
        .await
        .unwrap_err();
    assert_eq!(code(&e), "idempotency_key_required");

    // The owner orders (the renewal service does so with the citizen sealed in).
    let order = client
        .create_order(call.req(Some(&owner), Some("k1"), create("")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(order.owner, owner.actor());
    assert_eq!(order.status, pb::OrderStatus::Created as i32);
    assert_eq!(order.office_id, "off-3");
    let again = client
        .create_order(call.req(Some(&owner), Some("k1"), create("")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.id, order.id);
    let mut changed = create("");
    changed.renewal_id = "ren-2".into();
    let e = client
        .create_order(call.req(Some(&owner), Some("k1"), changed))
        .await
        .unwrap_err();
    assert_eq!(code(&e), "fulfillment.idempotency_mismatch");
    let mut bad = create("");
    bad.card.as_mut().unwrap().eye_colour = "RED".into();
    let e = client
        .create_order(call.req(Some(&owner), Some("k2"), bad))
        .await
        .unwrap_err();
    assert_eq!(code(&e), "aamva.invalid_field");
    assert_eq!(e.code(), tonic::Code::InvalidArgument);

    // Reads.
    let get = |who: Option<&Caller>| {
        call.req(
            who,
            None,
            pb::GetOrderRequest {
                id: order.id.clone(),
            },
        )
    };
    for who in [&owner, &clerk_here, &auditor] {
        assert_eq!(
            client
                .get_order(get(Some(who)))
                .await
                .unwrap()
                .into_inner()
                .id,
            order.id
        );
    }
    for who in [&stranger, &clerk_elsewhere] {
        let e = client.get_order(get(Some(who))).await.unwrap_err();
        assert_eq!(code(&e), "fulfillment.not_found", "{who:?}");
    }
    assert_eq!(
        code(&client.get_order(get(None)).await.unwrap_err()),
        "sign_in_required"
    );

    // Printing shows card data: owner and staff of the state, not auditors.
    let print = |who: &Caller| {
        call.req(
            Some(who),
            None,
            pb::TemporaryLicenceRequest {
                id: order.id.clone(),
            },
        )
    };
    for who in [&owner, &clerk_here] {
        let pdf = client
            .temporary_licence(print(who))
            .await
            .unwrap()
            .into_inner()
            .pdf;
        assert!(pdf.starts_with(b"%PDF-"));
    }
    for who in [&auditor, &stranger] {
        let e = client.temporary_licence(print(who)).await.unwrap_err();
        assert_eq!(code(&e), "fulfillment.not_found");
    }
    let svg = client
        .barcode(call.req(
            Some(&owner),
            None,
            pb::BarcodeRequest {
                id: order.id.clone(),
                format: pb::ImageFormat::Svg as i32,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(svg.content_type, "image/svg+xml");
    assert!(svg.image.starts_with(b"<svg"));

    // Cancel: not by a stranger; by the owner.
    let cancel = |who: &Caller| {
        call.req(
            Some(who),
            None,
            pb::CancelOrderRequest {
                id: order.id.clone(),
                reason: "moved".into(),
            },
        )
    };
    assert_eq!(
        code(&client.cancel_order(cancel(&stranger)).await.unwrap_err()),
        "fulfillment.not_found"
    );
    assert_eq!(
        code(&client.cancel_order(cancel(&auditor)).await.unwrap_err()),
        "fulfillment.not_found"
    );
    let c = client
        .cancel_order(cancel(&owner))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(c.status, pb::OrderStatus::Cancelled as i32);
    assert_eq!(c.reason, "moved");

    // Staff of the card's state order for a citizen.
    let o = client
        .create_order(call.req(Some(&clerk_here), Some("k3"), create(&owner.actor())))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(o.owner, owner.actor());
    let e = client
        .create_order(call.req(Some(&clerk_elsewhere), Some("k4"), create(&owner.actor())))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::PermissionDenied);
}

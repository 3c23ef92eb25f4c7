//! Thin gRPC handlers for `plaza.fulfillment.v1.FulfillmentService`:
//! decode, authorise through the app, call it, map errors.

use async_trait::async_trait;
use plaza_contracts::fulfillment::v1 as pb;
use plaza_contracts::fulfillment::v1::fulfillment_service_server::FulfillmentService;
use plaza_kernel::auth::CallerSeal;
use plaza_kernel::grpc::idempotency_key;
use tonic::{Request, Response, Status};

use crate::aamva::{self, CardData, CardFields, Compliance, Sex};
use crate::app::{Action, Fulfillment, ImageFormat};
use crate::error::Error;
use crate::orders::{Delivery, NewOrder, Order, Status as OrderStatus};

/// The gRPC face of [`Fulfillment`]. The caller comes sealed from the
/// gateway (or from the renewal service acting for a citizen).
#[derive(Clone)]
pub struct GrpcFulfillment {
    app: Fulfillment,
    seal: CallerSeal,
}

impl GrpcFulfillment {
    pub fn new(app: Fulfillment, seal: CallerSeal) -> Self {
        GrpcFulfillment { app, seal }
    }

    pub fn into_server(self) -> pb::fulfillment_service_server::FulfillmentServiceServer<Self> {
        pb::fulfillment_service_server::FulfillmentServiceServer::new(self)
    }
}

fn status(e: Error) -> Status {
    e.to_status()
}

fn missing(field: &'static str) -> Status {
    Error::Invalid {
        field,
        reason: "is required".into(),
    }
    .to_status()
}

fn date(d: Option<pb::Date>, field: &'static str) -> Result<aamva::Date, Status> {
    let d = d.ok_or_else(|| missing(field))?;
    let small = |v: u32| u8::try_from(v).unwrap_or(0);
    aamva::Date::new(
        u16::try_from(d.year).unwrap_or(0),
        small(d.month),
        small(d.day),
    )
    .map_err(|e| {
        status(Error::Card(aamva::AamvaError {
            code: e.code,
            detail: format!("{field}: {}", e.detail),
        }))
    })
}

fn card_from_pb(c: pb::CardData) -> Result<CardData, Status> {
    let sex = match pb::Sex::try_from(c.sex) {
        Ok(pb::Sex::Male) => Sex::Male,
        Ok(pb::Sex::Female) => Sex::Female,
        Ok(pb::Sex::NotSpecified) => Sex::NotSpecified,
        _ => return Err(missing("card.sex")),
    };
    let fields = CardFields {
        iin: c.iin,
        jurisdiction_version: u8::try_from(c.jurisdiction_version).unwrap_or(u8::MAX),
        class: c.vehicle_class,
        restrictions: c.restrictions,
        endorsements: c.endorsements,
        expiry: date(c.expiry, "card.expiry")?,
        issue_date: date(c.issue_date, "card.issue_date")?,
        birth_date: date(c.birth_date, "card.birth_date")?,
        family_name: c.family_name,
        first_name: c.first_name,
        middle_names: c.middle_names,
        sex,
        eye_colour: c.eye_colour,
        height_in: u16::try_from(c.height_in).unwrap_or(0),
        street_1: c.street_1,
        street_2: Some(c.street_2).filter(|s| !s.trim().is_empty()),
        city: c.city,
        state: c.state,
        postal_code: c.postal_code,
        customer_id: c.customer_id,
        document_discriminator: c.document_discriminator,
        compliance: if c.real_id {
            Compliance::Full
        } else {
            Compliance::NonCompliant
        },
        card_revision_date: date(c.card_revision_date, "card.card_revision_date")?,
        organ_donor: c.organ_donor,
        veteran: c.veteran,
        inventory_control: c.inventory_control,
    };
    CardData::new(fields).map_err(|e| status(Error::Card(e)))
}

fn delivery_from_pb(d: Option<pb::Delivery>) -> Result<Delivery, Status> {
    match d.and_then(|d| d.kind) {
        Some(pb::delivery::Kind::Mail(m)) => Ok(Delivery::Mail { lines: m.lines }),
        Some(pb::delivery::Kind::Pickup(p)) => Ok(Delivery::Pickup {
            office_id: p.office_id,
        }),
        None => Err(missing("delivery")),
    }
}

fn status_to_pb(s: OrderStatus) -> pb::OrderStatus {
    match s {
        OrderStatus::Created => pb::OrderStatus::Created,
        OrderStatus::Batched => pb::OrderStatus::Batched,
        OrderStatus::InProduction => pb::OrderStatus::InProduction,
        OrderStatus::Produced => pb::OrderStatus::Produced,
        OrderStatus::Mailed => pb::OrderStatus::Mailed,
        OrderStatus::ReadyForPickup => pb::OrderStatus::ReadyForPickup,
        OrderStatus::Failed => pb::OrderStatus::Failed,
        OrderStatus::Cancelled => pb::OrderStatus::Cancelled,
    }
}

/// The order as gRPC returns it: progress, no card data.
pub fn order_to_pb(o: &Order) -> pb::Order {
    pb::Order {
        id: o.id.clone(),
        renewal_id: o.renewal_id.clone(),
        owner: o.owner.clone(),
        status: status_to_pb(o.status) as i32,
        reason: o.reason.clone().unwrap_or_default(),
        batch_id: o.batch_id.clone().unwrap_or_default(),
        tracking: o.tracking.clone().unwrap_or_default(),
        delivery_kind: o.delivery.kind().to_owned(),
        office_id: match &o.delivery {
            Delivery::Pickup { office_id } => office_id.clone(),
            Delivery::Mail { .. } => String::new(),
        },
        created_at_ms: o.created_at_ms,
        updated_at_ms: o.updated_at_ms,
    }
}

#[async_trait]
impl FulfillmentService for GrpcFulfillment {
    async fn create_order(
        &self,
        req: Request<pb::CreateOrderRequest>,
    ) -> Result<Response<pb::Order>, Status> {
        let caller = self.seal.caller(&req)?;
        let key = idempotency_key(&req)?;
        let r = req.into_inner();
        let card = card_from_pb(r.card.ok_or_else(|| missing("card"))?)?;
        let delivery = delivery_from_pb(r.delivery)?;
        let owner = if r.owner.is_empty() {
            caller.actor()
        } else {
            r.owner
        };
        self.app
            .authorize(&caller, Action::Create, &owner, &card.fields().state)
            .map_err(status)?;
        let order = self
            .app
            .create_order(NewOrder {
                idempotency_key: key,
                renewal_id: r.renewal_id,
                owner,
                card,
                delivery,
            })
            .await
            .map_err(status)?;
        Ok(Response::new(order_to_pb(&order)))
    }

    async fn get_order(
        &self,
        req: Request<pb::GetOrderRequest>,
    ) -> Result<Response<pb::Order>, Status> {
        let caller = self.seal.caller(&req)?;
        let order = self
            .app
            .get_order_for(&caller, Action::Read, &req.get_ref().id)
            .await
            .map_err(status)?;
        Ok(Response::new(order_to_pb(&order)))
    }

    async fn cancel_order(
        &self,
        req: Request<pb::CancelOrderRequest>,
    ) -> Result<Response<pb::Order>, Status> {
        let caller = self.seal.caller(&req)?;
        let r = req.into_inner();
        self.app
            .get_order_for(&caller, Action::Cancel, &r.id)
            .await
            .map_err(status)?;
        let order = self
            .app
            .cancel_order(&r.id, &r.reason)
            .await
            .map_err(status)?;
        Ok(Response::new(order_to_pb(&order)))
    }

    async fn temporary_licence(
        &self,
        req: Request<pb::TemporaryLicenceRequest>,
    ) -> Result<Response<pb::TemporaryLicenceResponse>, Status> {
        let caller = self.seal.caller(&req)?;
        let id = &req.get_ref().id;
        self.app
            .get_order_for(&caller, Action::Print, id)
            .await
            .map_err(status)?;
        let pdf = self.app.temporary_licence(id).await.map_err(status)?;
        Ok(Response::new(pb::TemporaryLicenceResponse { pdf }))
    }

    async fn barcode(
        &self,
        req: Request<pb::BarcodeRequest>,
    ) -> Result<Response<pb::BarcodeResponse>, Status> {
        let caller = self.seal.caller(&req)?;
        let r = req.get_ref();
        let (format, content_type) = match pb::ImageFormat::try_from(r.format) {
            Ok(pb::ImageFormat::Svg) => (ImageFormat::Svg, "image/svg+xml"),
            Ok(pb::ImageFormat::Png | pb::ImageFormat::Unspecified) => {
                (ImageFormat::Png, "image/png")
            }
            Err(_) => return Err(missing("format")),
        };
        self.app
            .get_order_for(&caller, Action::Print, &r.id)
            .await
            .map_err(status)?;
        let image = self.app.barcode(&r.id, format).await.map_err(status)?;
        Ok(Response::new(pb::BarcodeResponse {
            image,
            content_type: content_type.to_owned(),
        }))
    }
}

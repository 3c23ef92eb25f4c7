//! The payments service's gRPC face: decode, take the sealed caller, call
//! the app, map errors.

use plaza_contracts::payments::v1 as pb;
use plaza_contracts::payments::v1::payments_service_server::PaymentsService;
use plaza_kernel::auth::CallerSeal;
use tonic::{Request, Response, Status};

use crate::Error;
use crate::app::{Intent, Payments};
use crate::fees::{FeeInput, FeeLine};

pub struct GrpcPayments {
    app: Payments,
    seal: CallerSeal,
}

impl GrpcPayments {
    pub fn new(app: Payments, seal: CallerSeal) -> GrpcPayments {
        GrpcPayments { app, seal }
    }
}

fn status(e: Error) -> Status {
    plaza_kernel::error::log_and_publicise(&e, e.public()).to_status()
}

fn fee_input(q: Option<pb::QuoteRequest>) -> Result<FeeInput, Status> {
    let q = q.ok_or_else(|| {
        status(Error::Invalid {
            field: "fees",
            reason: "required".into(),
        })
    })?;
    if q.age > 130 {
        return Err(status(Error::Invalid {
            field: "age",
            reason: "0 to 130".into(),
        }));
    }
    Ok(FeeInput {
        licence_class: q.licence_class,
        age: q.age,
        late: q.late,
        real_id: q.real_id,
    })
}

fn lines(l: &[FeeLine]) -> Vec<pb::FeeLine> {
    l.iter()
        .map(|l| pb::FeeLine {
            code: l.code.clone(),
            description: l.description.clone(),
            amount: l.amount,
        })
        .collect()
}

fn intent(i: Intent) -> pb::Intent {
    pb::Intent {
        lines: lines(&i.lines),
        id: i.id,
        reference: i.reference,
        payer: i.payer,
        description: i.description,
        amount: i.amount,
        currency: i.currency,
        status: i.status.as_str().to_owned(),
        charge_id: i.charge_id.unwrap_or_default(),
        decline_code: i.decline_code.unwrap_or_default(),
        refunded: i.refunded,
        paid_at_ms: i.paid_at_ms.unwrap_or_default(),
    }
}

#[tonic::async_trait]
impl PaymentsService for GrpcPayments {
    async fn quote(
        &self,
        req: Request<pb::QuoteRequest>,
    ) -> Result<Response<pb::QuoteResponse>, Status> {
        let caller = self.seal.caller(&req)?;
        let q = self
            .app
            .quote(&caller, &fee_input(Some(req.into_inner()))?)
            .map_err(status)?;
        Ok(Response::new(pb::QuoteResponse {
            lines: lines(&q.lines),
            total: q.total,
            currency: q.currency,
        }))
    }

    async fn create_intent(
        &self,
        req: Request<pb::CreateIntentRequest>,
    ) -> Result<Response<pb::Intent>, Status> {
        let caller = self.seal.caller(&req)?;
        let r = req.into_inner();
        let fees = fee_input(r.fees)?;
        let i = self
            .app
            .create_intent(
                &caller,
                &r.idempotency_key,
                &r.reference,
                &r.description,
                &fees,
            )
            .await
            .map_err(status)?;
        Ok(Response::new(intent(i)))
    }

    async fn get_intent(
        &self,
        req: Request<pb::GetIntentRequest>,
    ) -> Result<Response<pb::Intent>, Status> {
        let caller = self.seal.caller(&req)?;
        let i = self
            .app
            .get(&caller, &req.into_inner().id)
            .await
            .map_err(status)?;
        Ok(Response::new(intent(i)))
    }

    async fn pay(&self, req: Request<pb::PayRequest>) -> Result<Response<pb::Intent>, Status> {
        let caller = self.seal.caller(&req)?;
        let r = req.into_inner();
        let i = self
            .app
            .pay(&caller, &r.intent_id, &r.card_number)
            .await
            .map_err(status)?;
        Ok(Response::new(intent(i)))
    }

    async fn refund(
        &self,
        req: Request<pb::RefundRequest>,
    ) -> Result<Response<pb::RefundResponse>, Status> {
        let caller = self.seal.caller(&req)?;
        let r = req.into_inner();
        let out = self
            .app
            .refund(
                &caller,
                &r.intent_id,
                &r.idempotency_key,
                r.amount,
                &r.reason,
            )
            .await
            .map_err(status)?;
        Ok(Response::new(pb::RefundResponse {
            refund_id: out.refund_id,
            status: out.status,
            amount: out.amount,
            intent: Some(intent(out.intent)),
        }))
    }

    async fn receipt(
        &self,
        req: Request<pb::GetIntentRequest>,
    ) -> Result<Response<pb::ReceiptResponse>, Status> {
        let caller = self.seal.caller(&req)?;
        let r = self
            .app
            .receipt(&caller, &req.into_inner().id)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::ReceiptResponse {
            lines: lines(&r.lines),
            intent_id: r.intent_id,
            transaction_id: r.transaction_id,
            paid_at_ms: r.paid_at_ms,
            reason: r.reason,
            payer: r.payer,
            amount: r.amount,
            currency: r.currency,
            refunded: r.refunded,
        }))
    }

    async fn webhook(
        &self,
        req: Request<pb::WebhookRequest>,
    ) -> Result<Response<pb::WebhookResponse>, Status> {
        // Authenticated by the processor's signature, not by a caller.
        let r = req.into_inner();
        let applied = self
            .app
            .webhook(&r.body, &r.signature)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::WebhookResponse { applied }))
    }

    async fn reconcile(
        &self,
        req: Request<pb::ReconcileRequest>,
    ) -> Result<Response<pb::ReconcileResponse>, Status> {
        let caller = self.seal.caller(&req)?;
        let r = self
            .app
            .reconcile(&caller, &req.into_inner().date)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::ReconcileResponse {
            date: r.date,
            matched: r.matched,
            ledger_total: r.ledger_total,
            processor_total: r.processor_total,
            differences: r
                .differences
                .into_iter()
                .map(|d| pb::Difference {
                    kind: d.kind,
                    processor_id: d.processor_id,
                    reference: d.reference,
                    ledger_amount: d.ledger_amount,
                    processor_amount: d.processor_amount,
                })
                .collect(),
        }))
    }
}

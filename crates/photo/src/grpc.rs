//! Thin gRPC handlers: decode, authorise and call the app, map errors.

use plaza_contracts::photo::v1 as pb;
use plaza_contracts::photo::v1::photo_service_server::{PhotoService, PhotoServiceServer};
use plaza_kernel::auth::CallerSeal;
use tonic::{Request, Response, Status};

use crate::checks::{Check, Report};
use crate::{Error, Photos};

/// The gRPC face of [`Photos`]. The caller comes sealed from the gateway (or
/// the service acting for them); the app decides.
#[derive(Clone)]
pub struct GrpcPhotos {
    app: Photos,
    seal: CallerSeal,
}

impl GrpcPhotos {
    pub fn new(app: Photos, seal: CallerSeal) -> GrpcPhotos {
        GrpcPhotos { app, seal }
    }

    /// The service, accepting messages as large as the photo byte limit
    /// allows (tonic's default of 4 MiB would refuse them first).
    pub fn server(app: Photos, seal: CallerSeal) -> PhotoServiceServer<GrpcPhotos> {
        let max = app.config().max_message_bytes();
        PhotoServiceServer::new(GrpcPhotos::new(app, seal))
            .max_decoding_message_size(max)
            .max_encoding_message_size(max)
    }
}

fn status(e: Error) -> Status {
    e.to_status()
}

fn check_pb(c: &Check) -> pb::Check {
    pb::Check {
        name: c.name.to_owned(),
        passed: c.passed,
        measured: c.measured,
        value: c.value,
        min: c.min,
        max: c.max,
        unit: c.unit.to_owned(),
        reason: c.reason.unwrap_or_default().to_owned(),
        advice: c.advice.unwrap_or_default().to_owned(),
    }
}

/// The report as the contract has it.
pub fn report_pb(r: &Report) -> pb::Report {
    pb::Report {
        accepted: r.accepted,
        width: r.width,
        height: r.height,
        checks: r.checks.iter().map(check_pb).collect(),
    }
}

#[tonic::async_trait]
impl PhotoService for GrpcPhotos {
    async fn check(
        &self,
        req: Request<pb::CheckRequest>,
    ) -> Result<Response<pb::CheckResponse>, Status> {
        let caller = self.seal.caller(&req)?;
        let r = req.into_inner();
        let report = self
            .app
            .check_as(&caller, r.image, Some(&r.content_type))
            .await
            .map_err(status)?;
        Ok(Response::new(pb::CheckResponse {
            report: Some(report_pb(&report)),
        }))
    }

    async fn submit(
        &self,
        req: Request<pb::SubmitRequest>,
    ) -> Result<Response<pb::SubmitResponse>, Status> {
        let caller = self.seal.caller(&req)?;
        let r = req.into_inner();
        let done = self
            .app
            .submit_as(&caller, r.image, Some(&r.content_type))
            .await
            .map_err(status)?;
        Ok(Response::new(pb::SubmitResponse {
            report: Some(report_pb(&done.report)),
            photo_id: done.photo_id.unwrap_or_default(),
        }))
    }

    async fn get(&self, req: Request<pb::GetRequest>) -> Result<Response<pb::GetResponse>, Status> {
        let caller = self.seal.caller(&req)?;
        if req.get_ref().without_image {
            let (width, height) = self
                .app
                .dimensions_as(&caller, &req.get_ref().photo_id)
                .await
                .map_err(status)?;
            return Ok(Response::new(pb::GetResponse {
                jpeg: Vec::new(),
                width,
                height,
            }));
        }
        let photo = self
            .app
            .get_as(&caller, &req.get_ref().photo_id)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::GetResponse {
            jpeg: photo.jpeg,
            width: photo.width,
            height: photo.height,
        }))
    }
}

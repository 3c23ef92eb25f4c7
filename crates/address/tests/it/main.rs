//! The address service: parser properties and accuracy, imports and
//! validation against real storage (SQLite always, PostgreSQL when
//! `.ci/run` provides it), and the gRPC service on a port-0 server.

mod grpc;
mod parsing;
mod reference;

use plaza_address::{Address, generate};
use plaza_kernel::auth::{Caller, Role};

/// The first `n` addresses of a generated set, with their counties.
pub fn sample(n: u64, seed: u64) -> Vec<(Address, String)> {
    let mut out = Vec::new();
    generate::for_each(n, seed, |a, county| {
        out.push((a.clone(), county.to_owned()))
    });
    out
}

pub fn csv(n: u64, seed: u64) -> Vec<u8> {
    let mut out = Vec::new();
    generate::write_csv(n, seed, &mut out, &|_| {}).unwrap();
    out
}

pub fn admin() -> Caller {
    Caller {
        subject: "admin-1".into(),
        issuer: "http://plaza.test/oidc".into(),
        roles: vec![Role::Admin],
        jurisdiction: None,
    }
}

pub fn citizen() -> Caller {
    Caller {
        subject: "citizen-1".into(),
        issuer: "http://plaza.test/oidc".into(),
        roles: vec![Role::Citizen],
        jurisdiction: None,
    }
}

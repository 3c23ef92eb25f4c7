//! Authorisation decisions, on one core: what every service's app layer
//! pays before it does anything. Three callers a renewal's payment meets:
//! the citizen reading and paying their own intent (allowed), a clerk of
//! another county updating an office (refused), and the renewal service
//! reading the intent in its saga (allowed).
//!
//! ```text
//! cargo bench -p plaza-policy --bench decide -- --decisions 200000
//! ```

use std::hint::black_box;
use std::time::Instant;

use plaza_kernel::auth::{Caller, Role};
use plaza_policy::{Policies, Resource};

fn main() {
    let mut n: usize = 200_000;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--decisions" {
            n = args
                .next()
                .and_then(|v| v.parse().ok())
                .expect("--decisions N");
        }
    }
    let policies = Policies::shipped();
    let citizen = Caller {
        subject: "user-17".into(),
        issuer: "https://id.plaza.example/oidc".into(),
        roles: vec![Role::Citizen],
        jurisdiction: None,
    };
    let owner = citizen.actor();
    let clerk = Caller {
        subject: "user-18".into(),
        issuer: "https://id.plaza.example/oidc".into(),
        roles: vec![Role::Clerk],
        jurisdiction: Some("PA/Dauphin".into()),
    };
    let service = Caller::service("renewal");
    let cases: [(&str, &Caller, &str, bool); 3] = [
        ("citizen pays own intent", &citizen, "payments.pay", true),
        ("clerk, other county", &clerk, "offices.update", false),
        (
            "service reads intent",
            &service,
            "payments.intent.read",
            true,
        ),
    ];
    println!("{n} decisions per case, one core");
    for (name, caller, action, expect) in cases {
        let mut allowed = 0usize;
        let started = Instant::now();
        for i in 0..n {
            let id = format!("pi-{i}");
            let resource = Resource::new("PaymentIntent", &id)
                .owned_by(&owner)
                .in_jurisdiction("PA", Some("Cumberland"));
            allowed += usize::from(black_box(policies.is_permitted(
                caller,
                action,
                &resource,
                &[],
            )));
        }
        let took = started.elapsed();
        assert_eq!(allowed, if expect { n } else { 0 }, "{name}: wrong answers");
        println!(
            "{name:28} {:6.2} µs per decision ({:.0}/s)",
            took.as_secs_f64() * 1e6 / n as f64,
            n as f64 / took.as_secs_f64()
        );
    }
}

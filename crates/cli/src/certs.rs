//! `plaza certs init`: a development certificate authority and a
//! certificate per service (and per process, for processes hosting several
//! services) for mutual TLS between services. For production an agency
//! issues the same shape of certificates from its own CA: each names the
//! services its process hosts as `<service>.plaza.internal`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

fn validity(params: &mut CertificateParams, years: i32) {
    let now = plaza_kernel::clock::rfc3339(plaza_kernel::clock::now_ms());
    let year: i32 = now[..4].parse().unwrap_or(2026);
    params.not_before = rcgen::date_time_ymd(year - 1, 1, 1);
    params.not_after = rcgen::date_time_ymd(year + years, 1, 1);
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    plaza_kernel::files::write_private(path, text)
        .with_context(|| format!("writing {}", path.display()))
}

/// `plaza certs init --dir DIR [--process NAME=svc,svc ...]`.
pub fn init(dir: &Path, services: &[&str], processes: &[String]) -> anyhow::Result<ExitCode> {
    if dir.join("ca.pem").exists() {
        bail!(
            "{} already holds a CA; remove the folder to start over, or keep using it",
            dir.display()
        );
    }
    let mut groups: Vec<(String, Vec<String>)> = services
        .iter()
        .map(|s| (s.to_string(), vec![s.to_string()]))
        .collect();
    groups.push((
        "all".into(),
        services.iter().map(|s| s.to_string()).collect(),
    ));
    for p in processes {
        let (name, list) = p
            .split_once('=')
            .with_context(|| format!("--process {p:?}: write NAME=service,service"))?;
        let list: Vec<String> = list.split(',').map(|s| s.trim().to_owned()).collect();
        if let Some(bad) = list.iter().find(|s| !services.contains(&s.as_str())) {
            bail!(
                "--process {name}: `{bad}` is not a Plaza service (known: {})",
                services.join(", ")
            );
        }
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            bail!("--process {p:?}: the name must be letters, digits and -");
        }
        groups.push((name.to_owned(), list));
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;

    let mut ca_params = CertificateParams::default();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Plaza development CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    validity(&mut ca_params, 5);
    let ca_key = KeyPair::generate().context("generating the CA key")?;
    let ca_key_pem = ca_key.serialize_pem();
    let ca = CertifiedIssuer::self_signed(ca_params, ca_key).context("signing the CA")?;
    write(&dir.join("ca.pem"), &ca.pem())?;
    write(&dir.join("ca-key.pem"), &ca_key_pem)?;

    for (name, list) in &groups {
        let names: Vec<String> = list
            .iter()
            .map(|s| plaza_kernel::mtls::service_name(s))
            .collect();
        let mut params = CertificateParams::new(names).context("certificate names")?;
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        validity(&mut params, 1);
        let key = KeyPair::generate().context("generating a key")?;
        let cert = params
            .signed_by(&key, &ca)
            .with_context(|| format!("signing the certificate of {name}"))?;
        write(&dir.join(format!("{name}.pem")), &cert.pem())?;
        write(&dir.join(format!("{name}-key.pem")), &key.serialize_pem())?;
        println!(
            "{name}: {} ({})",
            dir.join(format!("{name}.pem")).display(),
            list.join(", ")
        );
    }
    println!(
        "CA: {} (its key, ca-key.pem, signs nothing else: keep it offline)",
        dir.join("ca.pem").display()
    );
    println!(
        "give each process tls.ca_file = ca.pem and its own tls.cert_file / tls.key_file \
         (a process hosting several services uses the certificate naming all of them)"
    );
    Ok(ExitCode::SUCCESS)
}

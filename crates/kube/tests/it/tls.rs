//! HTTPS to the fake API server with a CA made by rcgen: the server's
//! certificate is checked against `certificate-authority-data` or a
//! `certificate-authority` file, and a server signed by another CA is
//! refused before any token is sent.

use std::time::Duration;

use seawall_kube::testing::{FakeApiServer, TOKEN};
use seawall_kube::{Credentials, KubeClient, KubeError};

use crate::common::write;

/// A CA's PEM, and a certificate for 127.0.0.1 it signed with its key.
fn pki() -> (String, String, String) {
    let ca_key = rcgen::KeyPair::generate().expect("CA key");
    let mut ca = rcgen::CertificateParams::new(Vec::new()).expect("CA params");
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "kube test CA");
    let ca_cert = ca.self_signed(&ca_key).expect("CA certificate");
    let issuer = rcgen::Issuer::new(ca, &ca_key);
    let key = rcgen::KeyPair::generate().expect("server key");
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .expect("server params")
        .signed_by(&key, &issuer)
        .expect("server certificate");
    (ca_cert.pem(), cert.pem(), key.serialize_pem())
}

#[tokio::test]
async fn scale_over_https_checked_against_the_kubeconfig_ca() {
    let (ca, cert, key) = pki();
    let fake = FakeApiServer::start_tls(&cert, &key)
        .await
        .expect("TLS fake");
    fake.add_deployment("shop", "web", 1);
    assert!(fake.url().starts_with("https://127.0.0.1:"));
    let dir = tempfile::tempdir().expect("tempdir");

    // certificate-authority-data
    let config = write(&dir, "config", &fake.kubeconfig(TOKEN, Some(&ca)));
    let credentials = Credentials::from_kubeconfig(&config, None).expect("credentials");
    let client = KubeClient::new(&credentials).expect("client");
    let outcome = client
        .scale(
            "shop",
            "web",
            3,
            Duration::from_secs(30),
            Duration::from_millis(20),
        )
        .await
        .expect("scaled over https");
    assert!(outcome.converged, "{outcome:?}");

    // certificate-authority (a file next to the kubeconfig)
    write(&dir, "ca.pem", &ca);
    let with_file = fake.kubeconfig(TOKEN, None).replace(
        &format!("server: {}", fake.url()),
        &format!("server: {}\n    certificate-authority: ca.pem", fake.url()),
    );
    let config = write(&dir, "config-file", &with_file);
    let credentials = Credentials::from_kubeconfig(&config, None).expect("credentials");
    let client = KubeClient::new(&credentials).expect("client");
    assert_eq!(
        client
            .get_scale("shop", "web")
            .await
            .expect("read")
            .spec
            .replicas,
        3
    );
}

#[tokio::test]
async fn a_server_signed_by_another_ca_is_refused_before_the_token_is_sent() {
    let (_ca, cert, key) = pki();
    let (other_ca, _, _) = pki();
    let fake = FakeApiServer::start_tls(&cert, &key)
        .await
        .expect("TLS fake");
    fake.add_deployment("shop", "web", 1);
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write(&dir, "config", &fake.kubeconfig(TOKEN, Some(&other_ca)));
    let credentials = Credentials::from_kubeconfig(&config, None).expect("credentials");
    let client = KubeClient::new(&credentials).expect("client");
    let err = client
        .get_scale("shop", "web")
        .await
        .expect_err("untrusted");
    assert!(
        matches!(
            err,
            KubeError::Transport(seawall_api::ClientError::Tls { .. })
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("handshake failed"), "{err}");
    assert!(fake.requests().is_empty(), "no request went through");
}

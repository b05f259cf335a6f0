//! Names that are not DNS-1123 labels or subdomains are refused before any
//! request: no path injection through a plan's namespace or deployment.

use std::time::Duration;

use seawall_kube::KubeError;

use crate::common::setup;

#[tokio::test]
async fn bad_names_never_reach_the_server() {
    let s = setup(1).await;
    let cases = [
        ("shop", "../x"),
        ("shop", "a/b"),
        ("shop", "Web"),
        ("shop", "web%2F..%2Fsecrets"),
        ("shop", "web?x=1"),
        ("shop", ""),
        ("../kube-system", "web"),
        ("Shop", "web"),
        ("shop.eu", "web"),
        ("shop", "web/../../secrets/x"),
    ];
    for (namespace, deployment) in cases {
        let scaled = s
            .client
            .scale(
                namespace,
                deployment,
                2,
                Duration::from_secs(1),
                Duration::from_millis(10),
            )
            .await;
        let read = s.client.get_scale(namespace, deployment).await;
        let patched = s.client.set_replicas(namespace, deployment, 2, None).await;
        for result in [scaled.map(|_| ()), read.map(|_| ()), patched.map(|_| ())] {
            let err = result.expect_err("refused");
            assert!(
                matches!(err, KubeError::Name(_)),
                "{namespace}/{deployment}: {err:?}"
            );
            assert!(
                err.to_string().contains("not a valid Kubernetes name"),
                "{err}"
            );
        }
    }
    assert!(s.fake.requests().is_empty(), "{:#?}", s.fake.requests());
}

#[tokio::test]
async fn dotted_deployment_names_are_subdomains() {
    let s = setup(1).await;
    s.fake.add_deployment("shop", "web.v2", 1);
    let scale = s
        .client
        .get_scale("shop", "web.v2")
        .await
        .expect("a subdomain");
    assert_eq!(scale.spec.replicas, 1);
    assert_eq!(
        s.fake.requests()[0].path,
        "/apis/apps/v1/namespaces/shop/deployments/web.v2/scale"
    );
}

proptest::proptest! {
    /// Whatever a plan says, a name either is refused or stays one path
    /// segment, unchanged: the request goes to a deployment's scale and
    /// nowhere else.
    #[test]
    fn an_accepted_name_is_one_plain_segment(
        namespace in "([a-z0-9-]{1,12}|[a-z0-9./%?#A-Z_-]{0,70})",
        deployment in "([a-z0-9.-]{1,20}|[a-z0-9./%?#A-Z_-]{0,20}|\\PC{0,20})",
    ) {
        if let Ok(path) = seawall_kube::name::scale_path(&namespace, &deployment) {
            let segments: Vec<&str> = path.split('/').collect();
            proptest::prop_assert_eq!(
                segments,
                vec!["", "apis", "apps", "v1", "namespaces", namespace.as_str(),
                     "deployments", deployment.as_str(), "scale"]
            );
            for name in [&namespace, &deployment] {
                proptest::prop_assert!(name.len() <= 253);
                proptest::prop_assert!(name.bytes().all(|b| b.is_ascii_lowercase()
                    || b.is_ascii_digit() || b == b'-' || b == b'.'));
                proptest::prop_assert!(!name.split('.').any(|label| label.is_empty()
                    || label.starts_with('-') || label.ends_with('-')));
            }
            proptest::prop_assert!(!namespace.contains('.'));
        }
    }
}

//! The fake API server's own checks, probed with raw requests: it answers
//! as the real API server does when a client gets something wrong.

use bytes::Bytes;
use http::{Method, header};
use seawall_api::Client;
use seawall_kube::Status;
use seawall_kube::testing::{FakeApiServer, TOKEN};

const PATH: &str = "/apis/apps/v1/namespaces/shop/deployments/web/scale";

async fn fake() -> (FakeApiServer, Client) {
    let fake = FakeApiServer::start().await.expect("fake");
    fake.add_deployment("shop", "web", 2);
    let client = Client::new(&fake.url()).expect("client");
    (fake, client)
}

async fn ask(
    client: &Client,
    method: Method,
    path: &str,
    token: Option<&str>,
    content_type: Option<&str>,
    body: &str,
) -> (u16, Status) {
    let mut headers = Vec::new();
    if let Some(token) = token {
        headers.push((header::AUTHORIZATION, format!("Bearer {token}")));
    }
    if let Some(content_type) = content_type {
        headers.push((header::CONTENT_TYPE, content_type.to_owned()));
    }
    let answer = client
        .send_raw(method, path, &headers, Bytes::from(body.to_owned()))
        .await
        .expect("an answer");
    let status: Status = serde_json::from_slice(&answer.body).unwrap_or_default();
    (answer.status.as_u16(), status)
}

/// `PATCH` of the scale with the good token.
async fn patch(client: &Client, content_type: Option<&str>, body: &str) -> (u16, Status) {
    ask(client, Method::PATCH, PATH, Some(TOKEN), content_type, body).await
}

/// The answer is a `Status` failure with this code and reason.
fn is_status(answer: &(u16, Status), code: u16, reason: &str) {
    let (status_code, status) = answer;
    assert_eq!(*status_code, code, "{status:?}");
    assert_eq!(status.kind, "Status", "{status:?}");
    assert_eq!(status.status, "Failure", "{status:?}");
    assert_eq!(
        (status.code, status.reason.as_str()),
        (code, reason),
        "{status:?}"
    );
}

#[tokio::test]
async fn the_fake_answers_bad_requests_as_the_api_server_does() {
    let (fake, client) = fake().await;
    let merge = Some("application/merge-patch+json");
    let good = r#"{"spec":{"replicas":3}}"#;

    is_status(
        &ask(&client, Method::GET, PATH, None, None, "").await,
        401,
        "Unauthorized",
    );
    let wrong_token = ask(&client, Method::GET, PATH, Some("wrong"), None, "").await;
    is_status(&wrong_token, 401, "Unauthorized");

    let secrets = "/api/v1/namespaces/shop/secrets";
    let other = ask(&client, Method::GET, secrets, Some(TOKEN), None, "").await;
    is_status(&other, 404, "NotFound");
    assert_eq!(
        other.1.message,
        "the server could not find the requested resource"
    );

    let delete = ask(&client, Method::DELETE, PATH, Some(TOKEN), None, "").await;
    is_status(&delete, 405, "MethodNotAllowed");

    for wrong in [
        None,
        Some("application/json"),
        Some("application/json-patch+json"),
    ] {
        is_status(
            &patch(&client, wrong, good).await,
            415,
            "UnsupportedMediaType",
        );
    }

    let negative = patch(&client, merge, r#"{"spec":{"replicas":-1}}"#).await;
    is_status(&negative, 422, "Invalid");
    assert!(
        negative
            .1
            .message
            .contains("must be greater than or equal to 0"),
        "{negative:?}"
    );

    for bad in [
        "not json",
        r#"{"spec":{"replicas":"3"}}"#,
        r#"{"spec":{}}"#,
        r#"{"spec":{"replicas":3},"status":{"replicas":3}}"#,
    ] {
        is_status(&patch(&client, merge, bad).await, 400, "BadRequest");
    }

    let stale = r#"{"metadata":{"resourceVersion":"999"},"spec":{"replicas":3}}"#;
    let conflict = patch(&client, merge, stale).await;
    is_status(&conflict, 409, "Conflict");
    assert!(
        conflict.1.message.contains("the object has been modified"),
        "{conflict:?}"
    );

    assert_eq!(
        fake.deployment("shop", "web").expect("there").spec,
        2,
        "nothing changed"
    );
    let with_charset = Some("application/merge-patch+json; charset=utf-8");
    assert_eq!(patch(&client, with_charset, good).await.0, 200);
    assert_eq!(fake.deployment("shop", "web").expect("there").spec, 3);
    let recorded = fake.requests();
    assert_eq!(recorded.last().map(|r| r.status), Some(200));
    assert_eq!(recorded.first().map(|r| r.status), Some(401));
}

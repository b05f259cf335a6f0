//! Channels from a plan: secrets come from the environment or files, an
//! error names the variable or file, and a secret in clear is refused.

use std::collections::HashMap;

use seawall_notify::{Channel, ChannelError, Provider, SecretError};
use seawall_plan::model::Channel as PlanChannel;

fn plan_channel(kind: &str, webhook: &str, secret_env: Option<&str>) -> PlanChannel {
    PlanChannel {
        id: "war-room".to_owned(),
        kind: kind.to_owned(),
        webhook: Some(webhook.to_owned()),
        secret_env: secret_env.map(str::to_owned),
        ..PlanChannel::default()
    }
}

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| map.get(name).cloned()
}

#[test]
fn secret_env_and_webhook_references_resolve() {
    let lookup = env(&[
        ("SEAWALL_LARK_SECRET", "s3cret"),
        (
            "SEAWALL_WECOM_URL",
            "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=K",
        ),
    ]);
    let lark = plan_channel(
        "lark",
        "https://open.feishu.cn/open-apis/bot/v2/hook/x",
        Some("SEAWALL_LARK_SECRET"),
    );
    let ch = Channel::from_plan(&lark, &lookup).expect("lark channel");
    assert_eq!(ch.provider, Provider::Lark);
    assert_eq!(ch.secret.as_ref().map(|s| s.expose()), Some("s3cret"));
    assert_eq!(ch.redacted_url(), "https://open.feishu.cn/…");
    // Debug of the channel shows neither the secret nor the URL.
    let debug = format!("{ch:?}");
    assert!(
        !debug.contains("s3cret") && !debug.contains("hook/x"),
        "{debug}"
    );

    let wecom = plan_channel("wecom", "$SEAWALL_WECOM_URL", None);
    let ch = Channel::from_plan(&wecom, &lookup).expect("wecom channel");
    assert!(ch.url.expose().ends_with("key=K"));
}

#[test]
fn secret_file_is_read_without_its_newline() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("dingtalk");
    std::fs::write(&path, "SECabc\n").expect("write");
    let reference = format!("file:{}", path.display());
    let ding = plan_channel(
        "dingtalk",
        "https://oapi.dingtalk.com/robot/send?access_token=T",
        Some(&reference),
    );
    let ch = Channel::from_plan(&ding, &env(&[])).expect("dingtalk channel");
    assert_eq!(ch.secret.as_ref().map(|s| s.expose()), Some("SECabc"));

    let missing = format!("file:{}", dir.path().join("absent").display());
    let ding = plan_channel(
        "dingtalk",
        "https://oapi.dingtalk.com/robot/send?access_token=T",
        Some(&missing),
    );
    let err = Channel::from_plan(&ding, &env(&[])).expect_err("no file");
    assert!(err.to_string().contains("absent"), "{err}");
}

#[test]
fn missing_variable_is_named_and_clear_secrets_are_refused() {
    let lark = plan_channel(
        "lark",
        "https://open.feishu.cn/x",
        Some("SEAWALL_LARK_SECRET"),
    );
    let err = Channel::from_plan(&lark, &env(&[])).expect_err("unset");
    assert_eq!(
        err,
        ChannelError::Secret(SecretError::MissingEnv {
            what: "channel war-room secret".into(),
            name: "SEAWALL_LARK_SECRET".into()
        })
    );
    assert_eq!(
        err.to_string(),
        "channel war-room secret: environment variable SEAWALL_LARK_SECRET is not set"
    );

    let clear = plan_channel("lark", "https://open.feishu.cn/x", Some("gX9kq2LmSecret"));
    let err = Channel::from_plan(&clear, &env(&[])).expect_err("clear");
    assert!(!err.to_string().contains("gX9kq2LmSecret"), "{err}");
    assert!(matches!(
        err,
        ChannelError::Secret(SecretError::NotAReference { .. })
    ));

    let empty = plan_channel("lark", "https://open.feishu.cn/x", Some("$EMPTY"));
    let err = Channel::from_plan(&empty, &env(&[("EMPTY", "")])).expect_err("empty");
    assert!(
        matches!(err, ChannelError::Secret(SecretError::Empty { .. })),
        "{err}"
    );

    let unsigned = plan_channel("webhook", "https://hooks.example/x", None);
    assert_eq!(
        Channel::from_plan(&unsigned, &env(&[])).expect_err("unsigned"),
        ChannelError::NoSecret {
            id: "war-room".into()
        }
    );
    let teams = plan_channel("teams", "https://x", None);
    assert!(matches!(
        Channel::from_plan(&teams, &env(&[])),
        Err(ChannelError::UnknownKind { .. })
    ));
    let ftp = plan_channel("wecom", "$FTP_URL", None);
    assert_eq!(
        Channel::from_plan(&ftp, &env(&[("FTP_URL", "ftp://x")])).expect_err("ftp"),
        ChannelError::BadUrl {
            id: "war-room".into()
        }
    );
}

#[test]
fn the_carnival_plans_channels_build_from_its_env_references() {
    let src = include_str!("../../../../examples/carnival/plan.yaml");
    let plan = seawall_plan::parse(src, "plan.yaml").expect("the carnival plan parses");
    let lookup = env(&[
        ("SEAWALL_LARK_SECRET", "lark-secret"),
        ("SEAWALL_DINGTALK_SECRET", "SECding"),
    ]);
    let channels: Vec<Channel> = plan
        .oncall
        .channels
        .iter()
        .map(|c| Channel::from_plan(c, &lookup))
        .collect::<Result<_, _>>()
        .expect("every channel builds");
    let kinds: Vec<(&str, Provider, bool)> = channels
        .iter()
        .map(|c| (c.id.as_str(), c.provider, c.secret.is_some()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("war-room", Provider::Lark, true),
            ("sre", Provider::DingTalk, true),
            ("customer-service", Provider::WeCom, false),
        ]
    );
    // Without the environment, the first channel that needs it says which
    // variable is missing.
    let err = Channel::from_plan(&plan.oncall.channels[0], &env(&[])).expect_err("unset");
    assert!(err.to_string().contains("SEAWALL_LARK_SECRET"), "{err}");
}

//! The executors of emergency actions: what each action changes through
//! the control plane's real interfaces — guard rule versions
//! (`rate_limit`, `degrade`, `fallback`), seawall-notify (`notify`, a
//! signed `webhook`), GETs (`cache_warmup`) and seawall-kube (`scale`) —
//! what it captures before and after, and how rollback restores it. A dry
//! run computes the effect and changes nothing. The run's rules (which
//! action may run, in which order) are the parent module's and
//! `seawall-respond`'s; nothing here imports them.

use seawall_guard::RuleSet;
use seawall_guard::rules::{Grade, OriginMatch};
use seawall_plan::Plan;
use seawall_plan::model::Action;
use seawall_respond::run::{Outcome, Step, StepStatus};
use seawall_store::{NewRuleVersion, RuleSource, StoreError};
use serde_json::{Value, json};

use crate::service::rules;
use crate::state::AppState;

/// The actor recorded for what the driver and the executors do.
pub(super) const DRIVER: &str = "emergency-runner";

/// The snake-case name serde writes for one of the run's enums.
pub(super) fn name(v: &impl serde::Serialize) -> String {
    match serde_json::to_value(v) {
        Ok(Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

/// One action's executor context. A dry run computes the effect (the
/// before and after it would write) and changes nothing.
pub(super) struct Exec<'a> {
    pub(super) state: &'a AppState,
    pub(super) plan: &'a Plan,
    pub(super) note: &'a str,
    pub(super) dry_run: bool,
}

impl Exec<'_> {
    pub(super) async fn perform(&self, action: &Action) -> Outcome {
        let done = match action {
            Action::RateLimit { entry, qps } => self.rate_limit(entry, *qps).await,
            Action::Degrade { service, switch } => self.degrade(service, switch).await,
            Action::Fallback { target } => self.fallback(target).await,
            Action::Notify { channel, message } => self.notify(channel, message.as_deref()).await,
            Action::Scale { service, instances } => self.scale(service, *instances).await,
            Action::CacheWarmup { urls, rate, .. } => self.cache_warmup(urls, *rate).await,
            Action::Webhook {
                url,
                method,
                body,
                secret_env,
                timeout_seconds,
                retries,
            } => {
                let call = WebhookCall {
                    url,
                    method,
                    body: body.as_deref(),
                    secret_env: secret_env.as_deref(),
                    timeout_seconds: *timeout_seconds,
                    retries: *retries,
                };
                self.webhook(&call).await
            }
        };
        match done {
            Ok((before, after)) => Outcome::Done {
                before: Some(before),
                after: Some(after),
            },
            Err(error) => Outcome::Failed { error },
        }
    }

    pub(super) async fn undo(&self, action: &Action, step: &Step) -> Result<(), String> {
        let Some(before) = step.before.as_ref().filter(|_| {
            matches!(
                step.status,
                StepStatus::Succeeded | StepStatus::Undoing | StepStatus::UndoUnknown
            )
        }) else {
            return Err(format!(
                "nothing was captured for this action (it is {}): check `{}` by hand",
                name(&step.status),
                step.target.as_deref().unwrap_or("?")
            ));
        };
        match action {
            Action::RateLimit { .. } => {
                let service = text(before, "service")?;
                let rule = text(before, "rule")?;
                let qps = before.get("qps").and_then(Value::as_f64);
                self.change(&service, |rules| set_flow(rules, &rule, qps))
                    .await
                    .map(|_| ())
            }
            Action::Degrade { .. } | Action::Fallback { .. } => {
                let list = before
                    .get("switches")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                for s in list.iter().rev() {
                    let service = text(s, "service")?;
                    let switch = text(s, "switch")?;
                    let on = s.get("on").and_then(Value::as_bool);
                    self.change(&service, |rules| set_switch(rules, &switch, on))
                        .await?;
                }
                Ok(())
            }
            Action::Scale { service, .. } => {
                let replicas = before
                    .get("replicas")
                    .and_then(Value::as_i64)
                    .and_then(|r| u32::try_from(r).ok())
                    .ok_or("the captured state has no `replicas`")?;
                self.scale(service, replicas).await.map(|_| ())
            }
            other => Err(format!("`{}` cannot be undone", other.kind())),
        }
    }

    /// The latest rules of `service` changed by `edit`, stored as a new
    /// version unless this is a dry run: (version before, version after —
    /// `None` for a dry run).
    async fn change(
        &self,
        service: &str,
        edit: impl FnOnce(&mut RuleSet) -> Result<(), String>,
    ) -> Result<(i64, Option<i64>), String> {
        let change = RuleChange {
            actor: DRIVER,
            note: self.note,
            dry_run: self.dry_run,
        };
        change_rules(self.state, &change, service, edit).await
    }

    async fn rate_limit(&self, entry: &str, qps: f64) -> Result<(Value, Value), String> {
        let service = self
            .plan
            .entries
            .get(entry)
            .map(|e| e.service.clone())
            .ok_or_else(|| format!("`{entry}` is not an entry of the plan"))?;
        if !(qps.is_finite() && qps >= 0.0) {
            return Err(format!("qps {qps} is not a limit (give a number ≥ 0)"));
        }
        let mut found: Option<(String, Option<f64>)> = None;
        let (was, now) = self
            .change(&service, |rules| {
                let r = rules
                    .resources
                    .iter_mut()
                    .find(|r| r.name == entry)
                    .ok_or_else(|| format!("no resource `{entry}`"))?;
                let flow = r.flow.iter_mut().find(|f| {
                    f.grade == Grade::Qps && f.origin == OriginMatch::Default && !f.per_origin
                });
                match flow {
                    Some(f) => {
                        found = Some((f.id.clone(), Some(f.count)));
                        f.count = qps;
                    }
                    None => {
                        let id = format!("{entry}.emergency-qps");
                        let rule = serde_json::from_value(json!({"id": id, "count": qps}))
                            .map_err(|e| format!("a flow rule: {e}"))?;
                        r.flow.push(rule);
                        found = Some((id, None));
                    }
                }
                Ok(())
            })
            .await?;
        let (rule, old) = found.unwrap_or_default();
        Ok((
            json!({"service": service, "version": was, "rule": rule, "qps": old}),
            json!({"service": service, "version": now, "rule": rule, "qps": qps}),
        ))
    }

    async fn degrade(&self, service: &str, switch: &str) -> Result<(Value, Value), String> {
        if !self.plan.services.contains_key(service) {
            return Err(format!("`{service}` is not a service of the plan"));
        }
        let mut id = String::new();
        let mut old = None;
        let (was, now) = self
            .change(service, |rules| {
                let mut names = Vec::new();
                for r in &mut rules.resources {
                    for s in &mut r.switches {
                        if s.id == switch
                            || s.id == format!("{switch}.degrade")
                            || (r.name == switch && id.is_empty())
                        {
                            id = s.id.clone();
                            old = Some(s.on);
                            s.on = true;
                            return Ok(());
                        }
                        names.push(s.id.clone());
                    }
                }
                Err(format!(
                    "no switch `{switch}` (switches: {})",
                    if names.is_empty() {
                        "none".to_owned()
                    } else {
                        names.join(", ")
                    }
                ))
            })
            .await?;
        let one = |version: Option<i64>, on: Option<bool>| json!({"switches": [{"service": service, "version": version, "switch": id, "on": on}]});
        Ok((one(Some(was), old), one(now, Some(true))))
    }

    async fn fallback(&self, target: &str) -> Result<(Value, Value), String> {
        let callers: Vec<String> = self
            .plan
            .services
            .iter()
            .filter(|(_, s)| s.dependencies.iter().any(|d| d.to == target))
            .map(|(id, _)| id.clone())
            .collect();
        if callers.is_empty() {
            return Err(format!("no service of the plan depends on `{target}`"));
        }
        let (mut before, mut after) = (Vec::new(), Vec::new());
        for caller in callers {
            let resource = format!("{caller}->{target}");
            let mut id = String::new();
            let mut old = None;
            let done = self
                .change(&caller, |rules| {
                    let r = match rules.resources.iter_mut().position(|r| r.name == resource) {
                        Some(i) => rules.resources.get_mut(i),
                        None => {
                            let r = serde_json::from_value(json!({"name": resource}))
                                .map_err(|e| format!("a resource: {e}"))?;
                            rules.resources.push(r);
                            rules.resources.last_mut()
                        }
                    }
                    .ok_or("no resource")?;
                    if let Some(s) = r.switches.iter_mut().find(|s| s.id.ends_with(".degrade")) {
                        id = s.id.clone();
                        old = Some(s.on);
                        s.on = true;
                    } else {
                        id = format!("{resource}.fallback");
                        let s = serde_json::from_value(json!({"id": id, "on": true}))
                            .map_err(|e| format!("a switch: {e}"))?;
                        r.switches.push(s);
                    }
                    Ok(())
                })
                .await;
            let (was, now) = match done {
                Ok(v) => v,
                Err(e) => {
                    // Undo what this action changed for earlier callers.
                    if !self.dry_run {
                        let partial = json!({"switches": before});
                        let step = Step {
                            kind: "fallback".into(),
                            target: Some(target.to_owned()),
                            status: StepStatus::Succeeded,
                            started_ms: None,
                            ended_ms: None,
                            before: Some(partial),
                            after: None,
                            error: None,
                            reversible: true,
                        };
                        let action = Action::Fallback {
                            target: target.to_owned(),
                        };
                        if let Err(u) = self.undo(&action, &step).await {
                            return Err(format!(
                                "{e}; undoing the callers done so far failed: {u}"
                            ));
                        }
                    }
                    return Err(e);
                }
            };
            before.push(json!({"service": caller, "version": was, "switch": id, "on": old}));
            after.push(json!({"service": caller, "version": now, "switch": id, "on": true}));
        }
        Ok((json!({"switches": before}), json!({"switches": after})))
    }

    async fn notify(&self, channel: &str, message: Option<&str>) -> Result<(Value, Value), String> {
        let ch = self
            .plan
            .oncall
            .channels
            .iter()
            .find(|c| c.id == channel)
            .ok_or_else(|| format!("`{channel}` is not a channel of the plan's oncall"))?;
        let text = message.unwrap_or("An emergency plan is running").to_owned();
        let before = json!({"channel": channel});
        if self.dry_run {
            return Ok((before, json!({"channel": channel, "would_send": text})));
        }
        let resolved = seawall_notify::Channel::from_plan(ch, &|name| std::env::var(name).ok())
            .map_err(|e| format!("channel `{channel}`: {e}"))?;
        let msg = seawall_notify::Message::new(
            seawall_notify::Severity::Page,
            format!("Emergency plan: {}", self.note),
            text.clone(),
        );
        // The plan check refused a loopback or metadata host as written
        // (E080); the sender checks what the name resolves to now, as the
        // pager's does.
        let sender = seawall_notify::Sender::new(seawall_notify::RetryPolicy::default())
            .with_host_check(seawall_plan::outbound::allow_list(
                &self.plan.emergency.allow_hosts,
            ));
        let delivery = sender
            .send(&resolved, &msg)
            .await
            .map_err(|e| format!("channel `{channel}`: {e}"))?;
        Ok((
            before,
            json!({"channel": channel, "sent": text, "attempts": delivery.attempts}),
        ))
    }
}

/// How long a `scale` waits for `status.replicas` to reach the target.
const SCALE_WAIT: std::time::Duration = std::time::Duration::from_secs(300);
/// How often it reads the deployment's scale while waiting.
const SCALE_POLL: std::time::Duration = std::time::Duration::from_millis(500);

impl Exec<'_> {
    /// Scale `service`'s deployment (the plan's `services.<id>.kubernetes`)
    /// to `instances` through the scale subresource and wait for it; a dry
    /// run reads the replicas and changes nothing.
    async fn scale(&self, service: &str, instances: u32) -> Result<(Value, Value), String> {
        let k = self
            .plan
            .services
            .get(service)
            .ok_or_else(|| format!("`{service}` is not a service of the plan"))?
            .kubernetes
            .as_ref()
            .ok_or_else(|| {
                format!(
                    "service `{service}` names no deployment: give services.{service}.kubernetes \
                     {{namespace, deployment}} in the plan"
                )
            })?;
        let kube = self.state.kube().ok_or_else(|| {
            "not configured: this server has no Kubernetes connection; start seawall serve with \
             --kubeconfig PATH or --kube-in-cluster"
                .to_owned()
        })?;
        let (ns, dep) = (k.namespace.as_str(), k.deployment.as_str());
        let target = i32::try_from(instances)
            .map_err(|_| format!("{instances} replicas is more than Kubernetes takes"))?;
        let at = |replicas: i32| json!({"namespace": ns, "deployment": dep, "replicas": replicas});
        if self.dry_run {
            let now = kube
                .get_scale(ns, dep)
                .await
                .map_err(|e| format!("reading {ns}/{dep}: {e}"))?;
            let mut after = at(target);
            after["no_op"] = json!(now.spec.replicas == target);
            return Ok((at(now.spec.replicas), after));
        }
        let out = kube
            .scale(ns, dep, target, SCALE_WAIT, SCALE_POLL)
            .await
            .map_err(|e| format!("scaling {ns}/{dep}: {e}"))?;
        if !out.converged {
            return Err(format!(
                "{ns}/{dep} was set from {} to {target} replicas, but status.replicas is {} after \
                 {:.0?}{}: check the deployment (it is not scaled back)",
                out.before,
                out.after,
                out.elapsed,
                out.wait_error
                    .as_deref()
                    .map(|e| format!(" ({e})"))
                    .unwrap_or_default()
            ));
        }
        let mut after = at(out.after);
        after["no_op"] = json!(out.no_op);
        after["seconds"] = json!(out.elapsed.as_secs_f64());
        Ok((at(out.before), after))
    }
}

/// A `webhook` action's fields.
struct WebhookCall<'a> {
    url: &'a str,
    method: &'a str,
    body: Option<&'a str>,
    secret_env: Option<&'a str>,
    timeout_seconds: f64,
    retries: u32,
}

/// The header that tags a cache warm-up request with its run.
pub const WARMUP_HEADER: &str = "x-seawall-warmup";

impl Exec<'_> {
    /// Refuses a URL whose host is, or resolves to, a loopback,
    /// link-local or metadata address the plan's `emergency.allow_hosts`
    /// does not list (plan check refused the written host already; this
    /// checks every address the name resolves to now, before connecting).
    async fn check_host(&self, url: &str) -> Result<(), String> {
        use seawall_plan::outbound::{self, Host};
        let shown = redact(url);
        let host = outbound::url_host(url).map_err(|e| format!("{shown}: {e}"))?;
        let allow = outbound::allow_list(&self.plan.emergency.allow_hosts);
        let judge = |h: &Host| match outbound::refused(h) {
            Some(why) if !outbound::allowed(h, &allow) => Err(format!(
                "{shown}: its host is {why} ({h:?}); list it in emergency.allow_hosts if this \
                 is meant"
            )),
            _ => Ok(()),
        };
        judge(&host)?;
        if let Host::Name(name) = &host
            && !outbound::allowed(&host, &allow)
        {
            let found = tokio::net::lookup_host((name.as_str(), 0))
                .await
                .map_err(|e| format!("{shown}: cannot resolve `{name}`: {e}"))?;
            for addr in found {
                judge(&Host::Ip(addr.ip()))?;
            }
        }
        Ok(())
    }

    /// GETs of `urls`, `rate` a second at most, each tagged with
    /// [`WARMUP_HEADER`]; every one must answer 2xx.
    async fn cache_warmup(&self, urls: &[String], rate: f64) -> Result<(Value, Value), String> {
        if !(rate.is_finite() && rate > 0.0) {
            return Err(format!(
                "rate {rate} is not a rate (give requests per second > 0)"
            ));
        }
        let shown: Vec<&str> = urls.iter().map(|u| redact(u)).collect();
        let before = json!({"urls": shown, "rate": rate});
        for url in urls {
            self.check_host(url).await?;
        }
        if self.dry_run {
            return Ok((before, json!({"would_fetch": urls.len(), "rate": rate})));
        }
        let gap = std::time::Duration::from_secs_f64(1.0 / rate.min(1000.0));
        let mut next = tokio::time::Instant::now();
        let mut failed = Vec::new();
        for (url, shown) in urls.iter().zip(&shown) {
            tokio::time::sleep_until(next).await;
            next += gap;
            let answer = match split_url(url) {
                None => Err("not an http(s) URL with a host".to_owned()),
                Some((base, path)) => match seawall_api::Client::new(&base) {
                    Err(e) => Err(e.to_string()),
                    Ok(client) => client
                        .with_timeout(std::time::Duration::from_secs(10))
                        .send_raw(
                            http::Method::GET,
                            &path,
                            &[(
                                http::HeaderName::from_static(WARMUP_HEADER),
                                self.note.to_owned(),
                            )],
                            bytes::Bytes::new(),
                        )
                        .await
                        .map_err(|e| e.to_string())
                        .and_then(|r| {
                            if r.status.is_success() {
                                Ok(())
                            } else {
                                Err(format!("answered {}", r.status))
                            }
                        }),
                },
            };
            if let Err(e) = answer {
                failed.push(format!("{shown}: {e}"));
            }
        }
        if !failed.is_empty() {
            return Err(format!(
                "{} of {} warm-up requests failed: {}",
                failed.len(),
                urls.len(),
                failed.join("; ")
            ));
        }
        Ok((before, json!({"fetched": urls.len(), "rate": rate})))
    }

    /// A signed POST (Seawall's webhook: `X-Seawall-Signature`, the body
    /// in the message's text) with the action's timeout and retries.
    async fn webhook(&self, call: &WebhookCall<'_>) -> Result<(Value, Value), String> {
        let shown = redact(call.url);
        if !call.method.eq_ignore_ascii_case("POST") {
            return Err(format!(
                "webhook {shown}: only POST is supported (the request is signed), not {}",
                call.method
            ));
        }
        let secret_env = call.secret_env.ok_or_else(|| {
            format!("webhook {shown}: give `secret_env` (its requests are signed with it)")
        })?;
        self.check_host(call.url).await?;
        let text = call.body.unwrap_or("").to_owned();
        let before = json!({"url": shown});
        if self.dry_run {
            return Ok((before, json!({"url": shown, "would_send": text})));
        }
        let channel = seawall_plan::model::Channel {
            id: "webhook".to_owned(),
            kind: "webhook".to_owned(),
            webhook: Some(call.url.to_owned()),
            secret_env: Some(secret_env.to_owned()),
            ..Default::default()
        };
        let resolved =
            seawall_notify::Channel::from_plan(&channel, &|name| std::env::var(name).ok())
                .map_err(|e| format!("webhook {shown}: {e}"))?;
        let policy = seawall_notify::RetryPolicy {
            attempts: call.retries.saturating_add(1),
            timeout: std::time::Duration::from_secs_f64(call.timeout_seconds.clamp(0.1, 300.0)),
            ..Default::default()
        };
        let msg = seawall_notify::Message::new(
            seawall_notify::Severity::Page,
            format!("Emergency plan: {}", self.note),
            text.clone(),
        );
        let delivery = seawall_notify::Sender::new(policy)
            .send(&resolved, &msg)
            .await
            .map_err(|e| format!("webhook {shown}: {e}"))?;
        Ok((
            before,
            json!({"url": shown, "sent": text, "attempts": delivery.attempts}),
        ))
    }
}

/// `scheme://authority` and the path (with its query) of an http(s) URL.
/// Who changes a service's rules, why, and whether only to see the effect.
pub(crate) struct RuleChange<'a> {
    /// The audited actor.
    pub(crate) actor: &'a str,
    /// The rule version's note.
    pub(crate) note: &'a str,
    /// Compute the change, store nothing.
    pub(crate) dry_run: bool,
}

/// The latest rules of `service` changed by `edit`, validated, stored as a
/// new version (source `emergency`) unless this is a dry run, and the
/// sidecars woken: (version before, version after — `None` for a dry
/// run). Emergency actions and drills change rules only through here.
pub(crate) async fn change_rules(
    state: &AppState,
    change: &RuleChange<'_>,
    service: &str,
    edit: impl FnOnce(&mut RuleSet) -> Result<(), String>,
) -> Result<(i64, Option<i64>), String> {
    let latest = state
        .store
        .rules(service, None)
        .await
        .map_err(|e| format!("reading `{service}`'s rules: {e}"))?
        .ok_or_else(|| {
            format!(
                "service `{service}` has no guard rules yet; derive them first (seawall rules \
                 derive) so its sidecars follow the control plane"
            )
        })?;
    let mut rules = RuleSet::from_json(&latest.document)
        .map_err(|e| format!("`{service}`'s rules v{} are not valid: {e}", latest.version))?;
    edit(&mut rules).map_err(|e| format!("{e} (in `{service}`'s rules v{})", latest.version))?;
    rules
        .validate()
        .map_err(|e| format!("the changed rules of `{service}` are not valid: {e}"))?;
    if change.dry_run {
        return Ok((latest.version, None));
    }
    let document = rules::document(rules).map_err(|e| e.to_string())?;
    let stored = state
        .store
        .put_rules(
            &state.ctx(change.actor),
            &NewRuleVersion {
                service: service.to_owned(),
                document,
                source: RuleSource::Emergency,
                plan_version: None,
                note: change.note.to_owned(),
            },
        )
        .await
        .map_err(|e: StoreError| format!("storing `{service}`'s rules: {e}"))?;
    if let Err(e) = state.rule_cache().stored(&stored).await {
        // Stored all the same: the polls find it with the next version query.
        tracing::warn!(service, "the rule cache did not take the new version: {e}");
    }
    state.notify_change();
    Ok((latest.version, Some(stored.version)))
}

fn split_url(url: &str) -> Option<(String, String)> {
    let uri: http::Uri = url.parse().ok()?;
    let scheme = uri
        .scheme_str()
        .filter(|s| matches!(*s, "http" | "https"))?;
    let authority = uri.authority()?;
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    Some((format!("{scheme}://{authority}"), path.to_owned()))
}

fn text(v: &Value, key: &str) -> Result<String, String> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| format!("the captured state has no `{key}`"))
}

/// Set flow rule `rule`'s limit back to `qps`, or remove it (`None`: the
/// action added it).
fn set_flow(rules: &mut RuleSet, rule: &str, qps: Option<f64>) -> Result<(), String> {
    let lists = rules.resources.iter_mut().map(|r| &mut r.flow);
    restore(lists, rule, |f| &f.id, qps, |f, q| f.count = q)
        .ok_or_else(|| format!("flow rule `{rule}` is gone"))
}

/// Set switch `id` back to `on`, or remove it (`None`: the action added it).
fn set_switch(rules: &mut RuleSet, id: &str, on: Option<bool>) -> Result<(), String> {
    let lists = rules.resources.iter_mut().map(|r| &mut r.switches);
    restore(lists, id, |s| &s.id, on, |s, on| s.on = on)
        .ok_or_else(|| format!("switch `{id}` is gone"))
}

/// The rule with id `id` in one of `lists`: `set` to `value`, or removed
/// when there is none. `None` when no list has it.
fn restore<'a, T: 'a, V>(
    lists: impl Iterator<Item = &'a mut Vec<T>>,
    id: &str,
    id_of: impl Fn(&T) -> &str,
    value: Option<V>,
    set: impl FnOnce(&mut T, V),
) -> Option<()> {
    for list in lists {
        if let Some(i) = list.iter().position(|x| id_of(x) == id) {
            match (value, list.get_mut(i)) {
                (Some(v), Some(x)) => set(x, v),
                _ => {
                    list.remove(i);
                }
            }
            return Some(());
        }
    }
    None
}

/// A URL without its query (where credentials live).
pub(super) fn redact(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

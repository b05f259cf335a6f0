//! The queue's state machine, with time passed in: budgets, digests,
//! pages first, fallback; and proptests of its three promises — never more
//! than the budget per window per channel, a page never held behind
//! queued tickets, every message delivered exactly once (alone or in a
//! digest) or reported failed.

use std::collections::HashMap;
use std::time::Duration;

use proptest::prelude::*;
use seawall_notify::{
    Batch, Budget, ChannelConfig, Dispatcher, Message, MessageId, Outcome, Severity,
};

const MINUTE: Duration = Duration::from_secs(60);

fn config(messages: u32, window: Duration) -> ChannelConfig {
    ChannelConfig::new(Budget { messages, window })
}

fn msg(severity: Severity, title: &str) -> Message {
    Message::new(severity, title, format!("{title} text"))
}

fn route(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn dingtalk_budget_is_twenty_a_minute_with_five_kept_for_pages() {
    let c = ChannelConfig::for_provider(seawall_notify::Provider::DingTalk);
    assert_eq!(
        c.budget,
        Budget {
            messages: 20,
            window: MINUTE
        }
    );
    assert_eq!(c.page_reserve, 5);
    assert_eq!(
        ChannelConfig::for_provider(seawall_notify::Provider::WeCom)
            .budget
            .messages,
        20
    );
    assert_eq!(config(1, MINUTE).page_reserve, 0);
}

#[test]
fn tickets_over_their_share_become_one_digest_and_pages_still_go_at_once() {
    // 4 a minute, 1 kept for pages: tickets get 3.
    let mut d = Dispatcher::new([("sre".to_owned(), config(4, MINUTE))], 50);
    let t0 = Duration::ZERO;
    let mut sent: Vec<Batch> = Vec::new();
    for i in 0..8 {
        d.submit(msg(Severity::Ticket, &format!("t{i}")), route(&["sre"]));
        sent.extend(d.poll(t0));
    }
    assert_eq!(sent.len(), 3, "three tickets alone");
    assert!(sent.iter().all(|b| !b.is_digest()));
    assert_eq!(d.waiting("sre"), (0, 5));
    assert_eq!(d.next_wake(), Some(MINUTE));

    // A page comes in: the reserved slot takes it at once.
    let page = d.submit(msg(Severity::Page, "p"), route(&["sre"]));
    let now = Duration::from_secs(1);
    let batches = d.poll(now);
    assert_eq!(batches.len(), 1);
    assert_eq!(batches[0].messages, [page]);
    assert_eq!(batches[0].message.severity, Severity::Page);
    assert!(d.poll(Duration::from_secs(59)).is_empty());

    // The window moves on: five tickets wait for three slots, so they
    // go as one digest.
    let batches = d.poll(MINUTE);
    assert_eq!(batches.len(), 1);
    let digest = &batches[0];
    assert!(digest.is_digest());
    assert_eq!(digest.messages, (3..8).map(MessageId).collect::<Vec<_>>());
    assert_eq!(digest.message.title, "Seawall digest: 5 messages");
    assert!(digest.message.text.contains("• [TICKET] t3 — t3 text"));
    assert!(digest.message.text.contains("• [TICKET] t7 — t7 text"));
    for b in sent.iter().chain([&batches[0]]) {
        d.complete(b.id, Ok(()));
    }
    let outcomes = d.drain_outcomes();
    assert_eq!(outcomes.len(), 8);
    let in_digest = outcomes
        .iter()
        .filter(|o| {
            matches!(
                o,
                Outcome::Delivered {
                    digest: Some(_),
                    ..
                }
            )
        })
        .count();
    assert_eq!(in_digest, 5);
    assert_eq!(d.unfinished(), 1, "the page is still in flight");
}

#[test]
fn a_waiting_page_goes_before_waiting_tickets() {
    let mut d = Dispatcher::new([("c".to_owned(), config(2, MINUTE))], 50);
    d.submit(msg(Severity::Ticket, "t0"), route(&["c"]));
    d.submit(msg(Severity::Page, "p0"), route(&["c"]));
    d.submit(msg(Severity::Page, "p1"), route(&["c"]));
    let first = d.poll(Duration::ZERO);
    let severities: Vec<Severity> = first.iter().map(|b| b.message.severity).collect();
    assert_eq!(severities, [Severity::Page, Severity::Page]);
    assert_eq!(d.waiting("c"), (0, 1));
    let later = d.poll(MINUTE);
    assert_eq!(later.len(), 1);
    assert_eq!(later[0].message.title, "t0");
}

#[test]
fn a_failed_channel_falls_back_and_the_outcome_says_so() {
    let mut d = Dispatcher::new(
        [
            ("sre".to_owned(), config(20, MINUTE)),
            ("war-room".to_owned(), config(20, MINUTE)),
        ],
        50,
    );
    let id = d.submit(msg(Severity::Page, "p"), route(&["sre", "war-room"]));
    let [b] = d.poll(Duration::ZERO).try_into().expect("one batch");
    assert_eq!(b.channel, "sre");
    d.complete(
        b.id,
        Err("unavailable after 3 attempts: HTTP 503".to_owned()),
    );
    let [b] = d.poll(Duration::ZERO).try_into().expect("fallback batch");
    assert_eq!(b.channel, "war-room");
    d.complete(b.id, Ok(()));
    let outcome = d.drain_outcomes();
    assert_eq!(outcome.len(), 1);
    let Outcome::Delivered {
        id: got,
        channel,
        digest,
        failures,
    } = &outcome[0]
    else {
        panic!("{outcome:?}");
    };
    assert_eq!((*got, channel.as_str(), *digest), (id, "war-room", None));
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].channel, "sre");
    assert_eq!(failures[0].error, "unavailable after 3 attempts: HTTP 503");

    // Every channel fails: one Failed outcome with both errors; an unknown
    // channel in a route counts as a failure too.
    let id = d.submit(msg(Severity::Ticket, "t"), route(&["nowhere", "sre"]));
    let [b] = d.poll(Duration::ZERO).try_into().expect("batch");
    d.complete(b.id, Err("refused: code 310000".to_owned()));
    let outcome = d.drain_outcomes();
    let json = serde_json::to_value(&outcome).expect("serde");
    assert_eq!(
        json,
        serde_json::json!([{"outcome": "failed", "id": id.0, "failures": [
            {"channel": "nowhere", "error": "unknown channel"},
            {"channel": "sre", "error": "refused: code 310000"},
        ]}])
    );
    assert_eq!(d.unfinished(), 0);
    assert_eq!(d.next_wake(), None);
}

#[derive(Debug, Clone)]
enum Op {
    Submit { severity: u8, route: u8 },
    Advance(u64),
    Complete { pick: usize, ok: bool },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..3, 0u8..5).prop_map(|(severity, route)| Op::Submit { severity, route }),
        2 => (0u64..4_000).prop_map(Op::Advance),
        3 => (any::<usize>(), proptest::bool::weighted(0.7)).prop_map(|(pick, ok)| Op::Complete { pick, ok }),
    ]
}

/// Drives a dispatcher and checks every promise after every poll.
struct Sim {
    d: Dispatcher,
    now: Duration,
    configs: HashMap<String, ChannelConfig>,
    /// Per channel: send times and whether each was a page.
    log: HashMap<String, Vec<(Duration, bool)>>,
    in_flight: Vec<Batch>,
    severity: HashMap<MessageId, Severity>,
    routes: HashMap<MessageId, usize>,
    delivered_in: HashMap<MessageId, u32>,
}

impl Sim {
    fn poll(&mut self) -> Vec<Batch> {
        let batches = self.d.poll(self.now);
        for b in &batches {
            assert!(self.configs.contains_key(&b.channel));
            if b.is_digest() {
                for m in &b.messages {
                    assert_ne!(
                        self.severity[m],
                        Severity::Page,
                        "a page went into a digest"
                    );
                }
            }
            let page = b.message.severity == Severity::Page;
            self.log
                .entry(b.channel.clone())
                .or_default()
                .push((self.now, page));
        }
        for (channel, c) in &self.configs {
            let (pages, _) = self.d.waiting(channel);
            let full = self.d.sent_in_window(channel, self.now) >= c.budget.messages as usize;
            assert!(
                pages == 0 || full,
                "a page waits on {channel} with a free slot"
            );
            let ticket_sent = batches
                .iter()
                .any(|b| &b.channel == channel && b.message.severity != Severity::Page);
            assert!(
                !(ticket_sent && pages > 0),
                "a ticket went while a page waited on {channel}"
            );
        }
        self.in_flight.extend(batches.iter().cloned());
        batches
    }

    fn pages_in_window(&self, channel: &str) -> usize {
        let window = self.configs[channel].budget.window;
        self.log.get(channel).map_or(0, |l| {
            l.iter()
                .filter(|(t, p)| *p && *t + window > self.now)
                .count()
        })
    }

    fn advance_to(&mut self, target: Duration) {
        for _ in 0..10_000 {
            match self.d.next_wake() {
                Some(w) if w <= target && w > self.now => {
                    self.now = w;
                    self.poll();
                }
                _ => break,
            }
        }
        self.now = target.max(self.now);
        self.poll();
    }
}

const ROUTES: [&[&str]; 5] = [
    &["a"],
    &["b"],
    &["a", "b"],
    &["b", "a"],
    &["a", "nowhere", "b"],
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn budgets_pages_first_and_exactly_once(
        budget_a in 1u32..6,
        budget_b in 1u32..6,
        window_ms in 500u64..5_000,
        ops in proptest::collection::vec(op(), 1..80),
    ) {
        let window = Duration::from_millis(window_ms);
        let configs: HashMap<String, ChannelConfig> = [
            ("a".to_owned(), config(budget_a, window)),
            ("b".to_owned(), config(budget_b, window * 2)),
        ].into_iter().collect();
        let mut sim = Sim {
            d: Dispatcher::new(configs.clone(), 4),
            now: Duration::ZERO,
            configs,
            log: HashMap::new(),
            in_flight: Vec::new(),
            severity: HashMap::new(),
            routes: HashMap::new(),
            delivered_in: HashMap::new(),
        };
        for op in ops {
            match op {
                Op::Submit { severity, route: r } => {
                    let severity = [Severity::Info, Severity::Ticket, Severity::Page][usize::from(severity)];
                    let path = ROUTES[usize::from(r)];
                    let first = path[0];
                    let pages_before = sim.pages_in_window(first);
                    let id = sim.d.submit(msg(severity, "m"), route(path));
                    sim.severity.insert(id, severity);
                    sim.routes.insert(id, path.len());
                    let batches = sim.poll();
                    // Within the page reserve, a page goes the moment it
                    // comes, whatever tickets were sent or wait.
                    if severity == Severity::Page
                        && pages_before < sim.configs[first].page_reserve as usize
                    {
                        prop_assert!(batches.iter().any(|b| b.messages.contains(&id)),
                            "page {id:?} delayed on {first}");
                    }
                }
                Op::Advance(ms) => {
                    let target = sim.now + Duration::from_millis(ms);
                    sim.advance_to(target);
                }
                Op::Complete { pick, ok } => {
                    if !sim.in_flight.is_empty() {
                        let b = sim.in_flight.swap_remove(pick % sim.in_flight.len());
                        if ok {
                            for m in &b.messages {
                                *sim.delivered_in.entry(*m).or_default() += 1;
                            }
                        }
                        sim.d.complete(b.id, if ok { Ok(()) } else { Err("HTTP 503".to_owned()) });
                        sim.poll();
                    }
                }
            }
        }
        // Drain: everything in flight succeeds, time moves to each wake.
        for _ in 0..10_000 {
            for b in std::mem::take(&mut sim.in_flight) {
                for m in &b.messages {
                    *sim.delivered_in.entry(*m).or_default() += 1;
                }
                sim.d.complete(b.id, Ok(()));
            }
            sim.poll();
            if sim.in_flight.is_empty() {
                match sim.d.next_wake() {
                    Some(w) => sim.advance_to(w),
                    None => break,
                }
            }
        }
        prop_assert_eq!(sim.d.unfinished(), 0);
        prop_assert_eq!(sim.d.in_flight(), 0);

        // Never more than the budget in any window.
        for (channel, log) in &sim.log {
            let c = sim.configs[channel];
            let n = c.budget.messages as usize;
            for pair in log.windows(n + 1) {
                prop_assert!(pair[n].0 - pair[0].0 >= c.budget.window,
                    "{} sends within {:?} on {channel}", n + 1, c.budget.window);
            }
        }

        // Exactly once: one outcome per message; delivered ones went out in
        // exactly one successful batch, failed ones in none, after failing
        // on every channel of their route.
        let outcomes = sim.d.drain_outcomes();
        prop_assert_eq!(outcomes.len(), sim.severity.len());
        let mut seen = std::collections::HashSet::new();
        for o in &outcomes {
            prop_assert!(seen.insert(o.id()), "two outcomes for {:?}", o.id());
            let delivered = sim.delivered_in.get(&o.id()).copied().unwrap_or(0);
            match o {
                Outcome::Delivered { .. } => prop_assert_eq!(delivered, 1),
                Outcome::Failed { id, failures } => {
                    prop_assert_eq!(delivered, 0);
                    prop_assert_eq!(failures.len(), sim.routes[id]);
                }
            }
        }
    }
}

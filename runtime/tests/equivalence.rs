//! The proof of equivalence: random well-typed bundles and random facts
//! (absent facts included), decided by the reference interpreter and by
//! the compiled module; they must agree on verdict (DNS response
//! included), deciding policy and rule, alerts in order, and every
//! policy's outcome. One engine is shared and each bundle is compiled
//! once, then decides many facts, with and without a policy filter.
//!
//! `PROPTEST_CASES` sets the number of bundles (default 1,000, each with 24
//! facts, decided with and without a filter: 48,000 compared decisions,
//! about ten seconds in the dev profile).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a failing helper fails the test"
)]

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use proptest::prelude::*;
use ward_lang::interp::{self, Options};
use ward_lang::ir::{
    Alert, Bundle, Cond, DnsResponse, FactTest, Glob, Mode, Policy, Rule, Severity, TestOp,
    Verdict, VerdictKind,
};
use ward_lang::schema::{CategoryId, ClassId, EnumKind, Event, Events, FactId, Schema, Type};
use ward_lang::span::{FileId, Span};
use ward_lang::value::{Facts, IpNet, Value, Version};
use ward_lang::{SourceMap, wasm};
use ward_runtime::host::compare::differences;
use ward_runtime::host::{Host, HostConfig};

fn host() -> Arc<Host> {
    static HOST: OnceLock<Arc<Host>> = OnceLock::new();
    Arc::clone(HOST.get_or_init(|| Arc::new(Host::new(HostConfig::default()).unwrap())))
}

fn schema() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(Schema::default)
}

/// The facts the generator uses: at least one of every type and every
/// event.
const FACTS: &[&str] = &[
    "device.class",
    "device.os.supported",
    "device.os.version",
    "device.os.family",
    "device.risk",
    "device.tags",
    "device.vendor",
    "device.hostname",
    "device.ip",
    "time.hour",
    "time.weekday",
    "peer.ip",
    "peer.port",
    "peer.internal",
    "peer.categories",
    "peer.domain",
    "flow.protocol",
    "dicom.called_ae",
    "dicom.sop_classes",
    "tls.version",
    "tls.sni",
    "http.path",
    "dns.qname",
    "dns.qtype",
    "dns.categories",
    "dns.cnames",
    "dns.answers",
    "url.host",
    "url.path",
    "url.categories",
];

fn facts_for(event: Event) -> Vec<FactId> {
    FACTS
        .iter()
        .map(|name| schema().fact(name).unwrap())
        .filter(|id| schema().def(*id).events.contains(event))
        .collect()
}

const STRINGS: &[&str] = &[
    "PACS_MAIN",
    "pacs_main",
    "PACS_",
    "ROUTER",
    "",
    "é?x",
    "a.example.com",
    "example.com",
    "Evil.Test",
    "/fhir/Patient",
    "1.2.840.10008.5.1.4.1.1.2",
];
const GLOBS: &[&str] = &[
    "PACS_*",
    "*.example.com",
    "*",
    "?",
    "a*b*c",
    "",
    "é*",
    "*EVIL*",
    "/fhir/*",
    "1.2.840.*.2",
];
const IPS: &[&str] = &[
    "10.20.0.10",
    "10.20.0.16",
    "192.168.1.1",
    "8.8.8.8",
    "fd00::1",
    "2001:db8::7",
    "::ffff:10.20.0.10",
];
const NETS: &[&str] = &[
    "10.20.0.0/28",
    "10.0.0.0/8",
    "0.0.0.0/0",
    "192.168.1.1",
    "fd00::/8",
    "2001:db8::/64",
    "::/0",
];
const VERSIONS: &[&str] = &["10", "10.0", "6.1", "10.0.19041", "1.3", "1.2", "3.1.1"];
const INTS: &[i64] = &[0, 1, 22, 23, 50, 80, 104, 443, 11112, -5, 65535];

fn ip(i: usize) -> IpAddr {
    IPS[i % IPS.len()].parse().unwrap()
}

fn version(i: usize) -> Version {
    Version::parse(VERSIONS[i % VERSIONS.len()]).unwrap()
}

/// A value of the type, from the pools.
fn scalar(ty: &Type, pick: usize) -> Value {
    match ty {
        Type::Bool => Value::Bool(pick.is_multiple_of(2)),
        Type::Int => Value::Int(INTS[pick % INTS.len()]),
        Type::Str | Type::Name => Value::Str(STRINGS[pick % STRINGS.len()].to_owned()),
        Type::Ip => Value::Ip(ip(pick)),
        Type::Enum(kind) => Value::Enum(*kind, (pick % kind.variants().len()) as u16),
        Type::Class => Value::Class(ClassId((pick % schema().taxonomy.len()) as u32)),
        Type::Category => Value::Category(CategoryId((pick % schema().categories.len()) as u32)),
        Type::Version => Value::Version(version(pick)),
        Type::Set(_) => Value::Bool(false),
    }
}

fn fact_value(ty: &Type, picks: &[usize]) -> Value {
    match ty {
        Type::Set(elem) => {
            let mut items: Vec<Value> = Vec::new();
            for p in picks.iter().skip(1).take(picks[0] % 4) {
                let v = scalar(elem, *p);
                if !items.contains(&v) {
                    items.push(v);
                }
            }
            Value::Set(items)
        }
        _ => scalar(ty, picks[0]),
    }
}

/// A test of the fact, chosen by `pick` among the ops its type allows.
fn test_op(ty: &Type, pick: usize, picks: &[usize]) -> TestOp {
    let list = |elem: &Type| -> Vec<Value> {
        picks
            .iter()
            .take(1 + pick % 3)
            .map(|p| scalar(elem, *p))
            .collect()
    };
    let one = scalar(ty, picks[0]);
    match ty {
        Type::Bool => match pick % 4 {
            0 => TestOp::IsTrue,
            1 => TestOp::Eq(one),
            2 => TestOp::Ne(one),
            _ => TestOp::In(list(ty)),
        },
        Type::Int | Type::Version => match pick % 8 {
            0 => TestOp::Eq(one),
            1 => TestOp::Ne(one),
            2 => TestOp::Lt(one),
            3 => TestOp::Le(one),
            4 => TestOp::Gt(one),
            5 => TestOp::Ge(one),
            6 if *ty == Type::Int => TestOp::InRange {
                lo: INTS[picks[0] % INTS.len()],
                hi: INTS[picks[1] % INTS.len()],
            },
            _ => TestOp::In(list(ty)),
        },
        Type::Enum(kind) => match pick % 4 {
            0 => TestOp::Eq(one),
            1 => TestOp::Ne(one),
            2 => TestOp::InRange {
                lo: (picks[0] % kind.variants().len()) as i64,
                hi: (picks[1] % kind.variants().len()) as i64,
            },
            _ => TestOp::In(list(ty)),
        },
        Type::Class => match pick % 3 {
            0 => TestOp::Eq(one),
            1 => TestOp::Ne(one),
            _ => TestOp::Within(
                picks
                    .iter()
                    .take(1 + pick % 3)
                    .map(|p| ClassId((p % schema().taxonomy.len()) as u32))
                    .collect(),
            ),
        },
        Type::Ip => match pick % 3 {
            0 => TestOp::Eq(one),
            1 => TestOp::Ne(one),
            _ => TestOp::InNets(
                picks
                    .iter()
                    .take(1 + pick % 3)
                    .map(|p| IpNet::parse(NETS[p % NETS.len()]).unwrap())
                    .collect(),
            ),
        },
        Type::Str | Type::Name => match pick % 4 {
            0 => TestOp::Eq(one),
            1 => TestOp::Ne(one),
            2 => TestOp::In(list(ty)),
            _ => TestOp::Matches(
                picks
                    .iter()
                    .take(1 + pick % 3)
                    .map(|p| Glob::new(GLOBS[p % GLOBS.len()], *ty == Type::Name))
                    .collect(),
            ),
        },
        Type::Set(elem) => {
            let values = picks
                .iter()
                .take(pick % 4)
                .map(|p| scalar(elem, *p))
                .collect();
            if pick.is_multiple_of(2) {
                TestOp::HasAny(values)
            } else {
                TestOp::HasAll(values)
            }
        }
        Type::Category => TestOp::Eq(one),
    }
}

/// A condition tree, described by a seed vector so proptest can shrink it.
#[derive(Debug, Clone)]
enum Shape {
    Leaf(usize, usize, Vec<usize>),
    Const(bool),
    Not(Box<Shape>),
    And(Vec<Shape>),
    Or(Vec<Shape>),
}

fn shape() -> impl Strategy<Value = Shape> {
    let leaf = prop_oneof![
        8 => (any::<usize>(), any::<usize>(), prop::collection::vec(any::<usize>(), 4))
            .prop_map(|(f, o, p)| Shape::Leaf(f, o, p)),
        1 => any::<bool>().prop_map(Shape::Const),
    ];
    leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            inner.clone().prop_map(|s| Shape::Not(Box::new(s))),
            prop::collection::vec(inner.clone(), 0..4).prop_map(Shape::And),
            prop::collection::vec(inner, 0..4).prop_map(Shape::Or),
        ]
    })
}

fn cond(shape: &Shape, event: Event) -> Cond {
    match shape {
        Shape::Const(b) => Cond::Const(*b),
        Shape::Not(inner) => Cond::Not(Box::new(cond(inner, event))),
        Shape::And(items) => Cond::And(items.iter().map(|s| cond(s, event)).collect()),
        Shape::Or(items) => Cond::Or(items.iter().map(|s| cond(s, event)).collect()),
        Shape::Leaf(f, o, picks) => {
            let facts = facts_for(event);
            let fact = facts[f % facts.len()];
            if o % 7 == 0 {
                return Cond::Exists(fact, Span::default());
            }
            let ty = &schema().def(fact).ty;
            Cond::Test(FactTest {
                fact,
                op: test_op(ty, o / 7, picks),
                span: Span::default(),
            })
        }
    }
}

/// A `for` condition: tests only of facts every event carries.
fn scope_cond(shape: &Shape) -> Cond {
    match shape {
        Shape::Const(b) => Cond::Const(*b),
        Shape::Not(inner) => Cond::Not(Box::new(scope_cond(inner))),
        Shape::And(items) => Cond::And(items.iter().map(scope_cond).collect()),
        Shape::Or(items) => Cond::Or(items.iter().map(scope_cond).collect()),
        Shape::Leaf(f, o, picks) => {
            let facts: Vec<FactId> = facts_for(Event::Url)
                .into_iter()
                .filter(|id| schema().def(*id).events == Events::ALL)
                .collect();
            let fact = facts[f % facts.len()];
            let ty = &schema().def(fact).ty;
            Cond::Test(FactTest {
                fact,
                op: test_op(ty, o / 7, picks),
                span: Span::default(),
            })
        }
    }
}

fn verdict(pick: usize) -> Verdict {
    let kind = [
        VerdictKind::Allow,
        VerdictKind::Block,
        VerdictKind::Quarantine,
    ][pick % 3];
    let respond = match (pick / 3) % 6 {
        0 => Some(DnsResponse::NxDomain),
        1 => Some(DnsResponse::NoData),
        2 => Some(DnsResponse::Refused),
        3 => Some(DnsResponse::Sinkhole(ip(pick / 18))),
        _ => None,
    };
    Verdict { kind, respond }
}

#[derive(Debug, Clone)]
struct RuleSeed {
    event: usize,
    shape: Shape,
    verdict: Option<usize>,
    alerts: Vec<usize>,
}

#[derive(Debug, Clone)]
struct PolicySeed {
    /// The `for` condition, on a fact every event has; `None` is `true`.
    scope: Option<Shape>,
    monitor: bool,
    on_error: usize,
    default: usize,
    rules: Vec<RuleSeed>,
}

fn rule_seed() -> impl Strategy<Value = RuleSeed> {
    (
        0..3usize,
        shape(),
        prop::option::weighted(0.7, any::<usize>()),
        prop::collection::vec(any::<usize>(), 0..3),
    )
        .prop_map(|(event, shape, verdict, alerts)| RuleSeed {
            event,
            shape,
            verdict,
            alerts,
        })
}

fn policy_seed() -> impl Strategy<Value = PolicySeed> {
    (
        prop::option::weighted(0.4, shape()),
        prop::bool::weighted(0.3),
        any::<usize>(),
        any::<usize>(),
        prop::collection::vec(rule_seed(), 0..7),
    )
        .prop_map(|(scope, monitor, on_error, default, rules)| PolicySeed {
            scope,
            monitor,
            on_error,
            default,
            rules,
        })
}

fn bundle(seeds: &[PolicySeed]) -> Bundle {
    let policies = seeds
        .iter()
        .enumerate()
        .map(|(p, seed)| {
            let rules: Vec<Rule> = seed
                .rules
                .iter()
                .enumerate()
                .map(|(r, rule)| {
                    let event = Event::ALL[rule.event];
                    Rule {
                        name: format!("r{r}"),
                        event,
                        cond: cond(&rule.shape, event),
                        verdict: rule.verdict.map(verdict),
                        alerts: rule
                            .alerts
                            .iter()
                            .map(|a| Alert {
                                severity: Severity::ALL[a % 4],
                                message: format!("alert {p}.{r}.{}", a % 5),
                            })
                            .collect(),
                        span: Span::default(),
                        name_span: Span::default(),
                    }
                })
                .collect();
            let events = rules.iter().fold(Events::default(), |e, r| e.with(r.event));
            Policy {
                name: format!("p{p}"),
                // Facts of every event: `device.*` and `time.*`, which the
                // flow list starts with and the others share.
                scope: seed.scope.as_ref().map_or(Cond::Const(true), scope_cond),
                mode: if seed.monitor {
                    Mode::Monitor
                } else {
                    Mode::Enforce
                },
                on_error: verdict(seed.on_error),
                rules,
                default: verdict(seed.default),
                events,
                file: FileId(0),
                span: Span::default(),
                default_span: Span::default(),
            }
        })
        .collect();
    Bundle {
        schema: schema().clone(),
        policies,
        tests: Vec::new(),
    }
}

fn facts(event: Event, seeds: &[(bool, Vec<usize>)]) -> Facts {
    let mut values = BTreeMap::new();
    for (fact, (present, picks)) in facts_for(event).into_iter().zip(seeds.iter().cycle()) {
        if *present {
            values.insert(fact, fact_value(&schema().def(fact).ty, picks));
        }
    }
    Facts { event, values }
}

fn fact_seeds() -> impl Strategy<Value = (usize, Vec<(bool, Vec<usize>)>)> {
    (
        0..3usize,
        prop::collection::vec(
            (
                prop::bool::weighted(0.75),
                prop::collection::vec(any::<usize>(), 5),
            ),
            20,
        ),
    )
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(1000),
        ..ProptestConfig::default()
    })]

    #[test]
    fn module_and_interpreter_agree(
        seeds in prop::collection::vec(policy_seed(), 1..5),
        inputs in prop::collection::vec(fact_seeds(), 24),
        filter in prop::collection::vec(any::<bool>(), 5),
    ) {
        let bundle = bundle(&seeds);
        let compiled = wasm::compile(&bundle, &SourceMap::new()).unwrap();
        let host = host();
        let module = host.load(&compiled.bytes).unwrap();
        let only: Vec<usize> = (0..bundle.policies.len()).filter(|p| filter[*p]).collect();

        for (event, seeds) in &inputs {
            let facts = facts(Event::ALL[*event], seeds);
            for only in [None, Some(only.as_slice())] {
                let expected = interp::evaluate(&bundle, &facts, Options { trace: false, only });
                let got = host.evaluate(&module, &facts, only);
                prop_assert_eq!(&got.failure, &None);
                let diff = differences(&expected, &got.decision);
                prop_assert!(diff.is_empty(), "{:#?}\nfacts {:?}\n{}", bundle.policies, facts, diff.join("\n"));
            }
        }
    }
}

/// A regression seed written out: the shared-test memo across policies.
#[test]
fn shared_tests_are_memoised_across_policies() {
    let shape = Shape::Leaf(0, 7, vec![3, 1, 2, 0]);
    let rule = RuleSeed {
        event: 0,
        shape: shape.clone(),
        verdict: Some(1),
        alerts: vec![2],
    };
    let seeds = vec![
        PolicySeed {
            scope: None,
            monitor: false,
            on_error: 0,
            default: 0,
            rules: vec![rule.clone(), rule.clone()],
        },
        PolicySeed {
            scope: None,
            monitor: true,
            on_error: 0,
            default: 0,
            rules: vec![RuleSeed {
                shape: Shape::Not(Box::new(shape)),
                ..rule
            }],
        },
    ];
    let bundle = bundle(&seeds);
    let compiled = wasm::compile(&bundle, &SourceMap::new()).unwrap();
    let module = host().load(&compiled.bytes).unwrap();
    for class in 0..schema().taxonomy.len() {
        let mut f = Facts::new(Event::Flow);
        f.values.insert(
            schema().fact("device.class").unwrap(),
            Value::Class(ClassId(class as u32)),
        );
        let expected = interp::evaluate(&bundle, &f, Options::default());
        let got = host().evaluate(&module, &f, None);
        assert_eq!(differences(&expected, &got.decision), Vec::<String>::new());
    }
    let _ = EnumKind::Weekday;
}

//! The checked bundle: what the checker produces and the only thing the
//! interpreter and the compiler accept. Names are resolved, literals are
//! typed values, and every rule is known to be well formed.

use std::net::IpAddr;

pub use crate::ast::VerdictKind;
use crate::schema::{ClassId, Event, Events, FactId, Schema};
use crate::span::{FileId, Span};
use crate::value::{Facts, IpNet, Value};

#[derive(Debug, Clone)]
pub struct Bundle {
    pub schema: Schema,
    pub policies: Vec<Policy>,
    pub tests: Vec<Test>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Verdicts are carried out.
    Enforce,
    /// Verdicts are logged as what would have happened, never carried out.
    Monitor,
}

/// How a blocked DNS query is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsResponse {
    NxDomain,
    NoData,
    Refused,
    Sinkhole(IpAddr),
}

impl DnsResponse {
    pub fn name(self) -> &'static str {
        match self {
            DnsResponse::NxDomain => "nxdomain",
            DnsResponse::NoData => "nodata",
            DnsResponse::Refused => "refused",
            DnsResponse::Sinkhole(_) => "sinkhole",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub kind: VerdictKind,
    /// Only on `block` verdicts of `dns` rules and defaults.
    pub respond: Option<DnsResponse>,
}

impl Verdict {
    pub const ALLOW: Verdict = Verdict {
        kind: VerdictKind::Allow,
        respond: None,
    };

    pub fn new(kind: VerdictKind) -> Self {
        Verdict {
            kind,
            respond: None,
        }
    }
}

impl VerdictKind {
    pub fn name(self) -> &'static str {
        match self {
            VerdictKind::Allow => "allow",
            VerdictKind::Block => "block",
            VerdictKind::Quarantine => "quarantine",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 4] = [
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    pub fn from_name(name: &str) -> Option<Severity> {
        Severity::ALL.into_iter().find(|s| s.name() == name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    pub severity: Severity,
    pub message: String,
}

#[derive(Debug, Clone)]
pub struct Policy {
    pub name: String,
    pub mode: Mode,
    pub on_error: Verdict,
    pub rules: Vec<Rule>,
    pub default: Verdict,
    /// The events this policy decides: those its rules are `on`.
    pub events: Events,
    /// `for`: of those, the ones whose facts satisfy this; `true` when the
    /// policy has no `for`.
    pub scope: Cond,
    pub file: FileId,
    pub span: Span,
    pub default_span: Span,
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub event: Event,
    pub cond: Cond,
    pub verdict: Option<Verdict>,
    pub alerts: Vec<Alert>,
    pub span: Span,
    pub name_span: Span,
}

/// A condition over facts. Any test of an absent fact is false.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cond {
    Const(bool),
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Not(Box<Cond>),
    /// Whether the fact is present.
    Exists(FactId, Span),
    Test(FactTest),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FactTest {
    pub fact: FactId,
    pub op: TestOp,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TestOp {
    /// A bare boolean fact.
    IsTrue,
    Eq(Value),
    Ne(Value),
    Lt(Value),
    Le(Value),
    Gt(Value),
    Ge(Value),
    /// Equal to one of the values.
    In(Vec<Value>),
    /// An address inside one of the networks.
    InNets(Vec<IpNet>),
    /// A class within one of the taxonomy subtrees.
    Within(Vec<ClassId>),
    /// An integer (or enum index) in `lo..=hi`; wraps around when
    /// `lo > hi` (`22..6` for the night, `fri..mon` for the weekend).
    InRange {
        lo: i64,
        hi: i64,
    },
    Matches(Vec<Glob>),
    HasAny(Vec<Value>),
    HasAll(Vec<Value>),
}

/// A glob pattern over names: `*` is any run of characters (dots
/// included), `?` is one character; everything else is literal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    pub pattern: String,
    /// Whether the pattern and the subject are compared without case.
    pub fold_case: bool,
}

impl Glob {
    pub fn new(pattern: &str, fold_case: bool) -> Self {
        let pattern = if fold_case {
            pattern.to_ascii_lowercase()
        } else {
            pattern.to_owned()
        };
        Glob { pattern, fold_case }
    }

    /// Matches in time linear in the product of the lengths at worst,
    /// with no recursion (the classic two-pointer wildcard match).
    pub fn matches(&self, subject: &str) -> bool {
        let pattern: Vec<char> = self.pattern.chars().collect();
        let subject: Vec<char> = if self.fold_case {
            subject.chars().map(|c| c.to_ascii_lowercase()).collect()
        } else {
            subject.chars().collect()
        };
        let (mut p, mut s) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while s < subject.len() {
            match pattern.get(p) {
                Some('*') => {
                    star = Some((p, s));
                    p += 1;
                }
                Some(&c) if c == '?' || Some(&c) == subject.get(s) => {
                    p += 1;
                    s += 1;
                }
                _ => match star {
                    Some((star_p, star_s)) => {
                        p = star_p + 1;
                        s = star_s + 1;
                        star = Some((star_p, star_s + 1));
                    }
                    None => return false,
                },
            }
        }
        pattern
            .get(p..)
            .is_some_and(|rest| rest.iter().all(|c| *c == '*'))
    }
}

/// A test block, checked: facts built, expectations resolved.
#[derive(Debug, Clone)]
pub struct Test {
    pub name: String,
    pub facts: Facts,
    pub expects: Vec<Expectation>,
    /// The policies of the test's own file, which it evaluates.
    pub policies: Vec<usize>,
    pub file: FileId,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub enum Expectation {
    /// The enforced verdict (or, with `would`, the most restrictive
    /// monitor-mode verdict), optionally by a named rule or `default`.
    Verdict {
        would: bool,
        verdict: Verdict,
        by: Option<String>,
        span: Span,
    },
    Alert {
        severity: Severity,
        message: Option<String>,
        span: Span,
    },
}

/// Renders a checked bundle's policies as text: the lowered form, with
/// names resolved and lets expanded, for snapshots and for people reviewing
/// what a policy means.
pub fn render_policies(bundle: &Bundle) -> String {
    let schema = &bundle.schema;
    let mut out = String::new();
    for policy in &bundle.policies {
        out.push_str(&format!(
            "policy {:?} mode={:?} on_error={} default={} events={:?}\n",
            policy.name,
            policy.mode,
            render_verdict(policy.on_error),
            render_verdict(policy.default),
            policy.events.names(),
        ));
        if policy.scope != Cond::Const(true) {
            out.push_str(&format!("  for {}\n", render_cond(schema, &policy.scope)));
        }
        for rule in &policy.rules {
            out.push_str(&format!("  rule {} on {}\n", rule.name, rule.event));
            out.push_str(&format!("    when {}\n", render_cond(schema, &rule.cond)));
            if let Some(v) = rule.verdict {
                out.push_str(&format!("    then {}\n", render_verdict(v)));
            }
            for alert in &rule.alerts {
                out.push_str(&format!(
                    "    alert {} {:?}\n",
                    alert.severity.name(),
                    alert.message
                ));
            }
        }
    }
    out
}

pub fn render_verdict(verdict: Verdict) -> String {
    match verdict.respond {
        Some(DnsResponse::Sinkhole(ip)) => format!("{} respond sinkhole {ip}", verdict.kind.name()),
        Some(r) => format!("{} respond {}", verdict.kind.name(), r.name()),
        None => verdict.kind.name().to_owned(),
    }
}

/// A condition as text, fully parenthesised below the top level.
pub fn render_cond(schema: &Schema, cond: &Cond) -> String {
    let list = |items: &[Cond], sep: &str| {
        items
            .iter()
            .map(|c| render_nested(schema, c))
            .collect::<Vec<_>>()
            .join(sep)
    };
    match cond {
        Cond::Const(b) => b.to_string(),
        Cond::And(items) => list(items, " and "),
        Cond::Or(items) => list(items, " or "),
        Cond::Not(inner) => format!("not {}", render_nested(schema, inner)),
        Cond::Exists(fact, _) => format!("exists {}", schema.def(*fact).name),
        Cond::Test(test) => {
            let name = &schema.def(test.fact).name;
            let values = |vs: &[Value]| {
                vs.iter()
                    .map(|v| v.render(schema))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            match &test.op {
                TestOp::IsTrue => name.clone(),
                TestOp::Eq(v) => format!("{name} == {}", v.render(schema)),
                TestOp::Ne(v) => format!("{name} != {}", v.render(schema)),
                TestOp::Lt(v) => format!("{name} < {}", v.render(schema)),
                TestOp::Le(v) => format!("{name} <= {}", v.render(schema)),
                TestOp::Gt(v) => format!("{name} > {}", v.render(schema)),
                TestOp::Ge(v) => format!("{name} >= {}", v.render(schema)),
                TestOp::In(vs) => format!("{name} in [{}]", values(vs)),
                TestOp::InNets(nets) => {
                    let nets: Vec<String> = nets.iter().map(ToString::to_string).collect();
                    format!("{name} in [{}]", nets.join(", "))
                }
                TestOp::Within(classes) => {
                    let names: Vec<&str> =
                        classes.iter().map(|c| schema.taxonomy.name(*c)).collect();
                    format!("{name} within [{}]", names.join(", "))
                }
                TestOp::InRange { lo, hi } => format!("{name} in {lo}..{hi}"),
                TestOp::Matches(globs) => {
                    let globs: Vec<String> =
                        globs.iter().map(|g| format!("{:?}", g.pattern)).collect();
                    format!("{name} matches [{}]", globs.join(", "))
                }
                TestOp::HasAny(vs) => format!("{name} has any [{}]", values(vs)),
                TestOp::HasAll(vs) => format!("{name} has all [{}]", values(vs)),
            }
        }
    }
}

fn render_nested(schema: &Schema, cond: &Cond) -> String {
    match cond {
        Cond::And(_) | Cond::Or(_) => format!("({})", render_cond(schema, cond)),
        other => render_cond(schema, other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(pattern: &str, subject: &str, expected: bool) {
        assert_eq!(
            Glob::new(pattern, true).matches(subject),
            expected,
            "{pattern} ~ {subject}"
        );
    }

    #[test]
    fn globs() {
        check("PACS_*", "pacs_main", true);
        check("PACS_*", "PACS_", true);
        check("PACS_*", "XPACS_", false);
        check("*.example.com", "a.b.example.com", true);
        check("*.example.com", "example.com", false);
        check("?", "", false);
        check("a*b*c", "aXbYbZc", true);
        check("a*b*c", "aXbYbZ", false);
        check("", "", true);
        check("***", "anything", true);
        assert!(!Glob::new("PACS", false).matches("pacs"));
    }
}

//! The checker: syntax trees to a checked bundle, with every error of every
//! file reported in one run.
//!
//! Names are resolved by the type the context expects: on the right of
//! `device.class in`, `imaging` is a taxonomy class; after
//! `flow.protocol ==`, `dicom` is a protocol; a single name that a policy
//! `let` binds stands for the let's value, typed at each use.

use std::cell::Cell;
use std::collections::HashMap;

use crate::ast::{self, CmpOp, Expr, Operand, PolicyItem, RuleItem, SourceTree, TestItem};
use crate::diag::{Diagnostic, did_you_mean};
use crate::ir::{
    Alert, Bundle, Cond, DnsResponse, Expectation, FactTest, Glob, Mode, Policy, Rule, Severity,
    Test, TestOp, Verdict,
};
use crate::parse::parse_file;
use crate::schema::{Event, Events, FactId, Schema, Type};
use crate::span::{FileId, SourceMap, Span};
use crate::value::{self, Facts, IpNet, Value, Version, normalize_name};

/// What checking a bundle produced: the bundle when there were no errors,
/// and every diagnostic, errors and warnings, sorted by position.
#[derive(Debug)]
pub struct Checked {
    pub bundle: Option<Bundle>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Checked {
    pub fn errors(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }

    pub fn warnings(&self) -> usize {
        self.diagnostics.len() - self.errors()
    }
}

/// Checks the policy files `files` of `sources`, with `config` the
/// bundle's `ward.toml` if it has one.
pub fn check(sources: &SourceMap, files: &[FileId], config: Option<FileId>) -> Checked {
    let mut diagnostics = Vec::new();
    let schema = crate::config::schema(sources, config, &mut diagnostics);

    let mut trees = Vec::new();
    for &file in files {
        let text = sources.get(file).map_or("", |f| f.text.as_str());
        let parsed = parse_file(file, text);
        diagnostics.extend(parsed.diagnostics);
        if let Some(tree) = parsed.tree {
            trees.push(tree);
        }
    }

    let mut checker = Checker {
        schema: &schema,
        diagnostics: Vec::new(),
    };
    let (policies, tests) = checker.bundle(&trees);
    diagnostics.append(&mut checker.diagnostics);
    let mut bundle = Bundle {
        schema,
        policies,
        tests,
    };
    if !diagnostics.iter().any(Diagnostic::is_error) {
        diagnostics.extend(crate::analysis::analyze(&bundle));
    }
    crate::diag::sort(&mut diagnostics);
    let has_errors = diagnostics.iter().any(Diagnostic::is_error);
    if has_errors {
        bundle.policies.clear();
    }
    Checked {
        bundle: (!has_errors).then_some(bundle),
        diagnostics,
    }
}

/// Checks a single source text; for tests, tools and the fuzzer.
pub fn check_source(name: &str, text: &str) -> (SourceMap, Checked) {
    let mut sources = SourceMap::new();
    let file = sources.add(name, text);
    let checked = check(&sources, &[file], None);
    (sources, checked)
}

/// The facts a condition tests, with where it tests them.
fn cond_facts(cond: &Cond, out: &mut Vec<(FactId, Span)>) {
    match cond {
        Cond::Const(_) => {}
        Cond::And(items) | Cond::Or(items) => items.iter().for_each(|c| cond_facts(c, out)),
        Cond::Not(inner) => cond_facts(inner, out),
        Cond::Exists(fact, span) => out.push((*fact, *span)),
        Cond::Test(test) => out.push((test.fact, test.span)),
    }
}

/// What the tests of one file need to know about its policies.
struct FileSummary {
    file: FileId,
    /// The file's policies that checked, as indexes into the bundle.
    checked: Vec<usize>,
    /// The names of the rules its policies define as written; `None` when
    /// the file defines no policy.
    rule_names: Option<Vec<String>>,
    /// Whether one of its policies is written in monitor mode.
    has_monitor: bool,
}

struct Checker<'s> {
    schema: &'s Schema,
    diagnostics: Vec<Diagnostic>,
}

/// A policy's `let`s while its rules are checked.
#[derive(Default)]
struct Scope<'t> {
    lets: HashMap<&'t str, LetEntry<'t>>,
}

struct LetEntry<'t> {
    value: &'t Operand,
    span: Span,
    used: Cell<bool>,
}

/// Where a condition is being checked: which event's facts it may use.
#[derive(Clone, Copy)]
struct Context<'a, 't> {
    event: Option<Event>,
    scope: &'a Scope<'t>,
}

/// How deep `let`s may refer to other `let`s.
const MAX_LET_DEPTH: usize = 16;

impl<'s> Checker<'s> {
    fn error(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }

    fn bundle(&mut self, trees: &[SourceTree]) -> (Vec<Policy>, Vec<Test>) {
        let mut policies = Vec::new();
        let mut seen: HashMap<String, Span> = HashMap::new();
        let mut summaries: Vec<FileSummary> = Vec::new();

        for tree in trees {
            let mut own = Vec::new();
            for item in &tree.items {
                let ast::Item::Policy(policy) = item else {
                    continue;
                };
                if let Some(first) = seen.get(&policy.name.value) {
                    self.error(
                        Diagnostic::error(
                            "duplicate-policy",
                            format!("policy `{}` is defined twice", policy.name.value),
                        )
                        .label(policy.name.span, "defined again here")
                        .label(*first, "first defined here")
                        .help("policy names identify decisions in logs; give each policy its own"),
                    );
                    continue;
                }
                seen.insert(policy.name.value.clone(), policy.name.span);
                if let Some(checked) = self.policy(tree.file, policy) {
                    own.push(policies.len());
                    policies.push(checked);
                }
            }
            let written: Vec<&ast::Policy> = tree
                .items
                .iter()
                .filter_map(|i| {
                    if let ast::Item::Policy(p) = i {
                        Some(p)
                    } else {
                        None
                    }
                })
                .collect();
            let rule_names = (!written.is_empty()).then(|| {
                written
                    .iter()
                    .flat_map(|p| p.items.iter())
                    .filter_map(|i| {
                        if let PolicyItem::Rule(r) = i {
                            Some(r.name.name.clone())
                        } else {
                            None
                        }
                    })
                    .collect()
            });
            let has_monitor = written
                .iter()
                .flat_map(|p| p.items.iter())
                .any(|i| matches!(i, PolicyItem::Mode(mode, _) if mode.name == "monitor"));
            summaries.push(FileSummary {
                file: tree.file,
                checked: own,
                rule_names,
                has_monitor,
            });
        }

        let mut tests = Vec::new();
        for tree in trees {
            let summary = summaries.iter().find(|f| f.file == tree.file);
            let own = summary.map(|f| f.checked.clone()).unwrap_or_default();
            let rule_names = summary.and_then(|f| f.rule_names.clone());
            let has_monitor = summary.is_some_and(|f| f.has_monitor);
            let mut test_names: HashMap<&str, Span> = HashMap::new();
            for item in &tree.items {
                let ast::Item::Test(test) = item else {
                    continue;
                };
                if let Some(first) = test_names.insert(&test.name.value, test.name.span) {
                    self.error(
                        Diagnostic::warning(
                            "duplicate-test",
                            format!("two tests are named `{}`", test.name.value),
                        )
                        .label(test.name.span, "named again here")
                        .label(first, "first named here")
                        .help("failures are reported by name; give each test its own"),
                    );
                }
                if let Some(checked) =
                    self.test(tree.file, test, &own, rule_names.as_deref(), has_monitor)
                {
                    tests.push(checked);
                }
            }
        }
        (policies, tests)
    }

    fn policy(&mut self, file: FileId, policy: &ast::Policy) -> Option<Policy> {
        let mut mode: Option<(Mode, Span)> = None;
        let mut on_error: Option<(Verdict, Span)> = None;
        let mut default: Option<(Verdict, Span)> = None;
        let mut scope = Scope::default();
        let mut scope_expr: Option<(&ast::Expr, Span)> = None;
        let mut ok = true;

        // Settings and lets first, so rules may use a let written below them.
        for item in &policy.items {
            match item {
                PolicyItem::Mode(word, span) => {
                    let value = match word.name.as_str() {
                        "enforce" => Mode::Enforce,
                        "monitor" => Mode::Monitor,
                        other => {
                            let mut d = Diagnostic::error(
                                "unknown-mode",
                                format!("unknown mode `{other}`"),
                            )
                            .label(word.span, "expected `enforce` or `monitor`");
                            if let Some(s) = did_you_mean(other, ["enforce", "monitor"]) {
                                d = d.help(format!("did you mean `{s}`?"));
                            }
                            self.error(d);
                            ok = false;
                            continue;
                        }
                    };
                    self.set_once(&mut mode, (value, *span), "mode", &mut ok);
                }
                // A bad verdict is reported once; the setting still counts
                // as written, so no "missing" error follows it.
                PolicyItem::OnError(verdict, span) => {
                    let checked = self.verdict(verdict, None);
                    ok &= checked.is_some();
                    let v = checked.unwrap_or(Verdict::new(verdict.kind));
                    self.set_once(&mut on_error, (v, *span), "on error", &mut ok);
                }
                PolicyItem::Default(verdict, span) => {
                    let checked = self.verdict(verdict, Some(Event::Dns));
                    ok &= checked.is_some();
                    let v = checked.unwrap_or(Verdict::new(verdict.kind));
                    self.set_once(&mut default, (v, *span), "default", &mut ok);
                }
                PolicyItem::Let(binding) => {
                    let name = binding.name.name.as_str();
                    if self.schema.is_namespace(name) {
                        self.error(
                            Diagnostic::error("bad-let", format!("`{name}` cannot be a let name"))
                                .label(binding.name.span, "this name is where facts live")
                                .help("choose another name, such as `pacs_hosts`"),
                        );
                        ok = false;
                    } else if let Some(first) = scope.lets.get(name) {
                        self.error(
                            Diagnostic::error("duplicate-let", format!("`{name}` is bound twice"))
                                .label(binding.name.span, "bound again here")
                                .label(first.span, "first bound here"),
                        );
                        ok = false;
                    } else {
                        scope.lets.insert(
                            name,
                            LetEntry {
                                value: &binding.value,
                                span: binding.name.span,
                                used: Cell::new(false),
                            },
                        );
                    }
                }
                PolicyItem::Scope(expr, span) => {
                    self.set_once(&mut scope_expr, (expr, *span), "for", &mut ok);
                }
                PolicyItem::Rule(_) => {}
                PolicyItem::Error(_) => ok = false,
            }
        }

        let header = policy.name.span;
        if policy.name.value.trim().is_empty() {
            self.error(
                Diagnostic::error("empty-name", "a policy needs a name")
                    .label(header, "empty")
                    .help("decisions and logs name the policy that made them"),
            );
            ok = false;
        }
        if mode.is_none() {
            self.error(
                Diagnostic::error("missing-mode", format!("policy `{}` does not say whether it enforces", policy.name.value))
                    .label(header, "this policy has no `mode`")
                    .help("add `mode enforce` to carry out its verdicts, or `mode monitor` to only log them; there is no default, so that nobody enforces by accident"),
            );
            ok = false;
        }
        if on_error.is_none() {
            self.error(
                Diagnostic::error("missing-on-error", format!("policy `{}` does not say what happens when it fails", policy.name.value))
                    .label(header, "this policy has no `on error`")
                    .help("add `on error block` to fail closed or `on error allow` to fail open; there is no default, so that nothing fails open by accident"),
            );
            ok = false;
        }
        if default.is_none() {
            self.error(
                Diagnostic::error(
                    "missing-default",
                    format!("policy `{}` has no `default` verdict", policy.name.value),
                )
                .label(header, "no rule decides every case")
                .help("add `default allow` or `default block` as the policy's last line"),
            );
            ok = false;
        }

        let mut rules = Vec::new();
        let mut names: HashMap<&str, Span> = HashMap::new();
        for item in &policy.items {
            let PolicyItem::Rule(rule) = item else {
                continue;
            };
            if let Some(first) = names.get(rule.name.name.as_str()) {
                self.error(
                    Diagnostic::warning("duplicate-rule", format!("rule name `{}` is used twice in this policy", rule.name.name))
                        .label(rule.name.span, "used again here")
                        .label(*first, "first used here")
                        .help("decisions name the rule that made them; rename one so logs and tests can tell them apart"),
                );
            } else {
                names.insert(&rule.name.name, rule.name.span);
            }
            match self.rule(rule, &scope) {
                Some(rule) => rules.push(rule),
                None => ok = false,
            }
        }

        for (name, entry) in &scope.lets {
            if !entry.used.get() {
                self.error(
                    Diagnostic::warning("unused-let", format!("`{name}` is never used"))
                        .label(entry.span, "bound here")
                        .help("remove it, or use it in a rule"),
                );
            }
        }

        let events = rules
            .iter()
            .fold(Events::default(), |acc, r: &Rule| acc.with(r.event));

        // The scope is checked once its events are known: it may test only
        // facts that every event the policy decides carries.
        let scope_cond = match scope_expr {
            None => Cond::Const(true),
            Some((expr, _)) => match self.cond(
                expr,
                Context {
                    event: None,
                    scope: &scope,
                },
            ) {
                Some(cond) => {
                    let mut facts = Vec::new();
                    cond_facts(&cond, &mut facts);
                    for (fact, span) in facts {
                        let def = self.schema.def(fact);
                        let missing: Vec<&str> = Event::ALL
                            .into_iter()
                            .filter(|e| events.contains(*e) && !def.events.contains(*e))
                            .map(Event::name)
                            .collect();
                        if !missing.is_empty() {
                            self.error(
                                Diagnostic::error("wrong-event", format!("`for` tests `{}`, which `{}` events do not carry", def.name, missing.join("` and `")))
                                    .label(span, "not available on every event this policy decides")
                                    .help("a policy's `for` may test facts every one of its rules' events has, such as `device.*` and `time.*`"),
                            );
                            ok = false;
                        }
                    }
                    cond
                }
                None => {
                    ok = false;
                    Cond::Const(true)
                }
            },
        };
        let (mode, _) = mode?;
        let (on_error, _) = on_error?;
        let (default, default_span) = default?;
        ok.then(|| Policy {
            name: policy.name.value.clone(),
            mode,
            on_error,
            rules,
            default,
            events,
            scope: scope_cond,
            file,
            span: policy.span,
            default_span,
        })
    }

    fn set_once<T>(
        &mut self,
        slot: &mut Option<(T, Span)>,
        value: (T, Span),
        what: &str,
        ok: &mut bool,
    ) {
        if let Some((_, first)) = slot {
            self.error(
                Diagnostic::error("duplicate-setting", format!("`{what}` is set twice"))
                    .label(value.1, "set again here")
                    .label(*first, "first set here"),
            );
            *ok = false;
        } else {
            *slot = Some(value);
        }
    }

    /// Checks a verdict; `respond` is allowed when `event` is `dns`.
    fn verdict(&mut self, spec: &ast::VerdictSpec, event: Option<Event>) -> Option<Verdict> {
        let mut verdict = Verdict::new(spec.kind);
        let Some(respond) = &spec.respond else {
            return Some(verdict);
        };
        if event != Some(Event::Dns) {
            self.error(
                Diagnostic::error(
                    "respond-outside-dns",
                    "`respond` only applies to DNS answers",
                )
                .label(respond.span, "here")
                .help("use `respond` in rules `on dns` and in `default`"),
            );
            return None;
        }
        let mode = respond.mode.name.as_str();
        let response = match (mode, &respond.target) {
            ("nxdomain", None) => DnsResponse::NxDomain,
            ("nodata", None) => DnsResponse::NoData,
            ("refused", None) => DnsResponse::Refused,
            (
                "sinkhole",
                Some(Operand::Ip(text, span) | Operand::Str(ast::StrLit { value: text, span })),
            ) => match IpNet::parse(text) {
                Ok(net) if !text.contains('/') => DnsResponse::Sinkhole(net.addr),
                _ => {
                    self.error(
                        Diagnostic::error(
                            "bad-respond",
                            format!("`{text}` is not a sinkhole address"),
                        )
                        .label(
                            *span,
                            "expected one IPv4 address, or an IPv6 address in quotes",
                        ),
                    );
                    return None;
                }
            },
            ("sinkhole", _) => {
                self.error(
                    Diagnostic::error("bad-respond", "a sinkhole needs an address")
                        .label(respond.span, "here")
                        .help("write `respond sinkhole 0.0.0.0`"),
                );
                return None;
            }
            ("nxdomain" | "nodata" | "refused", Some(target)) => {
                self.error(
                    Diagnostic::error("bad-respond", format!("`respond {mode}` takes no address"))
                        .label(target.span(), "remove this"),
                );
                return None;
            }
            (other, _) => {
                let mut d =
                    Diagnostic::error("bad-respond", format!("unknown DNS response `{other}`"))
                        .label(
                            respond.mode.span,
                            "expected `nxdomain`, `nodata`, `refused` or `sinkhole ADDRESS`",
                        );
                if let Some(s) = did_you_mean(other, ["nxdomain", "nodata", "refused", "sinkhole"])
                {
                    d = d.help(format!("did you mean `{s}`?"));
                }
                self.error(d);
                return None;
            }
        };
        if spec.kind != ast::VerdictKind::Block {
            self.error(
                Diagnostic::error("bad-respond", "`respond` goes with `block`")
                    .label(respond.span, "here"),
            );
            return None;
        }
        verdict.respond = Some(response);
        Some(verdict)
    }

    fn rule(&mut self, rule: &ast::Rule, scope: &Scope<'_>) -> Option<Rule> {
        let event = match Event::from_name(&rule.event.name) {
            Some(event) => Some(event),
            None => {
                let mut d = Diagnostic::error(
                    "unknown-event",
                    format!("unknown event `{}`", rule.event.name),
                )
                .label(rule.event.span, "expected `flow`, `dns` or `url`");
                if let Some(s) = did_you_mean(&rule.event.name, ["flow", "dns", "url"]) {
                    d = d.help(format!("did you mean `{s}`?"));
                }
                self.error(d);
                None
            }
        };

        let mut ok = event.is_some();
        let mut when: Option<(Cond, Span)> = None;
        let mut then: Option<(Verdict, Span)> = None;
        let mut alerts = Vec::new();
        for item in &rule.body {
            match item {
                RuleItem::When(expr, span) => {
                    let cx = Context { event, scope };
                    match self.cond(expr, cx) {
                        Some(cond) => self.set_once(&mut when, (cond, *span), "when", &mut ok),
                        None => ok = false,
                    }
                }
                RuleItem::Then(spec, span) => match self.verdict(spec, event) {
                    Some(verdict) => self.set_once(&mut then, (verdict, *span), "then", &mut ok),
                    None => ok = false,
                },
                RuleItem::Alert(alert) => match Severity::from_name(&alert.severity.name) {
                    Some(severity) => alerts.push(Alert {
                        severity,
                        message: alert.message.value.clone(),
                    }),
                    None => {
                        let names = Severity::ALL.map(Severity::name);
                        let mut d = Diagnostic::error(
                            "unknown-severity",
                            format!("unknown severity `{}`", alert.severity.name),
                        )
                        .label(
                            alert.severity.span,
                            "expected `low`, `medium`, `high` or `critical`",
                        );
                        if let Some(s) = did_you_mean(&alert.severity.name, names) {
                            d = d.help(format!("did you mean `{s}`?"));
                        }
                        self.error(d);
                        ok = false;
                    }
                },
                RuleItem::Error(_) => ok = false,
            }
        }
        if then.is_none() && alerts.is_empty() && ok {
            self.error(
                Diagnostic::error(
                    "empty-rule",
                    format!("rule `{}` neither decides nor alerts", rule.name.name),
                )
                .label(rule.name.span, "this rule does nothing")
                .help("add `then allow`, `then block` or `then quarantine`, or an `alert`"),
            );
            ok = false;
        }
        let event = event?;
        if !ok {
            return None;
        }
        let mut verdict = then.map(|(v, _)| v);
        if let Some(v) = &mut verdict
            && event == Event::Dns
            && v.kind == ast::VerdictKind::Block
            && v.respond.is_none()
        {
            v.respond = Some(DnsResponse::NxDomain);
        }
        Some(Rule {
            name: rule.name.name.clone(),
            event,
            cond: when.map_or(Cond::Const(true), |(c, _)| c),
            verdict,
            alerts,
            span: rule.span,
            name_span: rule.name.span,
        })
    }

    // Conditions.

    fn cond(&mut self, expr: &Expr, cx: Context<'_, '_>) -> Option<Cond> {
        match expr {
            Expr::Or(a, b, _) => {
                let (a, b) = (self.cond(a, cx), self.cond(b, cx));
                Some(join(a?, b?, false))
            }
            Expr::And(a, b, _) => {
                let (a, b) = (self.cond(a, cx), self.cond(b, cx));
                Some(join(a?, b?, true))
            }
            Expr::Not(inner, _) => Some(Cond::Not(Box::new(self.cond(inner, cx)?))),
            Expr::Paren(inner, _) => self.cond(inner, cx),
            Expr::Exists(path, span) => {
                let fact = self.fact(path, cx.event)?;
                Some(Cond::Exists(fact, *span))
            }
            Expr::Operand(Operand::Bool(b, _)) => Some(Cond::Const(*b)),
            Expr::Operand(Operand::Path(path)) if self.is_fact_path(path) => {
                let fact = self.fact(path, cx.event)?;
                let def = self.schema.def(fact);
                if def.ty != Type::Bool {
                    self.error(
                        Diagnostic::error(
                            "not-a-condition",
                            format!(
                                "`{}` is {}, not a condition",
                                def.name,
                                def.ty.with_article()
                            ),
                        )
                        .label(path.span, "expected a yes-or-no fact here")
                        .help(format!("compare it, as `{} == ...`", def.name)),
                    );
                    return None;
                }
                Some(Cond::Test(FactTest {
                    fact,
                    op: TestOp::IsTrue,
                    span: path.span,
                }))
            }
            Expr::Operand(operand) => {
                self.error(
                    Diagnostic::error("not-a-condition", "expected a condition")
                        .label(operand.span(), "this is a value, not a condition")
                        .help("compare a fact with it, as `device.vendor == \"Acme\"`"),
                );
                None
            }
            Expr::Compare {
                lhs,
                op,
                op_span,
                rhs,
                span,
            } => self.compare(lhs, *op, *op_span, rhs, *span, cx),
        }
    }

    fn is_fact(&self, operand: &Operand) -> bool {
        matches!(operand, Operand::Path(p) if self.is_fact_path(p))
    }

    /// Facts are dotted names under a namespace: `dicom.called_ae` is a
    /// fact, while a lone `dicom` is a value (a protocol).
    fn is_fact_path(&self, path: &ast::Path) -> bool {
        path.segments.len() > 1
            && path
                .segments
                .first()
                .is_some_and(|s| self.schema.is_namespace(&s.name))
    }

    /// Resolves a path that names a fact, checking it is available on the
    /// event.
    fn fact(&mut self, path: &ast::Path, event: Option<Event>) -> Option<FactId> {
        let text = path.text();
        let Some(id) = self.schema.fact(&text) else {
            let mut d = Diagnostic::error("unknown-fact", format!("unknown fact `{text}`"))
                .label(path.span, "not in the fact schema");
            if let Some((_, question)) = text.split_once(".mds2.") {
                d = d.help(format!("`{question}` is not a question id of the 2019 MDS2 form; ids look like `AUTH-1` or `CONN-1.1`"));
            } else {
                let names = self
                    .schema
                    .facts()
                    .map(|(_, def)| def.name.as_str())
                    .filter(|n| !n.contains(".mds2."));
                match did_you_mean(&text, names) {
                    Some(s) => d = d.help(format!("did you mean `{s}`?")),
                    None => d = d.help("docs/language.md lists every fact"),
                }
            }
            self.error(d);
            return None;
        };
        let def = self.schema.def(id);
        if let Some(event) = event
            && !def.events.contains(event)
        {
            let on = def
                .events
                .names()
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(" and ");
            self.error(
                Diagnostic::error(
                    "wrong-event",
                    format!("`{text}` is not available on `{event}` events"),
                )
                .label(path.span, format!("the event here is `{event}`"))
                .help(format!(
                    "`{text}` is a fact of {on} events; move the test to a rule on that event"
                )),
            );
            return None;
        }
        Some(id)
    }

    fn compare(
        &mut self,
        lhs: &Operand,
        op: CmpOp,
        op_span: Span,
        rhs: &Operand,
        span: Span,
        cx: Context<'_, '_>,
    ) -> Option<Cond> {
        let (fact_side, value_side, op) = match (self.is_fact(lhs), self.is_fact(rhs)) {
            (true, true) => {
                self.error(
                    Diagnostic::error("fact-vs-fact", "comparing two facts is not supported")
                        .label(span, "both sides are facts")
                        .help("compare each fact with a value or a `let`"),
                );
                return None;
            }
            (true, false) => (lhs, rhs, op),
            (false, true) => match flip(op) {
                Some(flipped) => (rhs, lhs, flipped),
                None => {
                    self.error(
                        Diagnostic::error(
                            "fact-on-right",
                            format!("the fact goes on the left of `{}`", op.as_str()),
                        )
                        .label(rhs.span(), "move this to the left")
                        .label(op_span, ""),
                    );
                    return None;
                }
            },
            (false, false) => {
                self.error(
                    Diagnostic::error("no-fact", "a comparison needs a fact")
                        .label(span, "neither side is a fact")
                        .help("facts start with `device.`, `peer.`, `flow.`, `dns.`, `url.`, `time.` or a protocol such as `dicom.`"),
                );
                return None;
            }
        };
        let Operand::Path(path) = fact_side else {
            return None;
        };
        let fact = self.fact(path, cx.event)?;
        let def = self.schema.def(fact);
        let ty = def.ty.clone();
        let name = def.name.clone();

        let op = match (op, &ty) {
            (CmpOp::Eq | CmpOp::Ne, Type::Set(_)) => {
                self.error(
                    Diagnostic::error(
                        "bad-operator",
                        format!("`{name}` is a set; `{}` does not apply", op.as_str()),
                    )
                    .label(op_span, "")
                    .help(format!(
                        "test a set with `has`, `has any` or `has all`, as `{name} has any [...]`"
                    )),
                );
                return None;
            }
            (CmpOp::Eq | CmpOp::Ne, _) => {
                let value = self.scalar(value_side, &ty, cx)?;
                self.warn_out_of_domain(fact, &value, value_side.span(), op == CmpOp::Eq);
                if op == CmpOp::Eq {
                    TestOp::Eq(value)
                } else {
                    TestOp::Ne(value)
                }
            }
            (CmpOp::Lt | CmpOp::Le | CmpOp::Gt | CmpOp::Ge, Type::Int | Type::Version) => {
                let value = self.scalar(value_side, &ty, cx)?;
                self.warn_ordering(fact, op, &value, span);
                match op {
                    CmpOp::Lt => TestOp::Lt(value),
                    CmpOp::Le => TestOp::Le(value),
                    CmpOp::Gt => TestOp::Gt(value),
                    _ => TestOp::Ge(value),
                }
            }
            (CmpOp::Lt | CmpOp::Le | CmpOp::Gt | CmpOp::Ge, _) => {
                self.error(
                    Diagnostic::error(
                        "bad-operator",
                        format!("`{name}` is {}; it has no order", ty.with_article()),
                    )
                    .label(
                        op_span,
                        format!("`{}` compares integers and versions", op.as_str()),
                    )
                    .help("use `==`, `!=`, `in` or `matches`"),
                );
                return None;
            }
            (CmpOp::In, Type::Set(_)) => {
                self.error(
                    Diagnostic::error(
                        "bad-operator",
                        format!("`{name}` is a set; `in` does not apply"),
                    )
                    .label(op_span, "")
                    .help(format!(
                        "write `{name} has any [...]` or `{name} has all [...]`"
                    )),
                );
                return None;
            }
            (CmpOp::In, Type::Ip) => {
                let nets = self.nets(value_side, cx)?;
                if nets.is_empty() {
                    self.warn_empty(value_side.span(), false);
                }
                TestOp::InNets(nets)
            }
            (CmpOp::In, Type::Class) => {
                let values = self.values(value_side, &ty, cx)?;
                if values.is_empty() {
                    self.warn_empty(value_side.span(), false);
                }
                TestOp::Within(
                    values
                        .into_iter()
                        .filter_map(|v| {
                            if let Value::Class(c) = v {
                                Some(c)
                            } else {
                                None
                            }
                        })
                        .collect(),
                )
            }
            (CmpOp::In, Type::Int | Type::Enum(_))
                if matches!(
                    self.resolve_any(value_side, cx.scope),
                    Some(Operand::Range(..))
                ) =>
            {
                let Some(Operand::Range(lo, hi, range_span)) =
                    self.resolve_any(value_side, cx.scope)
                else {
                    return None;
                };
                self.range(fact, &ty, lo, hi, *range_span, cx)?
            }
            (CmpOp::In, _) => {
                let values = self.values(value_side, &ty, cx)?;
                if values.is_empty() {
                    self.warn_empty(value_side.span(), false);
                }
                for value in &values {
                    self.warn_out_of_domain(fact, value, value_side.span(), true);
                }
                TestOp::In(values)
            }
            (CmpOp::Matches, Type::Str | Type::Name) => {
                let values = self.values(value_side, &Type::Str, cx)?;
                let fold = ty == Type::Name;
                let globs: Vec<Glob> = values
                    .iter()
                    .filter_map(|v| {
                        if let Value::Str(s) = v {
                            Some(Glob::new(s, fold))
                        } else {
                            None
                        }
                    })
                    .collect();
                if globs.is_empty() {
                    self.warn_empty(value_side.span(), false);
                }
                TestOp::Matches(globs)
            }
            (CmpOp::Matches, _) => {
                self.error(
                    Diagnostic::error(
                        "bad-operator",
                        format!("`{name}` is {}; `matches` takes text", ty.with_article()),
                    )
                    .label(op_span, "")
                    .help("`matches` compares names and text with `*` and `?` patterns"),
                );
                return None;
            }
            (CmpOp::Has | CmpOp::HasAny | CmpOp::HasAll, Type::Set(elem)) => {
                let values = self.values(value_side, elem, cx)?;
                if values.is_empty() {
                    self.warn_empty(value_side.span(), op == CmpOp::HasAll);
                }
                if op == CmpOp::HasAll {
                    TestOp::HasAll(values)
                } else {
                    TestOp::HasAny(values)
                }
            }
            (CmpOp::Has | CmpOp::HasAny | CmpOp::HasAll, _) => {
                self.error(
                    Diagnostic::error(
                        "bad-operator",
                        format!("`{name}` is {}, not a set", ty.with_article()),
                    )
                    .label(op_span, format!("`{}` tests sets", op.as_str()))
                    .help(format!(
                        "write `{name} in [...]` to test membership in a list"
                    )),
                );
                return None;
            }
        };
        Some(Cond::Test(FactTest { fact, op, span }))
    }

    fn range(
        &mut self,
        fact: FactId,
        ty: &Type,
        lo: &Operand,
        hi: &Operand,
        span: Span,
        cx: Context<'_, '_>,
    ) -> Option<TestOp> {
        let (lo_v, hi_v) = (self.scalar(lo, ty, cx), self.scalar(hi, ty, cx));
        let (lo_n, hi_n) = match (lo_v?, hi_v?) {
            (Value::Int(a), Value::Int(b)) => (a, b),
            (Value::Enum(kind, a), Value::Enum(_, b)) if kind.is_cyclic() => {
                (i64::from(a), i64::from(b))
            }
            _ => {
                self.error(
                    Diagnostic::error(
                        "bad-range",
                        format!("`{}` has no ranges", self.schema.def(fact).name),
                    )
                    .label(span, "ranges are for integers and weekdays"),
                );
                return None;
            }
        };
        let def = self.schema.def(fact);
        let cyclic = def.name == "time.hour" || matches!(ty, Type::Enum(_));
        if lo_n > hi_n && !cyclic {
            self.error(
                Diagnostic::error("bad-range", format!("the range `{lo_n}..{hi_n}` is empty"))
                    .label(span, "the start is above the end")
                    .help("only hours and weekdays wrap around"),
            );
            return None;
        }
        // A range reaching past the fact's values is harmless; one wholly
        // outside them never matches.
        let domain = self.schema.def(fact).range;
        if let Some((dlo, dhi)) = domain
            && lo_n <= hi_n
            && (hi_n < dlo || lo_n > dhi)
        {
            self.error(
                Diagnostic::warning("always-false", "this range is always false").label(
                    span,
                    format!(
                        "`{}` ranges from {dlo} to {dhi}",
                        self.schema.def(fact).name
                    ),
                ),
            );
        }
        Some(TestOp::InRange { lo: lo_n, hi: hi_n })
    }

    /// A value or list of values of type `ty`, lets expanded.
    fn values(&mut self, operand: &Operand, ty: &Type, cx: Context<'_, '_>) -> Option<Vec<Value>> {
        let scope: &Scope<'_> = cx.scope;
        let Some(resolved) = self.resolve_any(operand, scope) else {
            self.let_cycle(operand.span());
            return None;
        };
        match resolved {
            Operand::List(items, _) => {
                let mut out = Vec::new();
                let mut ok = true;
                for item in items {
                    match self.resolve_any(item, scope) {
                        Some(Operand::List(inner, _)) => {
                            for inner_item in inner {
                                match self.scalar(inner_item, ty, cx) {
                                    Some(v) => out.push(v),
                                    None => ok = false,
                                }
                            }
                        }
                        Some(_) => match self.scalar(item, ty, cx) {
                            Some(v) => out.push(v),
                            None => ok = false,
                        },
                        None => {
                            self.let_cycle(item.span());
                            ok = false;
                        }
                    }
                }
                value::dedup(&mut out);
                ok.then_some(out)
            }
            _ => self.scalar(resolved, ty, cx).map(|v| vec![v]),
        }
    }

    /// Follows a single name to the `let` it names, if it names one; `None`
    /// when lets refer to each other in a cycle.
    fn resolve_any<'o>(&self, operand: &'o Operand, scope: &Scope<'o>) -> Option<&'o Operand> {
        let mut at = operand;
        for _ in 0..MAX_LET_DEPTH {
            match at {
                Operand::Path(path) if path.segments.len() == 1 => {
                    let Some(entry) = path
                        .segments
                        .first()
                        .and_then(|s| scope.lets.get(s.name.as_str()))
                    else {
                        return Some(at);
                    };
                    entry.used.set(true);
                    at = entry.value;
                }
                _ => return Some(at),
            }
        }
        None
    }

    fn let_cycle(&mut self, span: Span) {
        self.error(
            Diagnostic::error("let-cycle", "this `let` refers to itself").label(
                span,
                format!("followed more than {MAX_LET_DEPTH} lets from here"),
            ),
        );
    }

    /// Address networks for `in` on an address fact.
    fn nets(&mut self, operand: &Operand, cx: Context<'_, '_>) -> Option<Vec<IpNet>> {
        let Some(resolved) = self.resolve_any(operand, cx.scope) else {
            self.let_cycle(operand.span());
            return None;
        };
        let items: Vec<&Operand> = match resolved {
            Operand::List(items, _) => items.iter().collect(),
            single => vec![single],
        };
        let mut nets = Vec::new();
        let mut ok = true;
        for item in items {
            let item = self.resolve_any(item, cx.scope).unwrap_or(item);
            let nested: Vec<&Operand> = match item {
                Operand::List(inner, _) => inner.iter().collect(),
                single => vec![single],
            };
            for leaf in nested {
                match leaf {
                    Operand::Ip(text, span) | Operand::Str(ast::StrLit { value: text, span }) => {
                        match IpNet::parse(text) {
                            Ok(net) => {
                                if net.has_host_bits() {
                                    self.error(
                                    Diagnostic::warning("host-bits", format!("`{text}` has host bits set"))
                                        .label(*span, format!("this is the network {}/{}", net.network(), net.prefix))
                                        .help("write the network address, or drop the prefix for a single host"),
                                );
                                }
                                nets.push(net);
                            }
                            Err(message) => {
                                self.error(
                                    Diagnostic::error("bad-address", message).label(*span, "here"),
                                );
                                ok = false;
                            }
                        }
                    }
                    other => {
                        self.type_mismatch(other, &Type::Ip);
                        ok = false;
                    }
                }
            }
        }
        ok.then_some(nets)
    }

    /// One value of type `ty` from a literal, a name or a let.
    fn scalar(&mut self, operand: &Operand, ty: &Type, cx: Context<'_, '_>) -> Option<Value> {
        let Some(resolved) = self.resolve_any(operand, cx.scope) else {
            self.let_cycle(operand.span());
            return None;
        };
        match (ty, resolved) {
            (Type::Bool, Operand::Bool(b, _)) => Some(Value::Bool(*b)),
            (Type::Int, Operand::Int(n, _)) => Some(Value::Int(*n)),
            (Type::Str, Operand::Str(s)) => Some(Value::Str(s.value.clone())),
            (Type::Name, Operand::Str(s)) => Some(Value::Str(normalize_name(&s.value))),
            (Type::Version, Operand::Str(s)) => self.version(&s.value, s.span),
            (Type::Version, Operand::Int(n, span)) => self.version(&n.to_string(), *span),
            (
                Type::Ip,
                Operand::Ip(text, span) | Operand::Str(ast::StrLit { value: text, span }),
            ) => match text.parse::<std::net::IpAddr>() {
                Ok(ip) => Some(Value::Ip(ip.to_canonical())),
                Err(_) => {
                    let help = if text.contains('/') {
                        "a network goes with `in`, as `peer.ip in 10.0.0.0/8`"
                    } else {
                        "write an address such as `10.20.0.10` or `\"fd00::1\"`"
                    };
                    self.error(
                        Diagnostic::error("bad-address", format!("`{text}` is not an address"))
                            .label(*span, "here")
                            .help(help),
                    );
                    None
                }
            },
            (Type::Enum(kind), Operand::Path(_) | Operand::Str(_)) if !self.is_fact(resolved) => {
                let (word, span) = match resolved {
                    Operand::Path(p) => (p.text(), p.span),
                    Operand::Str(s) => (s.value.clone(), s.span),
                    _ => return None,
                };
                match kind.index(&word) {
                    Some(i) => Some(Value::Enum(*kind, i)),
                    None => {
                        let mut d = Diagnostic::error(
                            "unknown-value",
                            format!("`{word}` is not {}", Type::Enum(*kind).with_article()),
                        )
                        .label(
                            span,
                            format!("expected one of: {}", kind.variants().join(", ")),
                        );
                        if let Some(s) = did_you_mean(&word, kind.variants().iter().copied()) {
                            d = d.help(format!("did you mean `{s}`?"));
                        }
                        self.error(d);
                        None
                    }
                }
            }
            (Type::Class, Operand::Path(path)) if !self.is_fact_path(path) => {
                self.class(&path.text(), path.span)
            }
            (Type::Class, Operand::Str(s)) => self.class(&s.value, s.span),
            (Type::Category, Operand::Path(path)) if !self.is_fact_path(path) => {
                self.category(&path.text(), path.span)
            }
            (Type::Category, Operand::Str(s)) => self.category(&s.value, s.span),
            (_, Operand::Path(path)) if self.is_fact_path(path) => {
                self.error(
                    Diagnostic::error("fact-vs-fact", "comparing two facts is not supported")
                        .label(path.span, "this is a fact")
                        .help("compare the fact with a value or a `let`"),
                );
                None
            }
            (_, other) => {
                self.type_mismatch(other, ty);
                None
            }
        }
    }

    fn version(&mut self, text: &str, span: Span) -> Option<Value> {
        match Version::parse(text) {
            Some(v) => Some(Value::Version(v)),
            None => {
                self.error(
                    Diagnostic::error("bad-version", format!("`{text}` is not a version"))
                        .label(span, "expected dotted numbers, as \"10.0.19041\""),
                );
                None
            }
        }
    }

    fn class(&mut self, name: &str, span: Span) -> Option<Value> {
        match self.schema.taxonomy.get(name) {
            Some(id) => Some(Value::Class(id)),
            None => {
                let mut d =
                    Diagnostic::error("unknown-class", format!("unknown device class `{name}`"))
                        .label(span, "not in the taxonomy");
                d = match did_you_mean(name, self.schema.taxonomy.names()) {
                    Some(s) => d.help(format!("did you mean `{s}`? New classes can be declared in `ward.toml` under `classes`")),
                    None => d.help("docs/language.md lists the taxonomy; new classes can be declared in `ward.toml` under `classes`"),
                };
                self.error(d);
                None
            }
        }
    }

    fn category(&mut self, name: &str, span: Span) -> Option<Value> {
        match self.schema.categories.get(name) {
            Some(id) => Some(Value::Category(id)),
            None => {
                let mut d =
                    Diagnostic::error("unknown-category", format!("unknown category `{name}`"))
                        .label(span, "not a known category");
                d = match did_you_mean(name, self.schema.categories.names()) {
                    Some(s) => d.help(format!("did you mean `{s}`? New categories can be declared in `ward.toml` under `categories`")),
                    None => d.help("new categories can be declared in `ward.toml` under `categories`"),
                };
                self.error(d);
                None
            }
        }
    }

    fn type_mismatch(&mut self, operand: &Operand, ty: &Type) {
        let found = match operand {
            Operand::Path(p) => format!("the name `{}`", p.text()),
            Operand::Str(_) => "a string".to_owned(),
            Operand::Int(..) => "a number".to_owned(),
            Operand::Ip(..) => "an address".to_owned(),
            Operand::Bool(..) => "`true` or `false`".to_owned(),
            Operand::List(..) => "a list".to_owned(),
            Operand::Range(..) => "a range".to_owned(),
        };
        let help = match (ty, operand) {
            (Type::Str | Type::Name, Operand::Path(p)) => {
                format!("text goes in quotes: `\"{}\"`", p.text())
            }
            (_, Operand::Path(p)) if p.segments.len() == 1 => {
                format!(
                    "`{}` is not a `let` of this policy, nor {}",
                    p.text(),
                    ty.with_article()
                )
            }
            (_, Operand::List(..)) => "a list goes with `in`, `matches` or `has any`".to_owned(),
            (_, Operand::Range(..)) => "a range goes with `in`, as `time.hour in 8..17`".to_owned(),
            _ => format!("expected {}", ty.with_article()),
        };
        self.error(
            Diagnostic::error(
                "type-mismatch",
                format!("expected {}, found {found}", ty.with_article()),
            )
            .label(
                operand.span(),
                format!("this should be {}", ty.with_article()),
            )
            .help(help),
        );
    }

    fn warn_empty(&mut self, span: Span, always_true: bool) {
        let (message, label) = if always_true {
            ("`has all` of an empty list is always true", "empty")
        } else {
            ("this test of an empty list is always false", "empty")
        };
        self.error(Diagnostic::warning("always-false", message).label(span, label));
    }

    /// Warns where an `==` or `in` value can never occur for the fact.
    fn warn_out_of_domain(&mut self, fact: FactId, value: &Value, span: Span, equality: bool) {
        let def = self.schema.def(fact);
        let reason = match value {
            Value::Int(n) => match def.range {
                Some((lo, hi)) if *n < lo || *n > hi => {
                    Some(format!("`{}` ranges from {lo} to {hi}", def.name))
                }
                _ => None,
            },
            Value::Str(s) => match def.max_len {
                Some(max) if s.chars().count() > max => {
                    Some(format!("`{}` is at most {max} characters long", def.name))
                }
                _ => None,
            },
            _ => None,
        };
        if let Some(reason) = reason {
            let message = if equality {
                "this comparison is always false"
            } else {
                "this comparison is always true"
            };
            self.error(Diagnostic::warning("always-false", message).label(span, reason));
        }
    }

    fn warn_ordering(&mut self, fact: FactId, op: CmpOp, value: &Value, span: Span) {
        let def = self.schema.def(fact);
        let (Some((lo, hi)), Value::Int(n)) = (def.range, value) else {
            return;
        };
        let never = match op {
            CmpOp::Lt => *n <= lo,
            CmpOp::Le => *n < lo,
            CmpOp::Gt => *n >= hi,
            CmpOp::Ge => *n > hi,
            _ => false,
        };
        if never {
            self.error(
                Diagnostic::warning("always-false", "this comparison is always false")
                    .label(span, format!("`{}` ranges from {lo} to {hi}", def.name)),
            );
        }
    }

    // Tests.

    fn test(
        &mut self,
        file: FileId,
        test: &ast::Test,
        own: &[usize],
        rule_names: Option<&[String]>,
        has_monitor: bool,
    ) -> Option<Test> {
        let mut ok = true;
        let mut event: Option<Event> = None;
        let mut written_expects = Vec::new();
        let mut givens = Vec::new();
        let mut expects = Vec::new();
        for item in &test.body {
            match item {
                TestItem::Given(list, _) => {
                    for given in list {
                        if given.fact.text() == "event" {
                            let Operand::Path(p) = &given.value else {
                                self.type_mismatch(&given.value, &Type::Str);
                                ok = false;
                                continue;
                            };
                            match Event::from_name(&p.text()) {
                                Some(e) if event.is_none() => event = Some(e),
                                Some(_) => {
                                    self.error(
                                        Diagnostic::error(
                                            "duplicate-given",
                                            "`event` is given twice",
                                        )
                                        .label(given.span, "here"),
                                    );
                                    ok = false;
                                }
                                None => {
                                    self.error(
                                        Diagnostic::error(
                                            "unknown-event",
                                            format!("unknown event `{}`", p.text()),
                                        )
                                        .label(p.span, "expected `flow`, `dns` or `url`"),
                                    );
                                    ok = false;
                                }
                            }
                        } else {
                            givens.push(given);
                        }
                    }
                }
                TestItem::Expect(expect) => written_expects.push(expect),
                TestItem::Error(_) => ok = false,
            }
        }
        let Some(event) = event else {
            self.error(
                Diagnostic::error(
                    "test-without-event",
                    format!("test `{}` does not say which event it is", test.name.value),
                )
                .label(test.name.span, "")
                .help("start its `given` line with `event flow`, `event dns` or `event url`"),
            );
            return None;
        };
        for expect in written_expects {
            match self.expectation(expect, event, rule_names.unwrap_or_default(), has_monitor) {
                Some(e) => expects.push(e),
                None => ok = false,
            }
        }
        if expects
            .iter()
            .all(|e| !matches!(e, Expectation::Verdict { .. }))
            && ok
        {
            self.error(
                Diagnostic::error(
                    "test-without-expect",
                    format!("test `{}` expects no verdict", test.name.value),
                )
                .label(test.name.span, "")
                .help("add `expect allow`, `expect block` or `expect quarantine`"),
            );
            ok = false;
        }
        if rule_names.is_none() {
            self.error(
                Diagnostic::error("test-without-policy", format!("test `{}` has no policy to test", test.name.value))
                    .label(test.name.span, "")
                    .help("a test evaluates the policies of its own file; put it beside the policy it tests"),
            );
            ok = false;
        }

        let mut facts = Facts::new(event);
        let scope = Scope::default();
        let cx = Context {
            event: Some(event),
            scope: &scope,
        };
        for given in givens {
            let Some(fact) = self.fact(&given.fact, Some(event)) else {
                ok = false;
                continue;
            };
            let ty = self.schema.def(fact).ty.clone();
            let value = match &ty {
                Type::Set(elem) => self.values(&given.value, elem, cx).map(Value::Set),
                Type::Class => match &given.value {
                    Operand::Path(p) => self.class(&p.text(), p.span),
                    Operand::Str(s) => value::class_value(self.schema, &s.value)
                        .ok()
                        .or_else(|| self.class(&s.value, s.span)),
                    other => self.scalar(other, &ty, cx),
                },
                _ => self.scalar(&given.value, &ty, cx),
            };
            let Some(value) = value else {
                ok = false;
                continue;
            };
            let value = match value::within_range(self.schema.def(fact), value) {
                Ok(value) => value,
                Err(message) => {
                    self.error(
                        Diagnostic::error("impossible-given", message)
                            .label(
                                given.value.span(),
                                format!("`{}` never takes this value", given.fact.text()),
                            )
                            .help("a test of a value the gateway can never see proves nothing"),
                    );
                    ok = false;
                    continue;
                }
            };
            if facts.values.insert(fact, value).is_some() {
                self.error(
                    Diagnostic::error(
                        "duplicate-given",
                        format!("`{}` is given twice", given.fact.text()),
                    )
                    .label(given.span, "given again here"),
                );
                ok = false;
            }
        }
        ok.then(|| Test {
            name: test.name.value.clone(),
            facts,
            expects,
            policies: own.to_vec(),
            file,
            span: test.span,
        })
    }

    fn expectation(
        &mut self,
        expect: &ast::Expect,
        event: Event,
        rule_names: &[String],
        has_monitor: bool,
    ) -> Option<Expectation> {
        match expect {
            ast::Expect::Verdict {
                would,
                verdict,
                by,
                span,
            } => {
                let verdict = self.verdict(verdict, Some(event))?;
                if *would && !has_monitor {
                    self.error(
                        Diagnostic::error("would-without-monitor", "`expect would` tests a monitor-mode policy, and this file has none")
                            .label(expect.span(), "this expectation could never fail")
                            .help("`would` names what monitor-mode policies would have done; for enforcing policies write `expect VERDICT`"),
                    );
                    return None;
                }
                if let Some(by) = by {
                    let known = by.name == "default" || rule_names.contains(&by.name);
                    if !known {
                        let names = rule_names.iter().map(String::as_str);
                        let mut d = Diagnostic::error(
                            "unknown-rule",
                            format!("no rule `{}` in this file's policies", by.name),
                        )
                        .label(by.span, "");
                        if let Some(s) = did_you_mean(&by.name, names) {
                            d = d.help(format!("did you mean `{s}`?"));
                        }
                        self.error(d);
                        return None;
                    }
                }
                Some(Expectation::Verdict {
                    would: *would,
                    verdict,
                    by: by.as_ref().map(|b| b.name.clone()),
                    span: *span,
                })
            }
            ast::Expect::Alert {
                severity,
                message,
                span,
            } => {
                let Some(level) = Severity::from_name(&severity.name) else {
                    self.error(
                        Diagnostic::error(
                            "unknown-severity",
                            format!("unknown severity `{}`", severity.name),
                        )
                        .label(
                            severity.span,
                            "expected `low`, `medium`, `high` or `critical`",
                        ),
                    );
                    return None;
                };
                Some(Expectation::Alert {
                    severity: level,
                    message: message.as_ref().map(|m| m.value.clone()),
                    span: *span,
                })
            }
        }
    }
}

fn join(a: Cond, b: Cond, and: bool) -> Cond {
    let mut items = Vec::new();
    for c in [a, b] {
        match c {
            Cond::And(inner) if and => items.extend(inner),
            Cond::Or(inner) if !and => items.extend(inner),
            other => items.push(other),
        }
    }
    if and {
        Cond::And(items)
    } else {
        Cond::Or(items)
    }
}

/// The operator with its sides swapped: `5 < x` is `x > 5`.
fn flip(op: CmpOp) -> Option<CmpOp> {
    Some(match op {
        CmpOp::Eq => CmpOp::Eq,
        CmpOp::Ne => CmpOp::Ne,
        CmpOp::Lt => CmpOp::Gt,
        CmpOp::Le => CmpOp::Ge,
        CmpOp::Gt => CmpOp::Lt,
        CmpOp::Ge => CmpOp::Le,
        _ => return None,
    })
}

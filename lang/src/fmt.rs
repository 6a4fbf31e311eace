//! The formatter: one canonical layout for every policy file.
//!
//! Two spaces of indent; one item per line; a blank line between top-level
//! items, and between policy items where the author left one; rule and test
//! bodies compact. A `when` that does not fit in [`WIDTH`] columns breaks
//! before each top-level `and`/`or`, the keyword right-aligned under
//! `when`; long lists break one element per line. Comments stay with the
//! statement they precede, or at the end of the line they trail.
//! Formatting twice changes nothing, and never changes the syntax tree.

use crate::ast::{
    AlertSpec, Expect, Expr, Given, Item, Operand, Policy, PolicyItem, Rule, RuleItem, SourceTree,
    Test, TestItem, VerdictSpec,
};
use crate::diag::Diagnostic;
use crate::lexer::Comment;
use crate::parse::parse_file;
use crate::span::{FileId, Span};

pub const WIDTH: usize = 100;

/// Formats a source text; refuses text with syntax errors.
pub fn format_source(text: &str) -> Result<String, Vec<Diagnostic>> {
    let parsed = parse_file(FileId(0), text);
    match parsed.tree {
        Some(tree) if !parsed.has_errors() => Ok(format_tree(&tree, &parsed.comments, text)),
        _ => Err(parsed.diagnostics),
    }
}

/// Formats a parsed tree; `text` is the source it came from, used only to
/// see where the author left blank lines and where comments sit.
pub fn format_tree(tree: &SourceTree, comments: &[Comment], text: &str) -> String {
    let mut printer = Printer {
        out: String::new(),
        comments,
        next_comment: 0,
        text,
    };
    for (i, item) in tree.items.iter().enumerate() {
        if i > 0 {
            printer.out.push('\n');
        }
        printer.leading_comments(item.span().start, 0);
        match item {
            Item::Policy(policy) => printer.policy(policy),
            Item::Test(test) => printer.test(test),
        }
    }
    let remaining = printer.comments.len();
    if printer.next_comment < remaining && !tree.items.is_empty() {
        printer.out.push('\n');
    }
    printer.leading_comments(usize::MAX, 0);
    printer.out
}

struct Printer<'a> {
    out: String,
    comments: &'a [Comment],
    next_comment: usize,
    text: &'a str,
}

impl Printer<'_> {
    fn line(&mut self, indent: usize, content: &str) {
        self.out.push_str(&" ".repeat(indent));
        self.out.push_str(content);
        self.out.push('\n');
    }

    /// Emits, on their own lines, the comments that start before `pos`.
    fn leading_comments(&mut self, pos: usize, indent: usize) {
        while let Some(comment) = self.comments.get(self.next_comment) {
            if comment.span.start >= pos {
                break;
            }
            self.line(indent, &format!("#{}", comment.text));
            self.next_comment += 1;
        }
    }

    /// Prints a statement that has no statements inside: comments inside it
    /// move before it, and one comment trailing its last line stays there.
    fn leaf(&mut self, indent: usize, span: Span, lines: &[String]) {
        let line_end = self
            .text
            .get(span.end..)
            .and_then(|rest| rest.find('\n'))
            .map_or(usize::MAX, |n| span.end + n);
        let mut trailing = None;
        let mut hoisted = Vec::new();
        while let Some(comment) = self.comments.get(self.next_comment) {
            if comment.span.start >= line_end {
                break;
            }
            if comment.span.start >= span.end && comment.trailing && trailing.is_none() {
                trailing = Some(comment);
            } else {
                hoisted.push(comment);
            }
            self.next_comment += 1;
        }
        for comment in hoisted {
            self.line(indent, &format!("#{}", comment.text));
        }
        let last = lines.len().saturating_sub(1);
        for (i, content) in lines.iter().enumerate() {
            match trailing {
                Some(comment) if i == last => {
                    self.line(indent, &format!("{content} #{}", comment.text))
                }
                _ => self.line(indent, content),
            }
        }
    }

    /// Whether the author left a blank line between `prev_end` and `start`.
    fn blank_between(&self, prev_end: usize, start: usize) -> bool {
        self.text.get(prev_end..start).is_some_and(|between| {
            between
                .split('\n')
                .skip(1)
                .collect::<Vec<_>>()
                .split_last()
                .is_some_and(|(_, middle)| middle.iter().any(|line| line.trim().is_empty()))
        })
    }

    fn policy(&mut self, policy: &Policy) {
        self.line(0, &format!("policy {} {{", string(&policy.name.value)));
        let mut prev_end = None;
        for item in &policy.items {
            let span = item.span();
            if let Some(end) = prev_end
                && self.blank_between(end, span.start)
            {
                self.out.push('\n');
            }
            self.leading_comments(span.start, 2);
            match item {
                PolicyItem::Mode(mode, _) => self.leaf(2, span, &[format!("mode {}", mode.name)]),
                PolicyItem::OnError(verdict, _) => {
                    self.leaf(2, span, &[format!("on error {}", verdict_text(verdict))])
                }
                PolicyItem::Scope(e, _) => {
                    let lines = condition_lines("for", e, 2);
                    self.leaf(2, span, &lines);
                }
                PolicyItem::Default(verdict, _) => {
                    self.leaf(2, span, &[format!("default {}", verdict_text(verdict))])
                }
                PolicyItem::Let(binding) => {
                    let head = format!("let {} = ", binding.name.name);
                    let lines = operand_lines(&head, &binding.value, 2);
                    self.leaf(2, span, &lines);
                }
                PolicyItem::Rule(rule) => self.rule(rule),
                PolicyItem::Error(_) => {}
            }
            prev_end = Some(span.end);
        }
        self.leading_comments(policy.span.end, 2);
        self.line(0, "}");
    }

    fn rule(&mut self, rule: &Rule) {
        self.line(
            2,
            &format!("rule {} on {} {{", rule.name.name, rule.event.name),
        );
        for item in &rule.body {
            let span = item.span();
            self.leading_comments(span.start, 4);
            match item {
                RuleItem::When(expr, _) => {
                    let lines = when_lines(expr, 4);
                    self.leaf(4, span, &lines);
                }
                RuleItem::Then(verdict, _) => {
                    self.leaf(4, span, &[format!("then {}", verdict_text(verdict))])
                }
                RuleItem::Alert(alert) => self.leaf(4, span, &[alert_text(alert)]),
                RuleItem::Error(_) => {}
            }
        }
        self.leading_comments(rule.span.end, 4);
        self.line(2, "}");
    }

    fn test(&mut self, test: &Test) {
        self.line(0, &format!("test {} {{", string(&test.name.value)));
        for item in &test.body {
            let span = item.span();
            self.leading_comments(span.start, 2);
            match item {
                TestItem::Given(givens, _) => {
                    let lines = given_lines(givens, 2);
                    self.leaf(2, span, &lines);
                }
                TestItem::Expect(expect) => self.leaf(2, span, &[expect_text(expect)]),
                TestItem::Error(_) => {}
            }
        }
        self.leading_comments(test.span.end, 2);
        self.line(0, "}");
    }
}

fn string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn verdict_text(verdict: &VerdictSpec) -> String {
    let mut text = verdict.kind.name().to_owned();
    if let Some(respond) = &verdict.respond {
        text.push_str(" respond ");
        text.push_str(&respond.mode.name);
        if let Some(target) = &respond.target {
            text.push(' ');
            text.push_str(&operand(target));
        }
    }
    text
}

fn alert_text(alert: &AlertSpec) -> String {
    format!(
        "alert {} {}",
        alert.severity.name,
        string(&alert.message.value)
    )
}

fn expect_text(expect: &Expect) -> String {
    match expect {
        Expect::Verdict {
            would, verdict, by, ..
        } => {
            let mut text = String::from("expect ");
            if *would {
                text.push_str("would ");
            }
            text.push_str(&verdict_text(verdict));
            if let Some(by) = by {
                text.push_str(" by ");
                text.push_str(&by.name);
            }
            text
        }
        Expect::Alert {
            severity, message, ..
        } => match message {
            Some(m) => format!("expect alert {} {}", severity.name, string(&m.value)),
            None => format!("expect alert {}", severity.name),
        },
    }
}

pub fn operand(op: &Operand) -> String {
    match op {
        Operand::Path(p) => p.text(),
        Operand::Str(s) => string(&s.value),
        Operand::Int(n, _) => n.to_string(),
        Operand::Ip(ip, _) => ip.clone(),
        Operand::Bool(b, _) => b.to_string(),
        Operand::List(items, _) => {
            let items: Vec<String> = items.iter().map(operand).collect();
            format!("[{}]", items.join(", "))
        }
        Operand::Range(a, b, _) => format!("{}..{}", operand(a), operand(b)),
    }
}

/// An operand after `head`, broken one list element per line when long.
fn operand_lines(head: &str, op: &Operand, indent: usize) -> Vec<String> {
    let flat = format!("{head}{}", operand(op));
    match op {
        Operand::List(items, _) if indent + flat.len() > WIDTH && !items.is_empty() => {
            let mut lines = vec![format!("{head}[")];
            lines.extend(items.iter().map(|item| format!("  {},", operand(item))));
            lines.push("]".to_owned());
            lines
        }
        _ => vec![flat],
    }
}

pub fn expr(e: &Expr) -> String {
    match e {
        Expr::Or(a, b, _) => format!("{} or {}", expr(a), expr(b)),
        Expr::And(a, b, _) => format!("{} and {}", expr(a), expr(b)),
        Expr::Not(inner, _) => format!("not {}", expr(inner)),
        Expr::Exists(path, _) => format!("exists {}", path.text()),
        Expr::Paren(inner, _) => format!("({})", expr(inner)),
        Expr::Compare { lhs, op, rhs, .. } => {
            format!("{} {} {}", operand(lhs), op.as_str(), operand(rhs))
        }
        Expr::Operand(op) => operand(op),
    }
}

/// `when EXPR`, broken before top-level `and`/`or` when it is too long.
fn when_lines(e: &Expr, indent: usize) -> Vec<String> {
    condition_lines("when", e, indent)
}

/// `KEYWORD EXPR`, broken before top-level `and`/`or` when it is too long,
/// each operator right-aligned with the keyword.
fn condition_lines(lead: &str, e: &Expr, indent: usize) -> Vec<String> {
    let flat = format!("{lead} {}", expr(e));
    if indent + flat.len() <= WIDTH {
        return vec![flat];
    }
    let (keyword, parts) = match e {
        Expr::Or(..) => ("or", chain(e, true)),
        Expr::And(..) => ("and", chain(e, false)),
        _ => return vec![flat],
    };
    let mut lines = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            lines.push(format!("{lead} {}", expr(part)));
        } else {
            let pad = " ".repeat(lead.len().saturating_sub(keyword.len()));
            lines.push(format!("{pad}{keyword} {}", expr(part)));
        }
    }
    lines
}

/// The operands of a left-nested chain of one operator.
fn chain(e: &Expr, or: bool) -> Vec<&Expr> {
    match (e, or) {
        (Expr::Or(a, b, _), true) | (Expr::And(a, b, _), false) => {
            let mut parts = chain(a, or);
            parts.push(b);
            parts
        }
        _ => vec![e],
    }
}

/// `given a x, b y`, wrapped after commas, continuations aligned.
fn given_lines(givens: &[Given], indent: usize) -> Vec<String> {
    let items: Vec<String> = givens
        .iter()
        .map(|g| format!("{} {}", g.fact.text(), operand(&g.value)))
        .collect();
    let mut lines: Vec<String> = Vec::new();
    let mut current = String::from("given ");
    let continuation = " ".repeat("given ".len());
    for (i, item) in items.iter().enumerate() {
        let piece = if i + 1 < items.len() {
            format!("{item},")
        } else {
            item.clone()
        };
        let fresh = current.trim().is_empty() || current == "given ";
        if !fresh && indent + current.len() + 1 + piece.len() > WIDTH {
            lines.push(current.trim_end().to_owned());
            current = continuation.clone();
        } else if !fresh {
            current.push(' ');
        }
        current.push_str(&piece);
    }
    lines.push(current);
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: &str) {
        let once = format_source(input).unwrap();
        assert_eq!(once, expected);
        assert_eq!(
            format_source(&once).unwrap(),
            once,
            "formatting twice changed the text"
        );
    }

    #[test]
    fn canonical_layout() {
        check(
            "policy \"p\" { mode enforce on error block\n\n\n let x = [1.2.3.4,   10.0.0.0/8]\n rule r on dns { when dns.qname == \"a.b\" then block respond nxdomain alert low \"m\" } default allow }\ntest \"t\" { given event dns, dns.qname \"a.b\" expect block by r }",
            "policy \"p\" {\n  mode enforce\n  on error block\n\n  let x = [1.2.3.4, 10.0.0.0/8]\n  rule r on dns {\n    when dns.qname == \"a.b\"\n    then block respond nxdomain\n    alert low \"m\"\n  }\n  default allow\n}\n\ntest \"t\" {\n  given event dns, dns.qname \"a.b\"\n  expect block by r\n}\n",
        );
    }

    #[test]
    fn comments_stay_with_their_statements() {
        check(
            "# head\npolicy \"p\" {\n  # about mode\n  mode monitor # trailing\n  on error allow\n  rule r on flow {\n    then allow # why\n    # end of rule\n  }\n  default allow\n  # end of policy\n}\n# tail\n",
            "# head\npolicy \"p\" {\n  # about mode\n  mode monitor # trailing\n  on error allow\n  rule r on flow {\n    then allow # why\n    # end of rule\n  }\n  default allow\n  # end of policy\n}\n\n# tail\n",
        );
    }

    #[test]
    fn long_conditions_break_before_operators() {
        let long = "policy \"p\" { mode enforce on error block rule r on flow { when device.class in imaging and flow.protocol == dicom and not (peer.ip in [10.20.0.10] and dicom.called_ae matches [\"PACS_*\"]) then block } default allow }";
        let out = format_source(long).unwrap();
        assert!(
            out.contains(
                "    when device.class in imaging\n     and flow.protocol == dicom\n     and not ("
            ),
            "{out}"
        );
        assert_eq!(format_source(&out).unwrap(), out);
    }

    #[test]
    fn strings_are_escaped() {
        check(
            "test \"a \\\"b\\\"\" { given event url expect allow }",
            "test \"a \\\"b\\\"\" {\n  given event url\n  expect allow\n}\n",
        );
    }
}

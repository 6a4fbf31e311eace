//! The syntax tree: what the parser produces, every node with its span.
//!
//! Names are not resolved here: a path such as `imaging.ct` may turn out to
//! be a fact, a `let`, a taxonomy class or an enum value; the checker
//! decides from the types around it.

use crate::span::{FileId, Span};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceTree {
    pub file: FileId,
    pub items: Vec<Item>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Policy(Policy),
    Test(Test),
}

impl Item {
    pub fn span(&self) -> Span {
        match self {
            Item::Policy(p) => p.span,
            Item::Test(t) => t.span,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StrLit {
    pub value: String,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub name: StrLit,
    pub items: Vec<PolicyItem>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyItem {
    Mode(Ident, Span),
    OnError(VerdictSpec, Span),
    Let(Let),
    Rule(Rule),
    Default(VerdictSpec, Span),
    /// `for CONDITION`: the events the policy has a say on.
    Scope(Expr, Span),
    /// Where the parser recovered from a syntax error.
    Error(Span),
}

impl PolicyItem {
    pub fn span(&self) -> Span {
        match self {
            PolicyItem::Mode(_, span)
            | PolicyItem::OnError(_, span)
            | PolicyItem::Default(_, span)
            | PolicyItem::Scope(_, span)
            | PolicyItem::Error(span) => *span,
            PolicyItem::Let(l) => l.span,
            PolicyItem::Rule(r) => r.span,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Let {
    pub name: Ident,
    pub value: Operand,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub name: Ident,
    pub event: Ident,
    pub body: Vec<RuleItem>,
    pub span: Span,
}

/// A statement inside a rule. The parser accepts them in any order and
/// number; the checker enforces `when`? `then`? `alert`*.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleItem {
    When(Expr, Span),
    Then(VerdictSpec, Span),
    Alert(AlertSpec),
    /// Where the parser recovered from a syntax error.
    Error(Span),
}

impl RuleItem {
    pub fn span(&self) -> Span {
        match self {
            RuleItem::When(_, span) | RuleItem::Then(_, span) | RuleItem::Error(span) => *span,
            RuleItem::Alert(a) => a.span,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum VerdictKind {
    Allow,
    Block,
    Quarantine,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerdictSpec {
    pub kind: VerdictKind,
    pub respond: Option<Respond>,
    pub span: Span,
}

/// `respond nxdomain`, `respond sinkhole 0.0.0.0`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Respond {
    pub mode: Ident,
    pub target: Option<Operand>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertSpec {
    pub severity: Ident,
    pub message: StrLit,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    Matches,
    Has,
    HasAny,
    HasAll,
}

impl CmpOp {
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
            CmpOp::In => "in",
            CmpOp::Matches => "matches",
            CmpOp::Has => "has",
            CmpOp::HasAny => "has any",
            CmpOp::HasAll => "has all",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    Or(Box<Expr>, Box<Expr>, Span),
    And(Box<Expr>, Box<Expr>, Span),
    Not(Box<Expr>, Span),
    Exists(Path, Span),
    Paren(Box<Expr>, Span),
    Compare {
        lhs: Operand,
        op: CmpOp,
        op_span: Span,
        rhs: Operand,
        span: Span,
    },
    /// A bare operand used as a condition: a boolean fact, `true`, `false`.
    Operand(Operand),
}

impl Expr {
    pub fn span(&self) -> Span {
        match self {
            Expr::Or(_, _, span)
            | Expr::And(_, _, span)
            | Expr::Not(_, span)
            | Expr::Exists(_, span)
            | Expr::Paren(_, span)
            | Expr::Compare { span, .. } => *span,
            Expr::Operand(operand) => operand.span(),
        }
    }
}

/// A dotted name: `device.class`, `imaging.ct`, `device.mds2.AUTH-1.1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    pub segments: Vec<Ident>,
    pub span: Span,
}

impl Path {
    pub fn text(&self) -> String {
        let names: Vec<&str> = self.segments.iter().map(|s| s.name.as_str()).collect();
        names.join(".")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operand {
    Path(Path),
    Str(StrLit),
    Int(i64, Span),
    Ip(String, Span),
    Bool(bool, Span),
    List(Vec<Operand>, Span),
    Range(Box<Operand>, Box<Operand>, Span),
}

impl Operand {
    pub fn span(&self) -> Span {
        match self {
            Operand::Path(p) => p.span,
            Operand::Str(s) => s.span,
            Operand::Int(_, span)
            | Operand::Ip(_, span)
            | Operand::Bool(_, span)
            | Operand::List(_, span)
            | Operand::Range(_, _, span) => *span,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Test {
    pub name: StrLit,
    pub body: Vec<TestItem>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TestItem {
    Given(Vec<Given>, Span),
    Expect(Expect),
    /// Where the parser recovered from a syntax error.
    Error(Span),
}

impl TestItem {
    pub fn span(&self) -> Span {
        match self {
            TestItem::Given(_, span) | TestItem::Error(span) => *span,
            TestItem::Expect(e) => e.span(),
        }
    }
}

/// One `fact value` pair of a `given` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Given {
    pub fact: Path,
    pub value: Operand,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// `expect [would] VERDICT [by RULE]`
    Verdict {
        would: bool,
        verdict: VerdictSpec,
        by: Option<Ident>,
        span: Span,
    },
    /// `expect alert SEVERITY ["message"]`
    Alert {
        severity: Ident,
        message: Option<StrLit>,
        span: Span,
    },
}

impl Expect {
    pub fn span(&self) -> Span {
        match self {
            Expect::Verdict { span, .. } | Expect::Alert { span, .. } => *span,
        }
    }
}

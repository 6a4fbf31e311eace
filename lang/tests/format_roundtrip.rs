//! Property: formatting a syntax tree and parsing the result gives the same
//! tree, and formatting is idempotent. Trees are generated at random,
//! respecting only the grammar (not the checker), with parentheses where
//! precedence needs them.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a failing helper fails the test"
)]

use proptest::prelude::*;
use ward_lang::ast::*;
use ward_lang::fmt::{format_source, format_tree};
use ward_lang::lexer::Tok;
use ward_lang::parse::parse_file;
use ward_lang::span::{FileId, Span};

fn sp() -> Span {
    Span::default()
}

fn name() -> impl Strategy<Value = String> {
    "[a-z_][a-z0-9_]{0,6}(-[a-z0-9]{1,3})?"
        .prop_filter("not a keyword", |s| !Tok::KEYWORDS.contains(&s.as_str()))
}

fn ident() -> impl Strategy<Value = Ident> {
    name().prop_map(|name| Ident { name, span: sp() })
}

fn string() -> impl Strategy<Value = StrLit> {
    "[ -~\t\n\u{e9}\u{4e2d}]{0,12}".prop_map(|value| StrLit { value, span: sp() })
}

fn path() -> impl Strategy<Value = Path> {
    let segment = prop_oneof![3 => ident(), 1 => (0u32..50).prop_map(|n| Ident { name: n.to_string(), span: sp() })];
    (ident(), prop::collection::vec(segment, 0..3)).prop_map(|(first, rest)| {
        let mut segments = vec![first];
        segments.extend(rest);
        Path {
            segments,
            span: sp(),
        }
    })
}

fn ip() -> impl Strategy<Value = String> {
    (any::<[u8; 4]>(), prop::option::of(0u8..=32)).prop_map(|(o, prefix)| {
        let base = format!("{}.{}.{}.{}", o[0], o[1], o[2], o[3]);
        match prefix {
            Some(p) => format!("{base}/{p}"),
            None => base,
        }
    })
}

fn scalar() -> impl Strategy<Value = Operand> {
    prop_oneof![
        path().prop_map(Operand::Path),
        string().prop_map(Operand::Str),
        (0i64..100_000).prop_map(|n| Operand::Int(n, sp())),
        ip().prop_map(|ip| Operand::Ip(ip, sp())),
        any::<bool>().prop_map(|b| Operand::Bool(b, sp())),
    ]
}

fn operand() -> impl Strategy<Value = Operand> {
    let leaf = prop_oneof![
        4 => scalar(),
        1 => (scalar(), scalar()).prop_map(|(a, b)| Operand::Range(Box::new(a), Box::new(b), sp())),
    ];
    leaf.prop_recursive(2, 12, 4, |inner| {
        prop::collection::vec(inner, 0..4).prop_map(|items| Operand::List(items, sp()))
    })
}

fn cmp_op() -> impl Strategy<Value = CmpOp> {
    prop::sample::select(vec![
        CmpOp::Eq,
        CmpOp::Ne,
        CmpOp::Lt,
        CmpOp::Le,
        CmpOp::Gt,
        CmpOp::Ge,
        CmpOp::In,
        CmpOp::Matches,
        CmpOp::Has,
        CmpOp::HasAny,
        CmpOp::HasAll,
    ])
}

fn atom() -> impl Strategy<Value = Expr> {
    prop_oneof![
        (operand(), cmp_op(), operand()).prop_map(|(lhs, op, rhs)| Expr::Compare {
            lhs,
            op,
            op_span: sp(),
            rhs,
            span: sp()
        }),
        scalar().prop_map(Expr::Operand),
        path().prop_map(|p| Expr::Exists(p, sp())),
    ]
}

/// Expressions built by precedence level: `or` over `and` over `not`.
fn expr() -> impl Strategy<Value = Expr> {
    atom().prop_recursive(4, 24, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(|e| Expr::Paren(Box::new(e), sp())),
            inner
                .clone()
                .prop_map(|e| Expr::Not(Box::new(not_operand(e)), sp())),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Expr::And(
                Box::new(and_left(a)),
                Box::new(not_operand(b)),
                sp()
            )),
            (inner.clone(), inner).prop_map(|(a, b)| Expr::Or(
                Box::new(a),
                Box::new(and_left(b)),
                sp()
            )),
        ]
    })
}

fn paren(e: Expr) -> Expr {
    Expr::Paren(Box::new(e), sp())
}

/// What may stand after `not` or on the right of `and`: no bare `and`/`or`.
fn not_operand(e: Expr) -> Expr {
    match e {
        Expr::And(..) | Expr::Or(..) => paren(e),
        other => other,
    }
}

/// What may stand on the left of `and` or the right of `or`: no bare `or`.
fn and_left(e: Expr) -> Expr {
    match e {
        Expr::Or(..) => paren(e),
        other => other,
    }
}

fn verdict() -> impl Strategy<Value = VerdictSpec> {
    let respond = (
        ident(),
        prop::option::of(prop_oneof![
            ip().prop_map(|ip| Operand::Ip(ip, sp())),
            string().prop_map(Operand::Str),
        ]),
    )
        .prop_map(|(mode, target)| Respond {
            mode,
            target,
            span: sp(),
        });
    prop_oneof![
        Just(VerdictSpec {
            kind: VerdictKind::Allow,
            respond: None,
            span: sp()
        }),
        Just(VerdictSpec {
            kind: VerdictKind::Quarantine,
            respond: None,
            span: sp()
        }),
        prop::option::of(respond).prop_map(|respond| VerdictSpec {
            kind: VerdictKind::Block,
            respond,
            span: sp()
        }),
    ]
}

fn rule_item() -> impl Strategy<Value = RuleItem> {
    prop_oneof![
        expr().prop_map(|e| RuleItem::When(e, sp())),
        verdict().prop_map(|v| RuleItem::Then(v, sp())),
        (ident(), string()).prop_map(|(severity, message)| RuleItem::Alert(AlertSpec {
            severity,
            message,
            span: sp()
        })),
    ]
}

fn policy_item() -> impl Strategy<Value = PolicyItem> {
    prop_oneof![
        ident().prop_map(|m| PolicyItem::Mode(m, sp())),
        verdict().prop_map(|v| PolicyItem::OnError(v, sp())),
        verdict().prop_map(|v| PolicyItem::Default(v, sp())),
        expr().prop_map(|e| PolicyItem::Scope(e, sp())),
        (ident(), operand()).prop_map(|(name, value)| PolicyItem::Let(Let {
            name,
            value,
            span: sp()
        })),
        (ident(), ident(), prop::collection::vec(rule_item(), 0..4)).prop_map(
            |(name, event, body)| PolicyItem::Rule(Rule {
                name,
                event,
                body,
                span: sp()
            })
        ),
    ]
}

fn test_item() -> impl Strategy<Value = TestItem> {
    let given = (path(), operand()).prop_map(|(fact, value)| Given {
        fact,
        value,
        span: sp(),
    });
    let by = prop_oneof![
        ident(),
        Just(Ident {
            name: "default".to_owned(),
            span: sp()
        })
    ];
    prop_oneof![
        prop::collection::vec(given, 1..6).prop_map(|g| TestItem::Given(g, sp())),
        (any::<bool>(), verdict(), prop::option::of(by)).prop_map(|(would, verdict, by)| {
            TestItem::Expect(Expect::Verdict {
                would,
                verdict,
                by,
                span: sp(),
            })
        }),
        (ident(), prop::option::of(string())).prop_map(|(severity, message)| TestItem::Expect(
            Expect::Alert {
                severity,
                message,
                span: sp()
            }
        )),
    ]
}

fn tree() -> impl Strategy<Value = SourceTree> {
    let policy =
        (string(), prop::collection::vec(policy_item(), 0..6)).prop_map(|(name, items)| {
            Item::Policy(Policy {
                name,
                items,
                span: sp(),
            })
        });
    let test = (string(), prop::collection::vec(test_item(), 0..4)).prop_map(|(name, body)| {
        Item::Test(Test {
            name,
            body,
            span: sp(),
        })
    });
    prop::collection::vec(prop_oneof![policy, test], 0..3).prop_map(|items| SourceTree {
        file: FileId(0),
        items,
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn format_then_parse_gives_the_same_tree(tree in tree()) {
        let text = format_tree(&tree, &[], "");
        let parsed = parse_file(FileId(0), &text);
        prop_assert!(parsed.diagnostics.is_empty(), "{:?}\n{}", parsed.diagnostics, text);
        prop_assert_eq!(parsed.tree.as_ref(), Some(&tree), "{}", text);
        prop_assert_eq!(format_source(&text).ok(), Some(text));
    }
}

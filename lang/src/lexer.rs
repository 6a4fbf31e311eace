//! The lexer: source text to tokens, comments kept aside for the formatter.
//!
//! Hand-written rather than generated so that the awkward literals of this
//! domain lex the way people write them: IPv4 addresses and CIDRs
//! (`10.20.0.0/28`), names with hyphens (`remote-control`, `n-a`), MDS2
//! question ids (`AUTH-1.1`, lexed as `AUTH-1`, `.`, `1`) and ranges
//! (`8..17`). It also bounds bracket nesting, so that no later recursive
//! pass can overflow the stack on hostile input.

use std::fmt;

use crate::span::{FileId, Span};

/// How deep parentheses and brackets may nest (braces do not count).
pub const MAX_NESTING: usize = 64;

/// How many `and`, `or` and `not` one condition may hold. With the nesting
/// limit this bounds the depth of every syntax tree, so the recursive
/// passes (checker, formatter, interpreter, drop) cannot overflow.
pub const MAX_OPERATORS: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok {
    Ident(String),
    Str(String),
    Int(i64),
    /// An IPv4 address, with an optional `/prefix`, as written.
    Ip(String),
    LBrace,
    RBrace,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Dot,
    DotDot,
    EqEq,
    NotEq,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    // Keywords.
    Policy,
    Test,
    Rule,
    Let,
    Mode,
    On,
    When,
    Then,
    Alert,
    Default,
    And,
    Or,
    Not,
    In,
    Matches,
    Has,
    Any,
    All,
    Exists,
    Allow,
    Block,
    Quarantine,
    Respond,
    Given,
    Expect,
    By,
    Would,
    For,
    True,
    False,
}

impl Tok {
    fn keyword(word: &str) -> Option<Tok> {
        Some(match word {
            "policy" => Tok::Policy,
            "test" => Tok::Test,
            "rule" => Tok::Rule,
            "let" => Tok::Let,
            "mode" => Tok::Mode,
            "on" => Tok::On,
            "when" => Tok::When,
            "then" => Tok::Then,
            "alert" => Tok::Alert,
            "default" => Tok::Default,
            "and" => Tok::And,
            "or" => Tok::Or,
            "not" => Tok::Not,
            "in" => Tok::In,
            "matches" => Tok::Matches,
            "has" => Tok::Has,
            "any" => Tok::Any,
            "all" => Tok::All,
            "exists" => Tok::Exists,
            "allow" => Tok::Allow,
            "block" => Tok::Block,
            "quarantine" => Tok::Quarantine,
            "respond" => Tok::Respond,
            "given" => Tok::Given,
            "expect" => Tok::Expect,
            "by" => Tok::By,
            "would" => Tok::Would,
            "for" => Tok::For,
            "true" => Tok::True,
            "false" => Tok::False,
            _ => return None,
        })
    }

    /// The reserved words, for messages.
    pub const KEYWORDS: &'static [&'static str] = &[
        "policy",
        "test",
        "rule",
        "let",
        "mode",
        "on",
        "when",
        "then",
        "alert",
        "default",
        "and",
        "or",
        "not",
        "in",
        "matches",
        "has",
        "any",
        "all",
        "exists",
        "allow",
        "block",
        "quarantine",
        "respond",
        "given",
        "expect",
        "by",
        "would",
        "for",
        "true",
        "false",
    ];
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Ident(name) => write!(f, "`{name}`"),
            Tok::Str(text) => write!(f, "string {text:?}"),
            Tok::Int(n) => write!(f, "number `{n}`"),
            Tok::Ip(ip) => write!(f, "address `{ip}`"),
            other => {
                let text = match other {
                    Tok::LBrace => "{",
                    Tok::RBrace => "}",
                    Tok::LParen => "(",
                    Tok::RParen => ")",
                    Tok::LBracket => "[",
                    Tok::RBracket => "]",
                    Tok::Comma => ",",
                    Tok::Dot => ".",
                    Tok::DotDot => "..",
                    Tok::EqEq => "==",
                    Tok::NotEq => "!=",
                    Tok::Lt => "<",
                    Tok::Le => "<=",
                    Tok::Gt => ">",
                    Tok::Ge => ">=",
                    Tok::Eq => "=",
                    keyword => return write!(f, "keyword `{}`", keyword_text(keyword)),
                };
                write!(f, "`{text}`")
            }
        }
    }
}

fn keyword_text(tok: &Tok) -> &'static str {
    Tok::KEYWORDS
        .iter()
        .copied()
        .find(|word| Tok::keyword(word).as_ref() == Some(tok))
        .unwrap_or("?")
}

/// A comment and where it sits, for the formatter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    /// The text after `#`, without the line break.
    pub text: String,
    pub span: Span,
    /// Whether code precedes the comment on its line.
    pub trailing: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LexErrorKind {
    UnexpectedChar(char),
    UnterminatedString,
    BadEscape(char),
    IntegerTooLarge,
    BadAddress(String),
    TooDeep,
    TooManyOperators,
    ControlChar(char),
    Unbalanced(char),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexError {
    pub kind: LexErrorKind,
    pub span: Span,
}

pub type Spanned = (usize, Tok, usize);

/// Lexes a whole file. Tokens stop at the first error; comments are all
/// collected.
pub struct Lexer<'a> {
    file: FileId,
    text: &'a str,
    pos: usize,
    depth: Vec<(char, usize)>,
    /// `and`/`or`/`not` since the last statement keyword.
    operators: usize,
    line_has_code: bool,
    pub comments: Vec<Comment>,
    failed: bool,
}

impl<'a> Lexer<'a> {
    pub fn new(file: FileId, text: &'a str) -> Self {
        Lexer {
            file,
            text,
            // A byte-order mark, as some editors write, is not content.
            pos: if text.starts_with('\u{feff}') { 3 } else { 0 },
            depth: Vec::new(),
            operators: 0,
            line_has_code: false,
            comments: Vec::new(),
            failed: false,
        }
    }

    fn peek(&self) -> Option<char> {
        self.text
            .get(self.pos..)
            .and_then(|rest| rest.chars().next())
    }

    fn peek_at(&self, ahead: usize) -> Option<char> {
        self.text
            .get(self.pos..)
            .and_then(|rest| rest.chars().nth(ahead))
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn span(&self, start: usize) -> Span {
        Span::new(self.file, start, self.pos)
    }

    fn error(&mut self, kind: LexErrorKind, start: usize) -> LexError {
        self.failed = true;
        LexError {
            kind,
            span: self.span(start),
        }
    }

    fn skip_trivia(&mut self) {
        while let Some(c) = self.peek() {
            match c {
                '\n' => {
                    self.line_has_code = false;
                    self.bump();
                }
                c if c.is_whitespace() => {
                    self.bump();
                }
                '#' => {
                    let start = self.pos;
                    while self.peek().is_some_and(|c| c != '\n') {
                        self.bump();
                    }
                    let text = self.text.get(start + 1..self.pos).unwrap_or("");
                    self.comments.push(Comment {
                        text: text.trim_end().to_owned(),
                        span: self.span(start),
                        trailing: self.line_has_code,
                    });
                }
                _ => return,
            }
        }
    }

    fn word(&mut self) -> Tok {
        let start = self.pos;
        loop {
            while self
                .peek()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                self.bump();
            }
            // A hyphen continues a word only when a letter, digit or
            // underscore follows: `n-a`, `remote-control`, `AUTH-1`.
            let continues = self.peek() == Some('-')
                && self
                    .peek_at(1)
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
            if !continues {
                break;
            }
            self.bump();
        }
        let word = self.text.get(start..self.pos).unwrap_or("");
        Tok::keyword(word).unwrap_or_else(|| Tok::Ident(word.to_owned()))
    }

    /// Digits: an integer, or an IPv4 address when four dotted parts follow.
    fn number(&mut self, start: usize) -> Result<Tok, LexError> {
        let rest = self.text.get(start..).unwrap_or("");
        if let Some(len) = ipv4_len(rest) {
            self.pos = start + len;
            let text = rest.get(..len).unwrap_or("");
            return Ok(Tok::Ip(text.to_owned()));
        }
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.bump();
        }
        let digits = self.text.get(start..self.pos).unwrap_or("");
        digits
            .parse()
            .map(Tok::Int)
            .map_err(|_| self.error(LexErrorKind::IntegerTooLarge, start))
    }

    fn string(&mut self, start: usize) -> Result<Tok, LexError> {
        let mut value = String::new();
        loop {
            match self.bump() {
                None | Some('\n') => {
                    return Err(self.error(LexErrorKind::UnterminatedString, start));
                }
                Some('"') => return Ok(Tok::Str(value)),
                Some('\\') => {
                    let escape_start = self.pos - 1;
                    match self.bump() {
                        Some('"') => value.push('"'),
                        Some('\\') => value.push('\\'),
                        Some('n') => value.push('\n'),
                        Some('t') => value.push('\t'),
                        Some(other) => {
                            return Err(self.error(LexErrorKind::BadEscape(other), escape_start));
                        }
                        None => return Err(self.error(LexErrorKind::UnterminatedString, start)),
                    }
                }
                Some(c) if c.is_control() && c != '\t' => {
                    return Err(self.error(LexErrorKind::ControlChar(c), self.pos - c.len_utf8()));
                }
                Some(c) => value.push(c),
            }
        }
    }

    fn open(&mut self, c: char, start: usize) -> Result<(), LexError> {
        let nested = self.depth.iter().filter(|(open, _)| *open != '{').count();
        if c != '{' && nested >= MAX_NESTING {
            return Err(self.error(LexErrorKind::TooDeep, start));
        }
        self.depth.push((c, start));
        Ok(())
    }

    fn close(&mut self, c: char, start: usize) -> Result<(), LexError> {
        let expected = match c {
            ')' => '(',
            ']' => '[',
            _ => '{',
        };
        match self.depth.last() {
            Some((open, _)) if *open == expected => {
                self.depth.pop();
                Ok(())
            }
            _ => Err(self.error(LexErrorKind::Unbalanced(c), start)),
        }
    }

    fn next_token(&mut self) -> Option<Result<Spanned, LexError>> {
        if self.failed {
            return None;
        }
        self.skip_trivia();
        let start = self.pos;
        let c = self.bump()?;
        self.line_has_code = true;
        let tok = match c {
            '{' | '(' | '[' => match self.open(c, start) {
                Ok(()) => match c {
                    '{' => Tok::LBrace,
                    '(' => Tok::LParen,
                    _ => Tok::LBracket,
                },
                Err(err) => return Some(Err(err)),
            },
            '}' | ')' | ']' => match self.close(c, start) {
                Ok(()) => match c {
                    '}' => Tok::RBrace,
                    ')' => Tok::RParen,
                    _ => Tok::RBracket,
                },
                Err(err) => return Some(Err(err)),
            },
            ',' => Tok::Comma,
            '.' if self.peek() == Some('.') => {
                self.bump();
                Tok::DotDot
            }
            '.' => Tok::Dot,
            '=' if self.peek() == Some('=') => {
                self.bump();
                Tok::EqEq
            }
            '=' => Tok::Eq,
            '!' if self.peek() == Some('=') => {
                self.bump();
                Tok::NotEq
            }
            '<' if self.peek() == Some('=') => {
                self.bump();
                Tok::Le
            }
            '<' => Tok::Lt,
            '>' if self.peek() == Some('=') => {
                self.bump();
                Tok::Ge
            }
            '>' => Tok::Gt,
            '"' => match self.string(start) {
                Ok(tok) => tok,
                Err(err) => return Some(Err(err)),
            },
            c if c.is_ascii_digit() => match self.number(start) {
                Ok(tok) => tok,
                Err(err) => return Some(Err(err)),
            },
            c if c.is_ascii_alphabetic() || c == '_' => {
                self.pos = start;
                self.word()
            }
            other => return Some(Err(self.error(LexErrorKind::UnexpectedChar(other), start))),
        };
        match tok {
            Tok::And | Tok::Or | Tok::Not => {
                self.operators += 1;
                if self.operators > MAX_OPERATORS {
                    return Some(Err(self.error(LexErrorKind::TooManyOperators, start)));
                }
            }
            Tok::When
            | Tok::For
            | Tok::Then
            | Tok::Rule
            | Tok::Let
            | Tok::Alert
            | Tok::Given
            | Tok::Expect
            | Tok::RBrace => self.operators = 0,
            _ => {}
        }
        Some(Ok((start, tok, self.pos)))
    }
}

impl Iterator for Lexer<'_> {
    type Item = Result<Spanned, LexError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_token()
    }
}

/// The length of an IPv4 address (with optional `/prefix`) at the start of
/// `text`, if one is there: four dot-separated digit groups.
fn ipv4_len(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut at = 0;
    for part in 0..4 {
        if part > 0 {
            if bytes.get(at) != Some(&b'.') {
                return None;
            }
            at += 1;
        }
        let digits = bytes
            .get(at..)?
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        if digits == 0 {
            return None;
        }
        at += digits;
    }
    if bytes.get(at) == Some(&b'/') {
        let digits = bytes
            .get(at + 1..)?
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        if digits > 0 {
            at += 1 + digits;
        }
    }
    Some(at)
}

/// Lexes `text` to completion, for tests and tools.
pub fn tokens(text: &str) -> Result<Vec<Tok>, LexError> {
    Lexer::new(FileId(0), text)
        .map(|r| r.map(|(_, tok, _)| tok))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expected: &[Tok]) {
        assert_eq!(tokens(text).unwrap(), expected, "lexing {text:?}");
    }

    fn ident(s: &str) -> Tok {
        Tok::Ident(s.to_owned())
    }

    #[test]
    fn addresses_and_cidrs() {
        check("10.20.0.10", &[Tok::Ip("10.20.0.10".into())]);
        check(
            "10.20.0.0/28,",
            &[Tok::Ip("10.20.0.0/28".into()), Tok::Comma],
        );
    }

    #[test]
    fn mds2_ids_split_into_path_segments() {
        check(
            "device.mds2.CONN-1.1.1",
            &[
                ident("device"),
                Tok::Dot,
                ident("mds2"),
                Tok::Dot,
                ident("CONN-1"),
                Tok::Dot,
                Tok::Int(1),
                Tok::Dot,
                Tok::Int(1),
            ],
        );
    }

    #[test]
    fn ranges_and_hyphenated_names() {
        check("8..17", &[Tok::Int(8), Tok::DotDot, Tok::Int(17)]);
        check(
            "n-a remote-control",
            &[ident("n-a"), ident("remote-control")],
        );
        assert_eq!(
            tokens("a -b").unwrap_err().kind,
            LexErrorKind::UnexpectedChar('-')
        );
    }

    #[test]
    fn strings_with_escapes() {
        check(r#""a\"b\\c""#, &[Tok::Str("a\"b\\c".into())]);
        assert_eq!(
            tokens("\"open").unwrap_err().kind,
            LexErrorKind::UnterminatedString
        );
        assert_eq!(
            tokens(r#""\q""#).unwrap_err().kind,
            LexErrorKind::BadEscape('q')
        );
    }

    #[test]
    fn comments_are_kept_aside() {
        let mut lexer = Lexer::new(FileId(0), "# lead\nmode x # trail\n");
        let toks: Vec<_> = lexer.by_ref().map(|r| r.unwrap().1).collect();
        assert_eq!(toks, vec![Tok::Mode, ident("x")]);
        assert_eq!(lexer.comments.len(), 2);
        assert!(!lexer.comments[0].trailing);
        assert!(lexer.comments[1].trailing);
        assert_eq!(lexer.comments[1].text, " trail");
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = "(".repeat(MAX_NESTING + 1);
        assert_eq!(tokens(&deep).unwrap_err().kind, LexErrorKind::TooDeep);
        assert_eq!(tokens(")").unwrap_err().kind, LexErrorKind::Unbalanced(')'));
    }

    #[test]
    fn long_conditions_are_bounded() {
        let long = vec!["a"; MAX_OPERATORS + 2].join(" and ");
        assert_eq!(
            tokens(&long).unwrap_err().kind,
            LexErrorKind::TooManyOperators
        );
        let nots = format!("{}x", "not ".repeat(MAX_OPERATORS + 1));
        assert_eq!(
            tokens(&nots).unwrap_err().kind,
            LexErrorKind::TooManyOperators
        );
        // Each condition has its own budget.
        let two = format!(
            "when {long_ok} when {long_ok}",
            long_ok = vec!["a"; MAX_OPERATORS].join(" and ")
        );
        assert!(tokens(&two).is_ok());
    }

    #[test]
    fn braces_do_not_count_towards_nesting() {
        let text = format!(
            "{{ {{ {}x{} }} }}",
            "(".repeat(MAX_NESTING),
            ")".repeat(MAX_NESTING)
        );
        assert!(tokens(&text).is_ok());
    }

    #[test]
    fn a_byte_order_mark_is_skipped() {
        assert_eq!(tokens("\u{feff}mode").unwrap(), vec![Tok::Mode]);
    }

    #[test]
    fn control_characters_in_strings_are_errors() {
        assert_eq!(
            tokens("\"a\u{0}b\"").unwrap_err().kind,
            LexErrorKind::ControlChar('\u{0}')
        );
        assert!(tokens("\"tab\there\"").is_ok());
    }

    #[test]
    fn huge_integers_are_errors() {
        assert_eq!(
            tokens("99999999999999999999").unwrap_err().kind,
            LexErrorKind::IntegerTooLarge
        );
    }
}

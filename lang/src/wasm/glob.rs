//! Glob lists (`matches [...]`) as DFA tables the module walks itself.
//!
//! Each list becomes one regular expression per glob (`*` is `(?s:.*)`,
//! `?` is `(?s:.)`, everything else literal, the whole anchored at both
//! ends), compiled together by regex-automata into one dense DFA. We use
//! regex-automata rather than a hand-made subset construction because `?`
//! must match one UTF-8 encoded character, not one byte, and its UTF-8
//! automata already get that right; we only flatten its DFA into a small
//! table:
//!
//! - 256 bytes: the equivalence class of each input byte;
//! - `states * classes` u16 entries: the next state, row-major;
//! - `states` bytes: 1 if reaching the end of input in that state is a
//!   match.
//!
//! State 0 is the dead state (the walk stops there) and state 1 the start.
//! Case folding is the module's job: for a folding glob list it lowers
//! ASCII letters of the subject before the lookup, exactly as
//! [`Glob::matches`] does, and the patterns are already lower case.

use std::collections::HashMap;

use regex_automata::dfa::{Automaton, StartKind, dense};
use regex_automata::util::primitives::StateID;
use regex_automata::util::start;
use regex_automata::{Anchored, MatchKind};

use crate::ir::Glob;

/// The most states one list may have: state numbers are u16.
const MAX_STATES: usize = 1 << 15;
/// The most bytes regex-automata may spend building one DFA.
const SIZE_LIMIT: usize = 8 << 20;

/// One glob list flattened for the module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DfaTable {
    pub classes: [u8; 256],
    pub class_count: u32,
    /// `states * class_count` next-state numbers.
    pub next: Vec<u16>,
    pub accept: Vec<u8>,
    pub fold_case: bool,
}

impl DfaTable {
    pub fn states(&self) -> usize {
        self.accept.len()
    }

    /// The table as the module stores it: classes, transitions (little
    /// endian), accepting flags.
    pub fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256 + self.next.len() * 2 + self.accept.len());
        out.extend_from_slice(&self.classes);
        for n in &self.next {
            out.extend_from_slice(&n.to_le_bytes());
        }
        out.extend_from_slice(&self.accept);
        out
    }

    /// Walks the table the way the module does; used by tests.
    pub fn matches(&self, subject: &str) -> bool {
        let mut state: usize = 1;
        for &byte in subject.as_bytes() {
            let byte = if self.fold_case {
                byte.to_ascii_lowercase()
            } else {
                byte
            };
            let class = self.classes.get(usize::from(byte)).copied().unwrap_or(0);
            let at = state * self.class_count as usize + usize::from(class);
            state = self.next.get(at).copied().map_or(0, usize::from);
            if state == 0 {
                return false;
            }
        }
        self.accept.get(state).is_some_and(|a| *a == 1)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GlobError {
    #[error("the patterns {patterns} make an automaton too large to embed ({detail})")]
    TooLarge { patterns: String, detail: String },
}

/// The regular expression of one glob, anchored at the end (the DFA is
/// started anchored).
fn regex_of(glob: &Glob) -> String {
    let mut out = String::from("(?:");
    for c in glob.pattern.chars() {
        match c {
            '*' => out.push_str("(?s:.*)"),
            '?' => out.push_str("(?s:.)"),
            c if c.is_ascii_alphanumeric() || !c.is_ascii() => out.push(c),
            c => out.push_str(&format!("\\x{{{:X}}}", u32::from(c))),
        }
    }
    out.push_str(")$");
    out
}

/// Builds the table of one glob list. The list must not be empty and its
/// globs must agree on case folding (the checker makes them so).
///
/// FIXME(#3): a list whose DFA exceeds the size limits (many `*` before
/// long runs of `?`) is refused with [`GlobError::TooLarge`]; a fallback
/// that walks such globs without a DFA is not written yet.
pub fn build(globs: &[Glob]) -> Result<DfaTable, GlobError> {
    let patterns: Vec<String> = globs.iter().map(regex_of).collect();
    let fold_case = globs.first().is_some_and(|g| g.fold_case);
    let too_large = |detail: String| GlobError::TooLarge {
        patterns: globs
            .iter()
            .map(|g| format!("`{}`", g.pattern))
            .collect::<Vec<_>>()
            .join(", "),
        detail,
    };

    let dfa = dense::Builder::new()
        .configure(
            dense::Config::new()
                .start_kind(StartKind::Anchored)
                .match_kind(MatchKind::All)
                .dfa_size_limit(Some(SIZE_LIMIT))
                .determinize_size_limit(Some(SIZE_LIMIT)),
        )
        .build_many(&patterns)
        .map_err(|e| too_large(e.to_string()))?;
    let start = dfa
        .start_state(&start::Config::new().anchored(Anchored::Yes))
        .map_err(|e| too_large(e.to_string()))?;

    // One representative byte per equivalence class.
    let byte_classes = dfa.byte_classes();
    let mut classes = [0u8; 256];
    let mut representatives: Vec<u8> = Vec::new();
    for byte in 0..=255u8 {
        let class = byte_classes.get(byte);
        classes[usize::from(byte)] = class;
        if usize::from(class) >= representatives.len() {
            representatives.push(byte);
        }
    }
    let class_count = representatives.len();

    // Number the states breadth first: 0 dead, 1 start.
    let mut numbers: HashMap<StateID, u16> = HashMap::new();
    let mut order: Vec<Option<StateID>> = vec![None];
    let mut queue = std::collections::VecDeque::new();
    if !dfa.is_dead_state(start) {
        numbers.insert(start, 1);
        order.push(Some(start));
        queue.push_back(start);
    } else {
        order.push(None);
    }
    while let Some(id) = queue.pop_front() {
        for &byte in &representatives {
            let next = dfa.next_state(id, byte);
            if dfa.is_dead_state(next) || numbers.contains_key(&next) {
                continue;
            }
            if order.len() >= MAX_STATES {
                return Err(too_large(format!("more than {MAX_STATES} states")));
            }
            numbers.insert(next, order.len() as u16);
            order.push(Some(next));
            queue.push_back(next);
        }
    }

    let mut next = Vec::with_capacity(order.len() * class_count);
    let mut accept = Vec::with_capacity(order.len());
    for state in &order {
        match state {
            None => {
                next.extend(std::iter::repeat_n(0u16, class_count));
                accept.push(0);
            }
            Some(id) => {
                for &byte in &representatives {
                    let to = dfa.next_state(*id, byte);
                    next.push(numbers.get(&to).copied().unwrap_or(0));
                }
                let eoi = dfa.next_eoi_state(*id);
                accept.push(u8::from(dfa.is_match_state(eoi)));
            }
        }
    }
    Ok(DfaTable {
        classes,
        class_count: class_count as u32,
        next,
        accept,
        fold_case,
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn check(patterns: &[&str], fold: bool, subject: &str) {
        let globs: Vec<Glob> = patterns.iter().map(|p| Glob::new(p, fold)).collect();
        let table = build(&globs).unwrap();
        let expected = globs.iter().any(|g| g.matches(subject));
        assert_eq!(
            table.matches(subject),
            expected,
            "{patterns:?} ~ {subject:?} (fold {fold})"
        );
    }

    #[test]
    fn tables_agree_with_globs_on_examples() {
        for subject in [
            "",
            "PACS_MAIN",
            "pacs_main",
            "PACS_",
            "XPACS_",
            "a.b.example.com",
            "example.com",
            "aXbYbZc",
            "é",
            "éé",
            "a\nb",
            "?",
            "*",
            "(",
            "a+b",
        ] {
            check(&["PACS_*"], true, subject);
            check(&["PACS_*", "MAIN"], false, subject);
            check(&["*.example.com"], true, subject);
            check(&["?"], false, subject);
            check(&["??"], false, subject);
            check(&["a*b*c"], false, subject);
            check(&[""], false, subject);
            check(&["***"], false, subject);
            check(&["a?b", "(", "a+b"], false, subject);
        }
    }

    #[test]
    fn an_exploding_glob_is_refused_not_embedded() {
        let glob = Glob::new(&format!("*a{}", "?".repeat(24)), false);
        match build(&[glob]) {
            Err(GlobError::TooLarge { patterns, .. }) => assert!(patterns.starts_with("`*a?")),
            Ok(table) => panic!("built {} states", table.states()),
        }
    }

    proptest! {
        #[test]
        fn tables_agree_with_globs(
            patterns in prop::collection::vec("[ab*?.Aé]{0,6}", 1..4),
            subjects in prop::collection::vec("[abAB.é\n]{0,8}", 1..8),
            fold in any::<bool>(),
        ) {
            let globs: Vec<Glob> = patterns.iter().map(|p| Glob::new(p, fold)).collect();
            let table = build(&globs).unwrap();
            for subject in &subjects {
                let expected = globs.iter().any(|g| g.matches(subject));
                prop_assert_eq!(table.matches(subject), expected, "{:?} ~ {:?}", patterns, subject);
            }
        }
    }
}

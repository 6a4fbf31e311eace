//! Diagnostics: errors and warnings with a code, labelled spans and help.
//!
//! Every stage reports through [`Diagnostic`] and keeps going where it can,
//! so one run shows all the problems of a file. Messages follow one style:
//! lowercase, user input in backticks, explanations in `help`.

use std::fmt;

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource};
use serde::Serialize;

use crate::span::{SourceMap, Span};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

/// One labelled span of a diagnostic; the first label is the primary one.
#[derive(Debug, Clone)]
pub struct Label {
    pub span: Span,
    pub message: String,
}

#[derive(Debug, Clone)]
pub struct Diagnostic {
    pub severity: Severity,
    /// A stable name such as `unknown-fact`, for scripts and for silencing.
    pub code: &'static str,
    pub message: String,
    pub labels: Vec<Label>,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(code: &'static str, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            labels: Vec::new(),
            help: None,
        }
    }

    pub fn warning(code: &'static str, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, message)
        }
    }

    pub fn label(mut self, span: Span, message: impl Into<String>) -> Self {
        self.labels.push(Label {
            span,
            message: message.into(),
        });
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The primary span, when the diagnostic points into a file.
    pub fn span(&self) -> Option<Span> {
        self.labels.first().map(|label| label.span)
    }
}

/// Sorts diagnostics by file and position, keeping their relative order
/// otherwise, so output is stable whatever order the stages ran in.
pub fn sort(diagnostics: &mut [Diagnostic]) {
    diagnostics.sort_by_key(|d| d.span().map(|s| (s.file, s.start)));
}

/// A diagnostic bound to its source, in the shape miette renders.
struct Rendered<'a> {
    diagnostic: &'a Diagnostic,
    source: Option<NamedSource<String>>,
}

impl fmt::Debug for Rendered<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.diagnostic, f)
    }
}

impl fmt::Display for Rendered<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diagnostic.message)
    }
}

impl std::error::Error for Rendered<'_> {}

impl miette::Diagnostic for Rendered<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        Some(Box::new(format!("ward::{}", self.diagnostic.code)))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diagnostic.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.diagnostic
            .help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|s| s as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        self.source.as_ref()?;
        let labels = self.diagnostic.labels.iter().enumerate().map(|(i, label)| {
            let text = (!label.message.is_empty()).then(|| label.message.clone());
            let span = (label.span.start, label.span.len());
            if i == 0 {
                LabeledSpan::new_primary_with_span(text, span)
            } else {
                LabeledSpan::new_with_span(text, span)
            }
        });
        Some(Box::new(labels))
    }
}

/// Labels further right than this are reported without a snippet.
const MAX_SNIPPET_COLUMN: usize = 2000;

/// A diagnostic on a few plain lines: location, message, labels, help.
fn plain(sources: &SourceMap, diagnostic: &Diagnostic) -> String {
    let level = match diagnostic.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    let mut out = String::new();
    if let Some(span) = diagnostic.span() {
        out.push_str(&format!("{}: ", sources.location(span)));
    }
    out.push_str(&format!(
        "{level}[{}]: {}\n",
        diagnostic.code, diagnostic.message
    ));
    for label in diagnostic.labels.iter().filter(|l| !l.message.is_empty()) {
        out.push_str(&format!(
            "  at {}: {}\n",
            sources.location(label.span),
            label.message
        ));
    }
    if let Some(help) = &diagnostic.help {
        out.push_str(&format!("  help: {help}\n"));
    }
    out
}

/// Renders diagnostics as text with labelled snippets, without colour.
pub fn render_text(sources: &SourceMap, diagnostics: &[Diagnostic]) -> String {
    let handler = GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor())
        .with_width(100)
        .with_links(false);
    let mut out = String::new();
    for diagnostic in diagnostics {
        // The snippet renderer cannot draw columns past 65,535 (and a line
        // that long is no snippet anyway): such diagnostics print plainly.
        let drawable = diagnostic.labels.iter().all(|label| {
            sources.get(label.span.file).is_none_or(|file| {
                file.line_col(label.span.start).column <= MAX_SNIPPET_COLUMN
                    && file.line_col(label.span.end).column <= MAX_SNIPPET_COLUMN
            })
        });
        if !drawable {
            out.push_str(&plain(sources, diagnostic));
            out.push('\n');
            continue;
        }
        let source = diagnostic
            .span()
            .and_then(|span| sources.get(span.file))
            .map(|file| {
                NamedSource::new(file.name.clone(), file.text.clone()).with_language("ward")
            });
        let rendered = Rendered { diagnostic, source };
        if handler.render_report(&mut out, &rendered).is_err() {
            out.push_str(&format!(
                "{:?}: {}\n",
                diagnostic.severity, diagnostic.message
            ));
        }
        out.push('\n');
    }
    out
}

#[derive(Serialize)]
struct JsonDiagnostic<'a> {
    severity: Severity,
    code: &'a str,
    message: &'a str,
    file: Option<&'a str>,
    line: Option<usize>,
    column: Option<usize>,
    end_line: Option<usize>,
    end_column: Option<usize>,
    labels: Vec<JsonLabel<'a>>,
    help: Option<&'a str>,
}

#[derive(Serialize)]
struct JsonLabel<'a> {
    message: &'a str,
    line: usize,
    column: usize,
    end_line: usize,
    end_column: usize,
}

/// Renders one diagnostic as a JSON object.
pub fn to_json(sources: &SourceMap, diagnostic: &Diagnostic) -> serde_json::Value {
    let labels = diagnostic
        .labels
        .iter()
        .filter_map(|label| {
            let file = sources.get(label.span.file)?;
            let (start, end) = (
                file.line_col(label.span.start),
                file.line_col(label.span.end),
            );
            Some(JsonLabel {
                message: &label.message,
                line: start.line,
                column: start.column,
                end_line: end.line,
                end_column: end.column,
            })
        })
        .collect::<Vec<_>>();
    let first = labels.first();
    let json = JsonDiagnostic {
        severity: diagnostic.severity,
        code: diagnostic.code,
        message: &diagnostic.message,
        file: diagnostic.span().map(|s| sources.name(s.file)),
        line: first.map(|l| l.line),
        column: first.map(|l| l.column),
        end_line: first.map(|l| l.end_line),
        end_column: first.map(|l| l.end_column),
        help: diagnostic.help.as_deref(),
        labels,
    };
    serde_json::to_value(json).unwrap_or(serde_json::Value::Null)
}

/// Suggests the candidate closest to `word`, if one is close enough to be
/// what the user meant.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|candidate| (strsim::jaro_winkler(word, candidate), candidate))
        .filter(|(score, _)| *score > 0.84)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, candidate)| candidate)
}

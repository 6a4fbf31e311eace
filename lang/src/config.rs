//! `ward.toml`: a bundle's own vocabulary (extra category names and
//! taxonomy classes). Unknown keys are refused with their line.

use serde::Deserialize;

use crate::diag::Diagnostic;
use crate::schema::{Categories, Schema, Taxonomy};
use crate::span::{FileId, SourceMap, Span};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct BundleConfig {
    /// Category names beyond the built-in ones, for `--list NAME=FILE`.
    #[serde(default)]
    categories: Vec<toml::Spanned<String>>,
    /// Taxonomy classes beyond the built-in ones; each under a known parent.
    #[serde(default)]
    classes: Vec<toml::Spanned<String>>,
}

/// Builds the bundle's schema from the built-in one and `ward.toml`.
pub fn schema(
    sources: &SourceMap,
    config: Option<FileId>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Schema {
    let mut taxonomy = Taxonomy::builtin();
    let mut categories = Categories::builtin();
    let Some(file) = config else {
        return Schema::new(taxonomy, categories);
    };
    let text = sources.get(file).map_or("", |f| f.text.as_str());
    let parsed: BundleConfig = match toml::from_str(text) {
        Ok(parsed) => parsed,
        Err(err) => {
            let span = err
                .span()
                .map_or(Span::new(file, 0, 0), |r| Span::new(file, r.start, r.end));
            diagnostics.push(
                Diagnostic::error("config", format!("invalid `ward.toml`: {}", err.message()))
                    .label(span, "here")
                    .help("`ward.toml` knows two keys: `categories = [...]` and `classes = [...]`"),
            );
            return Schema::new(taxonomy, categories);
        }
    };
    for class in &parsed.classes {
        if let Err(message) = taxonomy.add(class.get_ref()) {
            let span = class.span();
            diagnostics.push(
                Diagnostic::error("config", message)
                    .label(Span::new(file, span.start, span.end), "in `classes`")
                    .help(
                        "a new class goes under an existing one, as `imaging.ct.photon_counting`",
                    ),
            );
        }
    }
    for category in &parsed.categories {
        if let Err(message) = categories.add(category.get_ref()) {
            let span = category.span();
            diagnostics.push(
                Diagnostic::error("config", message)
                    .label(Span::new(file, span.start, span.end), "in `categories`"),
            );
        }
    }
    Schema::new(taxonomy, categories)
}

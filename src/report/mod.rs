//! Renderers only: the results model (`model::results`) as terminal and Markdown tables, CSV,
//! HTML and SVG. JSON is the model itself, serialized.

pub mod cell;
pub mod cost;
pub mod csv;
pub mod files;
pub mod grid;
pub mod html;
pub mod matrix;
pub mod proof;
pub mod refusals;
pub mod replay;
pub mod schedules;
pub mod svg;
pub mod swimlane;
pub mod table;
pub mod transcript;

/// How tables show a fact the run could not learn.
pub const UNKNOWN: &str = "-";

/// `value` as text, or [`UNKNOWN`].
pub fn or_unknown<T: std::fmt::Display>(value: Option<T>) -> String {
    value.map_or_else(|| UNKNOWN.to_string(), |v| v.to_string())
}

/// "fsync on, synchronous_commit on", or "settings unknown".
pub fn settings_text(settings: &std::collections::BTreeMap<String, String>) -> String {
    if settings.is_empty() {
        return "settings unknown".to_string();
    }
    let pairs = settings
        .iter()
        .map(|(name, value)| format!("{name} {value}"));
    pairs.collect::<Vec<_>>().join(", ")
}

/// `text` for HTML and SVG, in element text and in quoted attributes alike: the one escape
/// every page and picture here uses.
pub fn escape_markup(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

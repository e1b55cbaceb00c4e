//! Renderers only: the results model (`model::results`) as terminal and Markdown tables, CSV,
//! HTML and SVG. JSON is the model itself, serialized.

pub mod cost;
pub mod csv;
pub mod html;
pub mod matrix;
pub mod svg;
pub mod table;

/// How tables show a fact the run could not learn.
pub const UNKNOWN: &str = "-";

/// `value` as text, or [`UNKNOWN`].
pub fn or_unknown<T: std::fmt::Display>(value: Option<T>) -> String {
    value.map_or_else(|| UNKNOWN.to_string(), |v| v.to_string())
}

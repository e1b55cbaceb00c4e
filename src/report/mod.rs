//! Renderers only: the results model (`model::results`) as terminal and Markdown tables, CSV,
//! HTML and SVG. JSON is the model itself, serialized.

pub mod csv;
pub mod html;
pub mod matrix;
pub mod svg;
pub mod table;

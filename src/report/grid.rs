//! The grid every +/- table is drawn on (a row per level, a column per method, as in the
//! original study), and the line that says why a cell of it is n/a.

use comfy_table::Table;

use super::table::styled;
use crate::model::results::NotApplicable;
use crate::model::{Isolation, MethodId};

/// A table in the original's layout: a row per level of `levels`, a column per method of
/// `methods` (numbers; unknown ones left out), `corner` in the top-left, each cell's text from
/// `cell`. The one grid every +/- table here is drawn on.
pub fn level_method_grid(
    corner: &str,
    levels: &[Isolation],
    methods: &[u32],
    markdown: bool,
    mut cell: impl FnMut(Isolation, MethodId) -> String,
) -> Table {
    let methods: Vec<MethodId> = methods
        .iter()
        .filter_map(|&n| MethodId::from_number(u64::from(n)))
        .collect();
    let mut table = styled(markdown);
    let mut header = vec![corner.to_string()];
    header.extend(methods.iter().map(|&m| MethodId::title(m)));
    table.set_header(header);
    for &level in levels {
        let mut row = vec![level.sql_name().to_string()];
        row.extend(methods.iter().map(|&method| cell(level, method)));
        table.add_row(row);
    }
    table
}

/// "repeatable read x 2. row lock: why" (or the whole level).
pub fn not_applicable_text(gap: &NotApplicable) -> String {
    match gap.method.and_then(|n| MethodId::from_number(u64::from(n))) {
        Some(method) => format!(
            "{} x {}: {}",
            gap.isolation.sql_name(),
            MethodId::title(method),
            gap.reason
        ),
        None => format!("{}: {}", gap.isolation.sql_name(), gap.reason),
    }
}

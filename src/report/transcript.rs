//! A schedule as a transcript: one column per session, a line per statement as sent with its
//! values, what it answered, where it waited and where it went on, and a last line in plain
//! words. What teachers draw as two psql windows side by side.

use crate::model::schedule_results::ScheduleRecord;

/// Width of a session's column.
const COLUMN: usize = 52;
/// Width of the step number on the left.
const NUMBER: usize = 4;

/// The transcript of `schedule`, a schedule of `sessions` sessions.
pub fn transcript(schedule: &ScheduleRecord, sessions: u32) -> String {
    let mut out = String::new();
    let mut header = " ".repeat(NUMBER + 2);
    for session in 1..=sessions {
        header.push_str(&pad(&format!("T{session}"), COLUMN));
        header.push_str("  ");
    }
    out.push_str(header.trim_end());
    out.push('\n');
    // The answers of blocked steps come after the step that let them go.
    let mut late: Vec<(usize, usize)> = Vec::new();
    for (index, step) in schedule.steps.iter().enumerate() {
        let column = step.session as usize - 1;
        let number = format!("{:>NUMBER$}", index + 1);
        for (line, text) in wrap(&step.sql, COLUMN).into_iter().enumerate() {
            let left = if line == 0 { number.as_str() } else { "" };
            out.push_str(&row(left, column, &text));
        }
        match (&step.waited_for, step.resumed_after) {
            (Some(what), Some(after)) => {
                out.push_str(&cell_lines(column, &format!("waiting for {what}")));
                late.push((after, index));
            }
            (Some(what), None) => {
                out.push_str(&cell_lines(column, &format!("waiting for {what}")));
                out.push_str(&cell_lines(column, &format!("-> {}", step.answer)));
            }
            (None, _) => out.push_str(&cell_lines(column, &format!("-> {}", step.answer))),
        }
        if let Some(cluster) = &step.cluster {
            out.push_str(&cell_lines(column, &format!("cluster: {cluster}")));
        }
        for &(_, waiting) in late.iter().filter(|(after, _)| *after == index) {
            let step = &schedule.steps[waiting];
            let resumed = format!("<... step {} completed> -> {}", waiting + 1, step.answer);
            out.push_str(&cell_lines(step.session as usize - 1, &resumed));
        }
        late.retain(|(after, _)| *after != index);
    }
    out.push_str(&format!("\n{}\n", schedule.ends.join("; ")));
    out.push_str(&format!("=> {}\n", schedule.summary));
    out
}

/// A line with `left` in the number column and `text` in session `column`'s column.
fn row(left: &str, column: usize, text: &str) -> String {
    let mut line = format!("{left:>NUMBER$}  ");
    line.push_str(&" ".repeat(column * (COLUMN + 2)));
    line.push_str(text);
    format!("{}\n", line.trim_end())
}

/// `text`, wrapped, indented under session `column`'s statement.
fn cell_lines(column: usize, text: &str) -> String {
    let wrapped = wrap(text, COLUMN - 2);
    wrapped
        .iter()
        .map(|line| row("", column, &format!("  {line}")))
        .collect()
}

fn pad(text: &str, width: usize) -> String {
    format!("{text:<width$}")
}

/// `text` in lines of at most `width` characters, broken at spaces where it can be.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let extra = usize::from(!line.is_empty());
        if !line.is_empty() && line.chars().count() + extra + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
        while line.chars().count() > width {
            let head: String = line.chars().take(width).collect();
            line = line.chars().skip(width).collect();
            lines.push(head);
        }
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::wrap;

    #[test]
    fn wrap_breaks_at_spaces_and_cuts_long_words() {
        assert_eq!(
            wrap("SELECT count FROM counter", 12),
            ["SELECT count", "FROM counter"]
        );
        assert_eq!(wrap("abcdefghij", 4), ["abcd", "efgh", "ij"]);
        assert_eq!(wrap("", 4), [""]);
    }
}

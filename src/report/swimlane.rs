//! A schedule as a picture: one swimlane per session on a step axis; each statement a box with
//! its answer, each wait a bar from where the step blocked to where it went on, the step where
//! it went wrong in the outcome's colour. Self-contained SVG: no external URLs, no scripts.

use super::escape_markup as escape;
use crate::model::schedule::ScheduleClass;
use crate::model::schedule_results::{AnswerKind, ScheduleRecord};

const STEP: f64 = 150.0;
const BOX: f64 = 142.0;
const LANE: f64 = 92.0;
const LEFT: f64 = 56.0;
const TOP: f64 = 58.0;

/// The colour of a failing step, by the schedule's class.
fn colour(class: ScheduleClass) -> &'static str {
    match class {
        ScheduleClass::Exact | ScheduleClass::ExactAfterWait => "#2e7d32",
        ScheduleClass::Refused => "#ef6c00",
        ScheduleClass::Deadlock | ScheduleClass::Timeout | ScheduleClass::Stalled => "#6a1b9a",
        ScheduleClass::AppError | ScheduleClass::Unknown => "#616161",
        ScheduleClass::Duplicate | ScheduleClass::Extra | ScheduleClass::Lost => "#c62828",
    }
}

/// The step where the schedule went wrong: the failing statement of a refusal, or for a lost
/// update the write of the session that committed last (it wrote over the other's).
pub fn failing_step(schedule: &ScheduleRecord) -> Option<usize> {
    if schedule.class.is_exact() {
        return None;
    }
    if let Some(failed) = schedule
        .steps
        .iter()
        .position(|s| s.kind == AnswerKind::Failed)
    {
        return Some(failed);
    }
    let last_commit = schedule
        .steps
        .iter()
        .rposition(|s| s.sql.eq_ignore_ascii_case("COMMIT"))?;
    let session = schedule.steps[last_commit].session;
    schedule.steps[..last_commit]
        .iter()
        .rposition(|s| s.session == session && s.kind == AnswerKind::Wrote)
}

/// The picture of `schedule` (of `sessions` sessions), titled `title`.
pub fn swimlanes(schedule: &ScheduleRecord, sessions: u32, title: &str) -> String {
    let steps = schedule.steps.len() as f64;
    let width = LEFT + steps * STEP + 20.0;
    let height = TOP + f64::from(sessions) * LANE + 60.0;
    let failing = failing_step(schedule);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" \
         viewBox=\"0 0 {width:.0} {height:.0}\" font-family=\"sans-serif\" font-size=\"11\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n\
         <text x=\"12\" y=\"22\" font-size=\"14\" font-weight=\"bold\">{}</text>\n\
         <text x=\"12\" y=\"40\" fill=\"#333333\">{}</text>\n",
        escape(title),
        escape(&format!("{}: {}", schedule.class, schedule.summary))
    );
    for session in 1..=sessions {
        let y = TOP + f64::from(session - 1) * LANE;
        svg.push_str(&format!(
            "<g class=\"lane\" data-session=\"{session}\">\n\
             <rect x=\"0\" y=\"{y:.0}\" width=\"{width:.0}\" height=\"{:.0}\" fill=\"{}\"/>\n\
             <text x=\"12\" y=\"{:.0}\" font-size=\"14\" font-weight=\"bold\">T{session}</text>\n",
            LANE - 4.0,
            if session % 2 == 1 {
                "#f5f7fa"
            } else {
                "#eef1f5"
            },
            y + LANE / 2.0 + 5.0
        ));
        for (index, step) in schedule.steps.iter().enumerate() {
            if step.session != session {
                continue;
            }
            let x = LEFT + index as f64 * STEP;
            if let (Some(what), Some(after)) = (&step.waited_for, step.resumed_after) {
                let end = LEFT + (after as f64 + 1.0) * STEP;
                svg.push_str(&format!(
                    "<rect class=\"wait\" x=\"{:.0}\" y=\"{:.0}\" width=\"{:.0}\" height=\"8\" \
                     fill=\"#f9a825\"><title>{}</title></rect>\n\
                     <text x=\"{:.0}\" y=\"{:.0}\" fill=\"#8d6e00\">waits</text>\n",
                    x + BOX,
                    y + LANE - 22.0,
                    (end - x - BOX).max(4.0),
                    escape(&format!("waiting for {what}")),
                    x + BOX + 4.0,
                    y + LANE - 26.0
                ));
            }
            let failed = failing == Some(index);
            let (class, stroke) = match (failed, step.local) {
                (true, _) => ("step failed", colour(schedule.class)),
                (false, true) => ("step local", "#9e9e9e"),
                (false, false) => ("step", "#455a64"),
            };
            svg.push_str(&format!(
                "<g class=\"{class}\"><title>{}</title>\n\
                 <rect x=\"{x:.0}\" y=\"{:.0}\" width=\"{BOX:.0}\" height=\"44\" rx=\"4\" \
                 fill=\"{}\" stroke=\"{stroke}\" stroke-width=\"{}\"/>\n\
                 <text x=\"{:.0}\" y=\"{:.0}\">{}</text>\n\
                 <text x=\"{:.0}\" y=\"{:.0}\" fill=\"{}\">{}</text></g>\n",
                escape(&format!("{}. {}\n-> {}", index + 1, step.sql, step.answer)),
                y + 10.0,
                if failed { "#fff3e0" } else { "#ffffff" },
                if failed { 2.5 } else { 1.0 },
                x + 5.0,
                y + 26.0,
                escape(&abbreviate(&format!("{}. {}", index + 1, step.sql), 25)),
                x + 5.0,
                y + 44.0,
                if failed {
                    colour(schedule.class)
                } else {
                    "#555555"
                },
                escape(&abbreviate(&step.answer, 25))
            ));
        }
        svg.push_str("</g>\n");
    }
    svg.push_str(&format!(
        "<text x=\"12\" y=\"{:.0}\" fill=\"#333333\">{}</text>\n</svg>\n",
        height - 18.0,
        escape(&format!(
            "{}. Boxes: statements in the order sent; amber bars: waits; hover for the whole statement.",
            schedule.ends.join("; ")
        ))
    ));
    svg
}

fn abbreviate(text: &str, chars: usize) -> String {
    if text.chars().count() <= chars {
        return text.to_string();
    }
    let head: String = text.chars().take(chars - 1).collect();
    format!("{head}…")
}

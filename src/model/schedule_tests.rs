//! The classification of a schedule by how its instances ended: one case per class.

use super::InstanceEnd::*;
use super::*;

/// A case: its name, how the instances ended, the counter after, whether one waited, and
/// the class expected.
type Case = (
    &'static str,
    Vec<InstanceEnd>,
    Option<i64>,
    bool,
    ScheduleClass,
);

fn refused(code: &str) -> InstanceEnd {
    Refused { code: code.into() }
}

#[test]
fn each_ending_gets_its_class() {
    let cases: [Case; 14] = [
        (
            "both committed",
            vec![Acknowledged(Some(1)), Acknowledged(Some(2))],
            Some(2),
            false,
            ScheduleClass::Exact,
        ),
        (
            "one waited",
            vec![Acknowledged(Some(1)), Acknowledged(Some(2))],
            Some(2),
            true,
            ScheduleClass::ExactAfterWait,
        ),
        (
            "both wrote 1",
            vec![Acknowledged(Some(1)), Acknowledged(Some(1))],
            Some(1),
            false,
            ScheduleClass::Lost,
        ),
        (
            "same count, none lost",
            vec![Acknowledged(Some(7)), Acknowledged(Some(7))],
            Some(2),
            false,
            ScheduleClass::Duplicate,
        ),
        (
            "counts unknown, one lost",
            vec![Acknowledged(None), Acknowledged(None)],
            Some(1),
            false,
            ScheduleClass::Lost,
        ),
        (
            "refused after a wait",
            vec![Acknowledged(Some(1)), refused("40001")],
            Some(1),
            true,
            ScheduleClass::Refused,
        ),
        (
            "a deadlock's victim",
            vec![
                Deadlock {
                    code: "40P01".into(),
                },
                Acknowledged(Some(1)),
            ],
            Some(1),
            true,
            ScheduleClass::Deadlock,
        ),
        (
            "a stranger's lock",
            vec![
                TimedOut {
                    code: "55P03".into(),
                },
                Acknowledged(Some(1)),
            ],
            Some(1),
            true,
            ScheduleClass::Timeout,
        ),
        (
            "refused yet applied",
            vec![Acknowledged(Some(1)), refused("40001")],
            Some(2),
            false,
            ScheduleClass::Extra,
        ),
        (
            "fate unknown, not applied",
            vec![
                Acknowledged(Some(1)),
                Unknown {
                    cause: "reset".into(),
                },
            ],
            Some(1),
            false,
            ScheduleClass::Unknown,
        ),
        (
            "the application failed after its commit",
            vec![Acknowledged(None), ApplicationError { status: 500 }],
            Some(2),
            false,
            ScheduleClass::AppError,
        ),
        (
            "the application failed before its commit",
            vec![Acknowledged(None), ApplicationError { status: 500 }],
            Some(1),
            true,
            ScheduleClass::AppError,
        ),
        (
            "the application failed and an acknowledged increment is missing",
            vec![Acknowledged(None), ApplicationError { status: 500 }],
            Some(0),
            false,
            ScheduleClass::Lost,
        ),
        (
            "counter unreadable",
            vec![Acknowledged(Some(1)), Acknowledged(Some(2))],
            None,
            false,
            ScheduleClass::Unknown,
        ),
    ];
    for (name, ends, after, waited, class) in cases {
        assert_eq!(
            ScheduleClass::classify(0, &ends, after, waited),
            class,
            "{name}"
        );
    }
}

#[test]
fn a_cell_is_plus_only_when_every_schedule_was_exact() {
    let mut classes = BTreeMap::from([
        (ScheduleClass::Exact, 3),
        (ScheduleClass::ExactAfterWait, 2),
    ]);
    assert_eq!(
        cell_verdict(&classes, 0),
        Some((Verdict::Exact, ScheduleClass::ExactAfterWait))
    );
    classes.insert(ScheduleClass::Refused, 1);
    assert_eq!(
        cell_verdict(&classes, 0),
        Some((Verdict::NotExact, ScheduleClass::Refused))
    );
    classes.insert(ScheduleClass::Lost, 1);
    assert_eq!(
        cell_verdict(&classes, 0),
        Some((Verdict::NotExact, ScheduleClass::Lost))
    );
    assert_eq!(cell_verdict(&BTreeMap::new(), 0), None);
    // A proof that stopped early is no proof.
    let exact = BTreeMap::from([(ScheduleClass::Exact, 5)]);
    assert_eq!(
        cell_verdict(&exact, 1),
        Some((Verdict::NotProven, ScheduleClass::Exact))
    );
}

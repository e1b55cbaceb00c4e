//! Which instance goes next: a pure function of the instances that could go, the one that ran
//! last, and the choice list the explorer asked for. Unless the list says otherwise, the
//! instance that just ran goes on (the alternatives, explored later, switch away from it).

/// A point where more than one instance could go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Choice {
    pub enabled: Vec<usize>,
    pub chosen: usize,
    /// The enabled instances that have not yet sent a statement another could notice:
    /// interchangeable, since the instances are the same method.
    pub untouched: Vec<usize>,
    /// The instance of the step before, if it could have gone on (choosing another is then a
    /// switch that counts against `--max-switches`).
    pub preempted: Option<usize>,
    /// How many steps had run when the choice was made (set by the runner).
    pub at_step: usize,
}

/// The choice among `enabled` (two or more, ascending): `wanted` when the explorer's list
/// names one, else the instance that ran `last` if it could go on, else the lowest.
/// `touched[i]`: instance `i` has sent a statement another could notice. The second value
/// says why `wanted` could not be followed (the database took another turn).
pub(super) fn choose(
    enabled: &[usize],
    last: Option<usize>,
    wanted: Option<usize>,
    touched: &[bool],
    depth: usize,
) -> (Choice, Option<String>) {
    let preempted = last.filter(|last| enabled.contains(last));
    let default = preempted.unwrap_or(enabled[0]);
    let (chosen, diverged) = match wanted {
        Some(wanted) if enabled.contains(&wanted) => (wanted, None),
        Some(wanted) => {
            let could: Vec<usize> = enabled.iter().map(|i| i + 1).collect();
            let why = format!(
                "choice {}: T{} was to go, but only {could:?} could",
                depth + 1,
                wanted + 1
            );
            (default, Some(why))
        }
        None => (default, None),
    };
    let untouched = enabled.iter().copied().filter(|&i| !touched[i]).collect();
    let choice = Choice {
        enabled: enabled.to_vec(),
        chosen,
        untouched,
        preempted,
        at_step: 0,
    };
    (choice, diverged)
}

#[cfg(test)]
mod tests {
    use super::choose;

    #[test]
    fn without_a_list_the_instance_that_ran_goes_on() {
        let (choice, diverged) = choose(&[0, 1], Some(1), None, &[true, true], 0);
        assert_eq!(
            (choice.chosen, choice.preempted, diverged),
            (1, Some(1), None)
        );
    }

    #[test]
    fn without_a_list_or_a_last_the_lowest_goes() {
        let (choice, _) = choose(&[1, 2], None, None, &[false, false, false], 0);
        assert_eq!((choice.chosen, choice.preempted), (1, None));
        assert_eq!(choice.untouched, vec![1, 2]);
    }

    #[test]
    fn a_last_instance_that_cannot_go_on_preempts_nothing() {
        let (choice, _) = choose(&[0, 2], Some(1), None, &[true, true, false], 3);
        assert_eq!((choice.chosen, choice.preempted), (0, None));
        assert_eq!(choice.untouched, vec![2]);
    }

    #[test]
    fn the_list_wins_when_it_can_be_followed() {
        let (choice, diverged) = choose(&[0, 1], Some(0), Some(1), &[true, false], 2);
        assert_eq!(
            (choice.chosen, choice.preempted, diverged),
            (1, Some(0), None)
        );
        assert_eq!(choice.untouched, vec![1]);
    }

    #[test]
    fn a_list_that_cannot_be_followed_is_said_and_the_default_goes() {
        let (choice, diverged) = choose(&[0, 2], Some(2), Some(1), &[true, true, true], 4);
        assert_eq!(choice.chosen, 2);
        assert_eq!(
            diverged.as_deref(),
            Some("choice 5: T2 was to go, but only [1, 3] could")
        );
    }
}

//! What `configure` and `unconfigure` do with one origin's helper key: which of its values are
//! ours, and whether anything needs writing. Pure: the values come from the caller.

use std::collections::BTreeSet;

use crate::git::is_our_helper;

/// What `configure` does with one origin's helper key in one file.
#[derive(Debug, PartialEq, Eq)]
pub enum HelperPlan {
    /// The file's last two values for the key are a reset and our identical helper.
    Unchanged,
    /// Remove the values at these positions (an earlier configuration of ours), then append a
    /// reset and our helper.
    Write { remove: Vec<usize> },
}

/// `values` are the file's values for the helper key, in order, each with whether its line
/// carries our marker.
pub fn plan_helper(values: &[(Option<&str>, bool)], helper: &str, exe: &str) -> HelperPlan {
    if let [.., (Some(""), _), (Some(last), _)] = values {
        if *last == helper {
            return HelperPlan::Unchanged;
        }
    }
    HelperPlan::Write {
        remove: ours_and_resets(values, exe),
    }
}

/// The values of one helper key that are ours: our helpers, every reset `configure` marked,
/// and the reset right before each of our helpers. That last rule finds the pair `configure`
/// writes when git is too old for comments, and the pair the README shows how to write; a
/// reset left behind without its helper would go on clearing the helpers before it.
pub fn ours_and_resets(values: &[(Option<&str>, bool)], exe: &str) -> Vec<usize> {
    let mut ours = BTreeSet::new();
    for (i, (value, marked)) in values.iter().enumerate() {
        if *marked {
            ours.insert(i);
        }
        if value.is_some_and(|v| is_our_helper(v, exe)) {
            ours.insert(i);
            if i > 0 && values[i - 1].0 == Some("") {
                ours.insert(i - 1);
            }
        }
    }
    ours.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::super::model::testing::EXE;
    use super::*;

    #[test]
    fn configure_changes_nothing_when_the_last_two_entries_are_ours() {
        let helper = format!("{EXE} --token-env X");
        let plan = |values: &[(Option<&str>, bool)]| plan_helper(values, &helper, EXE);
        assert_eq!(
            plan(&[(Some(""), true), (Some(helper.as_str()), true)]),
            HelperPlan::Unchanged
        );
        // Written by hand, as the README shows: still ours, still nothing to do.
        assert_eq!(
            plan(&[
                (Some("store"), false),
                (Some(""), false),
                (Some(helper.as_str()), false)
            ]),
            HelperPlan::Unchanged
        );
        assert_eq!(plan(&[]), HelperPlan::Write { remove: vec![] });
        assert_eq!(
            plan(&[(Some(helper.as_str()), false)]),
            HelperPlan::Write { remove: vec![0] }
        );
        // Ours with other options, then something else: replaced, the other kept.
        assert_eq!(
            plan(&[
                (Some("store"), false),
                (Some(""), true),
                (Some(EXE), true),
                (Some("cache"), false)
            ]),
            HelperPlan::Write { remove: vec![1, 2] }
        );
    }

    #[test]
    fn unconfigure_takes_our_helpers_and_their_resets_and_keeps_the_users() {
        let take = |values: &[(Option<&str>, bool)]| ours_and_resets(values, EXE);
        // The user's own reset, then ours: only ours go.
        assert_eq!(
            take(&[(Some(""), false), (Some(""), true), (Some(EXE), true)]),
            [1, 2]
        );
        // Written by a git without --comment: the reset right before ours goes with it.
        assert_eq!(
            take(&[
                (Some("store"), false),
                (Some(""), false),
                (Some(EXE), false)
            ]),
            [1, 2]
        );
        // A marked reset whose helper was since removed by hand.
        assert_eq!(take(&[(Some(""), true), (Some("store"), false)]), [0]);
        assert!(take(&[(Some(""), false), (Some("store"), false)]).is_empty());
    }
}

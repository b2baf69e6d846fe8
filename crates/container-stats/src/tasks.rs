//! Threads of a cgroup by scheduler state, from `/proc/<tid>/stat`: cAdvisor's
//! `container_tasks_state` and the input of its load average.
//!
//! The kernel's cgroupstats (which cAdvisor asks over netlink, with `--enable_load_reader`)
//! counts a cgroup's threads by `__state`; `/proc/<tid>/stat` shows the same state as a letter.

use std::path::Path;

use crate::cgroup::read_optional;
use crate::stats::TaskStates;

/// The state letter of a `/proc/<tid>/stat` line: the first field after the command name,
/// which is in parentheses and may itself hold spaces and parentheses.
pub fn parse_stat_state(text: &str) -> Option<char> {
    let (_, rest) = text.rsplit_once(')')?;
    rest.split_ascii_whitespace().next()?.chars().next()
}

/// Adds one thread in state `state` (letters other than R, S, D and T are counted nowhere,
/// as cgroupstats counts idle, zombie, traced and dead tasks nowhere).
pub fn count(states: &mut TaskStates, state: char) {
    let slot = match state {
        'R' => &mut states.running,
        'S' => &mut states.sleeping,
        'D' => &mut states.uninterruptible,
        'T' => &mut states.stopped,
        _ => return,
    };
    *slot = slot.saturating_add(1);
}

/// Counts the threads `tids` by state. Threads that exit meanwhile are simply not counted.
pub fn task_states(procfs: &Path, tids: &[u32], buf: &mut String) -> TaskStates {
    let mut states = TaskStates::default();
    for tid in tids {
        let path = procfs.join(tid.to_string()).join("stat");
        if let Some(state) = read_optional(&path, buf).and_then(parse_stat_state) {
            count(&mut states, state);
        }
    }
    states
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_follows_the_last_parenthesis() {
        // Captured from a busy-loop container here, then a command name made to look hostile.
        let text = include_str!("../tests/fixtures/proc/task_stat");
        assert_eq!(parse_stat_state(text), Some('R'));
        assert_eq!(
            parse_stat_state("42 (a) b) S 1 42 42 0 -1 4194560"),
            Some('S')
        );
        assert_eq!(parse_stat_state("42 (no closing"), None);
        assert_eq!(parse_stat_state("42 (x)"), None);
        assert_eq!(parse_stat_state(""), None);
    }

    #[test]
    fn letters_are_counted_like_cgroupstats() {
        let mut s = TaskStates::default();
        for c in ['R', 'S', 'S', 'D', 'T', 'Z', 'I', 't', 'X'] {
            count(&mut s, c);
        }
        assert_eq!(
            s,
            TaskStates {
                running: 1,
                sleeping: 2,
                uninterruptible: 1,
                stopped: 1
            }
        );
    }

    #[test]
    fn threads_of_this_process_are_found() {
        let tids = [std::process::id()];
        let s = task_states(Path::new("/proc"), &tids, &mut String::new());
        // The test thread itself runs while it reads its own stat.
        assert_eq!(s.running + s.sleeping, 1, "{s:?}");
        let none = task_states(Path::new("/proc"), &[u32::MAX], &mut String::new());
        assert_eq!(none, TaskStates::default());
    }
}

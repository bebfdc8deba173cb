//! The kit's own promises: a missing tool fails, waits end with a message
//! naming what was awaited, output lines are collected, temp dirs vanish, and
//! a scenario list becomes tests.

use std::process::Command;
use std::time::Duration;

use testkit::{Proc, TempDir, require_tool};

#[test]
#[should_panic(expected = "apt-get install -y no-such-package")]
fn a_missing_tool_fails_naming_its_package() {
    require_tool("testkit-no-such-tool", &["--version"], "no-such-package");
}

#[test]
fn a_present_tool_passes() {
    require_tool("sh", &["-c", "true"], "dash");
}

#[test]
#[should_panic(expected = "waiting for the impossible")]
fn a_wait_that_never_succeeds_names_what_it_awaited() {
    testkit::wait::until_within("the impossible", Duration::from_millis(100), String::new, || None::<()>);
}

#[test]
fn lines_of_both_streams_are_collected_and_awaited() {
    let mut p = Proc::spawn(Command::new("sh").args(["-c", "echo out; echo err >&2; echo ready"]), "sh");
    assert_eq!(p.wait_for("the ready line", |l| l == "ready"), "ready");
    p.lines.wait_eof(Duration::from_secs(10));
    let mut all = p.lines.all();
    all.sort();
    assert_eq!(all, ["err", "out", "ready"]);
}

#[test]
#[should_panic(expected = "exited")]
fn a_process_that_ends_before_its_line_fails_the_wait() {
    let mut p = Proc::spawn(Command::new("sh").args(["-c", "echo something else"]), "sh");
    p.wait_for("a line that never comes", |l| l == "never");
}

#[test]
fn a_temp_dir_is_removed_on_drop() {
    let dir = TempDir::new("kit");
    std::fs::write(dir.path("f"), b"x").unwrap();
    let path = dir.0.clone();
    assert!(path.is_dir());
    drop(dir);
    assert!(!path.exists());
}

mod scenarios {
    /// Fails unless the generated test passes the backend it was given.
    pub fn gets_its_backend(backend: &&str) {
        assert_eq!(*backend, "fake");
    }
}

testkit::scenario_list!(kit_scenarios = scenarios { gets_its_backend });
kit_scenarios!("fake");

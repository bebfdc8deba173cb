//! Child processes whose output is collected line by line, and waits on it.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use crate::wait::WAIT;

/// The lines one or more output streams produced so far, with a way to wait
/// for more. Cloning shares them.
#[derive(Clone, Default)]
pub struct Lines(Arc<(Mutex<State>, Condvar)>);

#[derive(Default)]
struct State {
    lines: Vec<String>,
    /// Streams attached and not yet at their end.
    open: usize,
    /// Whether any stream was attached: with none, there is no end to wait for.
    attached: bool,
}

impl Lines {
    /// The lines of one stream.
    pub fn collect(stream: impl Read + Send + 'static) -> Lines {
        let lines = Lines::default();
        lines.attach(stream, None);
        lines
    }

    /// Adds the lines of `stream` (read on a thread of its own); with `echo`,
    /// each line is also printed to stderr as `[ECHO] line`, which the test
    /// harness shows when a test fails.
    pub fn attach(&self, stream: impl Read + Send + 'static, echo: Option<String>) {
        {
            let mut st = self.state();
            st.open += 1;
            st.attached = true;
        }
        let sink = self.clone();
        thread::spawn(move || {
            let mut reader = BufReader::new(stream);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match reader.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        // Lossy: a console may print anything; a test reads text.
                        let line = String::from_utf8_lossy(&buf).trim_end_matches(['\n', '\r']).to_string();
                        if let Some(tag) = &echo {
                            eprintln!("[{tag}] {line}");
                        }
                        sink.update(|st| st.lines.push(line));
                    }
                }
            }
            sink.update(|st| st.open -= 1);
        });
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panicking reader thread cannot leave the list half-written.
        self.0.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn update(&self, f: impl FnOnce(&mut State)) {
        f(&mut self.state());
        self.0.1.notify_all();
    }

    /// Every line so far.
    pub fn all(&self) -> Vec<String> {
        self.state().lines.clone()
    }

    /// Every line so far, joined by newlines.
    pub fn text(&self) -> String {
        self.all().join("\n")
    }

    /// How many lines so far satisfy `pred`.
    pub fn count(&self, pred: impl Fn(&str) -> bool) -> usize {
        self.state().lines.iter().filter(|l| pred(l)).count()
    }

    /// Whether every attached stream has ended.
    pub fn ended(&self) -> bool {
        let st = self.state();
        st.attached && st.open == 0
    }

    /// Waits for a line satisfying `pred`; the first such line. Panics after
    /// [`WAIT`] or at the end of the streams, naming `what`.
    pub fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        self.wait_for_nth(what, 1, pred)
    }

    /// Waits until `n` lines satisfy `pred`; the `n`th of them.
    pub fn wait_for_nth(&self, what: &str, n: usize, pred: impl Fn(&str) -> bool) -> String {
        match self.try_wait_for_nth(n, WAIT, pred) {
            Ok(line) => line,
            Err(why) => panic!("{why} waiting for {what}; output so far:\n{}", self.text()),
        }
    }

    /// Like [`Lines::wait_for_nth`] within `limit`, but the end of the streams
    /// or the time limit is an `Err` saying which.
    pub fn try_wait_for_nth(
        &self,
        n: usize,
        limit: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> Result<String, &'static str> {
        let deadline = Instant::now() + limit;
        let mut st = self.state();
        loop {
            if let Some(l) = st.lines.iter().filter(|l| pred(l)).nth(n.saturating_sub(1)) {
                return Ok(l.clone());
            }
            if st.attached && st.open == 0 {
                return Err("end of output");
            }
            let now = Instant::now();
            if now >= deadline {
                return Err("timed out");
            }
            st = self.0.1.wait_timeout(st, deadline - now).unwrap_or_else(|e| e.into_inner()).0;
        }
    }

    /// Waits for the end of every stream, for at most `limit`.
    pub fn wait_eof(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        let mut st = self.state();
        while !(st.attached && st.open == 0) {
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            st = self.0.1.wait_timeout(st, deadline - now).unwrap_or_else(|e| e.into_inner()).0;
        }
    }
}

/// A child process whose stdout and stderr lines are collected (into one
/// [`Lines`], echoed to stderr tagged with its name); killed on drop.
pub struct Proc {
    child: Child,
    name: String,
    /// Everything it printed, both streams.
    pub lines: Lines,
}

impl Proc {
    /// Starts `cmd` with piped output and no stdin.
    pub fn spawn(cmd: &mut Command, name: &str) -> Proc {
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({cmd:?}): {e}"));
        Proc::adopt(child, name)
    }

    /// Takes over a started child: collects whichever of its streams are piped.
    pub fn adopt(mut child: Child, name: &str) -> Proc {
        let lines = Lines::default();
        if let Some(s) = child.stdout.take() {
            lines.attach(s, Some(name.to_string()));
        }
        if let Some(s) = child.stderr.take() {
            lines.attach(s, Some(name.to_string()));
        }
        Proc { child, name: name.to_string(), lines }
    }

    /// Its process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Whether it still runs.
    pub fn alive(&mut self) -> bool {
        self.exit_status().is_none()
    }

    /// How it ended, if it did.
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("wait for the child")
    }

    /// Everything it printed so far.
    pub fn output(&self) -> String {
        self.lines.text()
    }

    /// Waits for a line satisfying `pred` (the first such line), for at most
    /// [`WAIT`]. Panics naming `what`, with the output so far, on time-out or
    /// when the process ends first.
    pub fn wait_for(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let slice = Duration::from_millis(50);
            if let Ok(line) = self.lines.try_wait_for_nth(1, slice, &pred) {
                return line;
            }
            if let Some(status) = self.exit_status() {
                // Lines printed just before the exit may still be on their way.
                self.lines.wait_eof(Duration::from_secs(1));
                if let Some(l) = self.lines.all().into_iter().find(|l| pred(l)) {
                    return l;
                }
                panic!("{} exited ({status}) while waiting for {what}:\n{}", self.name, self.output());
            }
            if Instant::now() >= deadline {
                panic!("timed out after {WAIT:?} waiting for {what} from {}:\n{}", self.name, self.output());
            }
        }
    }

    /// Kills it (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// How a program run to its end by [`run_limited`] ended, with all it printed.
pub struct Run {
    pub status: Option<i32>,
    pub signal: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Status, signal and both outputs, for assertion messages.
    pub fn describe(&self) -> String {
        format!(
            "status={:?} signal={:?}\n--- stdout\n{}--- stderr\n{}",
            self.status, self.signal, self.stdout, self.stderr
        )
    }
}

/// Runs `cmd` (no stdin, both outputs captured byte for byte) to its end. Panics, with
/// what it printed, when it runs longer than `limit`.
pub fn run_limited(cmd: &mut Command, limit: Duration) -> Run {
    use std::os::unix::process::ExitStatusExt;
    let mut child = spawn_piped(cmd);
    let start = Instant::now();
    while child.try_wait().expect("wait for the child").is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().expect("wait for the child");
            panic!(
                "{cmd:?} did not finish within {limit:?}\n--- stdout\n{}--- stderr\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        thread::sleep(Duration::from_millis(5));
    }
    let out = child.wait_with_output().expect("wait for the child");
    Run {
        status: out.status.code(),
        signal: out.status.signal(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Starts `cmd` with no stdin and both outputs piped; panics naming it when it cannot.
pub(crate) fn spawn_piped(cmd: &mut Command) -> Child {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"))
}

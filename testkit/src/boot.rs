//! Booting an appliance on a backend, and one list of scenarios run on each.
//!
//! A [`Backend`] says how an appliance starts: the unix binary of its crate
//! with the arguments, or the tender running `dist/NAME.hvt` with the
//! process engine. [`Appliance::boot`] starts it (inside a [`NetNs`], if
//! given), waits for its readiness line and gives back a handle with the
//! console lines, more waits, and kill-on-drop. [`scenario_list!`] turns one
//! list of scenario functions (`fn(&Backend)`) into `#[test]`s per backend.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::netns::NetNs;
use crate::proc::Proc;

/// The checkout this crate was built from.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().expect("workspace root")
}

/// `$env_var`, else `dist/NAME.hvt` of the checkout. Panics naming the
/// command that builds it when it is missing.
pub fn hvt_image(name: &str, env_var: &str) -> PathBuf {
    let path =
        std::env::var_os(env_var).map(PathBuf::from).unwrap_or_else(|| root().join("dist").join(format!("{name}.hvt")));
    assert!(
        path.is_file(),
        "{} is missing: build it with `cargo xtask image {name}` (or set {env_var})",
        path.display()
    );
    path
}

/// `$HVT_TENDER`, else a tender built in the checkout's target directory
/// (or `$CARGO_TARGET_DIR`), else one on `PATH`. Panics when there is none.
pub fn tender() -> PathBuf {
    if let Some(p) = std::env::var_os("HVT_TENDER") {
        let p = PathBuf::from(p);
        assert!(p.is_file(), "HVT_TENDER={} is not a file", p.display());
        return p;
    }
    let mut candidates = Vec::new();
    for profile in ["release", "debug"] {
        candidates.push(root().join("target").join(profile).join("tender"));
        if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
            candidates.push(PathBuf::from(&t).join(profile).join("tender"));
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|d| d.join("tender")));
    }
    candidates
        .into_iter()
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("no tender binary: build it (cargo build -p tender) or set HVT_TENDER"))
}

/// Where an appliance runs.
#[derive(Clone, Debug)]
pub enum Backend {
    /// A unix binary (`env!("CARGO_BIN_EXE_NAME")` of the appliance's crate).
    Unix { binary: PathBuf },
    /// An hvt image under the tender's process engine.
    Hvt { tender: PathBuf, image: PathBuf },
}

impl Backend {
    /// The unix binary at `binary`.
    pub fn unix(binary: impl Into<PathBuf>) -> Backend {
        Backend::Unix { binary: binary.into() }
    }

    /// The hvt image of appliance `name`: `$HVT_<NAME>_IMAGE`, else
    /// `dist/NAME.hvt`, under the tender of [`tender`]. Panics, naming what
    /// to build, when either is missing.
    pub fn hvt(name: &str) -> Backend {
        let var = format!("HVT_{}_IMAGE", name.to_ascii_uppercase());
        let image = hvt_image(name, &var);
        Backend::Hvt { tender: tender(), image }
    }

    pub fn is_hvt(&self) -> bool {
        matches!(self, Backend::Hvt { .. })
    }

    /// The command line that boots the appliance: on unix the binary with
    /// `devices` (`--net:service=tap0`, `--block:storage=FILE`) and `args`; on
    /// hvt `tender --engine=process TENDER_ARGS DEVICES -- IMAGE ARGS`.
    /// `tender_args` (such as `--mem=32`) are for the tender only.
    pub fn argv(&self, tender_args: &[&str], devices: &[&str], args: &[&str]) -> Vec<OsString> {
        let mut out: Vec<OsString> = Vec::new();
        match self {
            Backend::Unix { binary } => {
                out.push(binary.into());
                out.extend(devices.iter().map(OsString::from));
            }
            Backend::Hvt { tender, image } => {
                out.push(tender.into());
                out.push("--engine=process".into());
                out.extend(tender_args.iter().map(OsString::from));
                out.extend(devices.iter().map(OsString::from));
                out.push("--".into());
                out.push(image.into());
            }
        }
        out.extend(args.iter().map(OsString::from));
        out
    }

    /// [`Backend::argv`] as a command, run inside `ns` if given.
    pub fn command(&self, ns: Option<&NetNs>, tender_args: &[&str], devices: &[&str], args: &[&str]) -> Command {
        let argv = self.argv(tender_args, devices, args);
        let (program, rest) = argv.split_first().expect("a program");
        let mut cmd = match ns {
            Some(ns) => ns.cmd(program),
            None => Command::new(program),
        };
        cmd.args(rest);
        cmd
    }
}

/// A booted appliance: its console (stdout and stderr) lines, waits on them,
/// killed on drop.
pub struct Appliance {
    pub proc: Proc,
}

impl Appliance {
    /// Starts `cmd` (made by [`Backend::command`]) and waits for a console line
    /// satisfying `ready` (named `what` in the failure message); on hvt also
    /// for the platform's "starting on hvt" line, so that the image, not a
    /// host binary, answered.
    pub fn boot(
        backend: &Backend,
        mut cmd: Command,
        name: &str,
        what: &str,
        ready: impl Fn(&str) -> bool,
    ) -> Appliance {
        let mut app = Appliance { proc: Proc::spawn(&mut cmd, name) };
        app.proc.wait_for(what, ready);
        if backend.is_hvt() {
            app.proc.wait_for("the hvt boot line", |l| l.contains("starting on hvt"));
        }
        app
    }

    /// Waits for a console line satisfying `pred` (see [`Proc::wait_for`]).
    pub fn wait_for(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        self.proc.wait_for(what, pred)
    }

    /// Whether it still runs.
    pub fn alive(&mut self) -> bool {
        self.proc.alive()
    }

    /// The console so far.
    pub fn output(&self) -> String {
        self.proc.output()
    }

    /// Kills it (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        self.proc.kill()
    }
}

/// Defines a macro `$list!` that expands one list of scenarios into one
/// `#[test]` per scenario for a backend, so that the test files of each
/// backend name no scenario themselves:
///
/// ```ignore
/// // tests/common/scenarios.rs (with `#[macro_use] mod scenarios;`)
/// testkit::scenario_list!(dns_scenarios = common::scenarios { answers, updates });
/// // tests/e2e.rs (with `#[macro_use] mod common;`)
/// dns_scenarios!(common::Backend::Unix);
/// // tests/hvt.rs
/// dns_scenarios!(common::Backend::hvt(), #[ignore = "needs the image"]);
/// ```
///
/// Each test calls `path::scenario(&backend)`; the attributes after the
/// backend go on every test.
#[macro_export]
macro_rules! scenario_list {
    ($list:ident = $path:path { $($name:ident),* $(,)? }) => {
        $crate::scenario_list!(@define ($) $list $path { $($name),* });
    };
    // `$d` is a `$` token: the macro this one writes needs metavariables of its own.
    (@define ($d:tt) $list:ident $path:path { $($name:ident),* }) => {
        macro_rules! $list {
            ($d backend:expr $d(, #[$d attr:meta])* $d(,)?) => {
                $(
                    #[test]
                    $d(#[$d attr])*
                    fn $name() {
                        use $path as scenarios;
                        scenarios::$name(&$d backend);
                    }
                )*
            };
        }
    };
}

/// Where the hvt tests find the tender and the images (short names for
/// `use testkit::hvt; hvt::image(..); hvt::tender()`).
pub mod hvt {
    pub use super::{hvt_image as image, tender};
}

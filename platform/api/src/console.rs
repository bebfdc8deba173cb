//! `Console`: where log lines go, and the `log` facade wired to it.

use std::rc::Rc;
use std::sync::OnceLock;

/// Line-oriented output (stdout on unix, the PUTS hypercall on hvt).
///
/// Contract: `write_line` writes `line` and a newline; it is best effort and
/// never fails (output may be lost, the appliance goes on).
pub trait Console {
    fn write_line(&self, line: &str);
}

/// Log filter parsed from `-l`: a default level and per-target overrides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogFilter {
    pub default: log::LevelFilter,
    pub targets: Vec<(String, log::LevelFilter)>,
}

impl Default for LogFilter {
    fn default() -> Self {
        LogFilter { default: log::LevelFilter::Info, targets: Vec::new() }
    }
}

impl LogFilter {
    /// Parses MirageOS's syntax: `LEVEL`, `*:LEVEL`, `target:LEVEL`, comma
    /// separated; levels are `quiet`, `error`, `warning`/`warn`, `info`,
    /// `debug`, `trace`.
    pub fn parse(spec: &str) -> Result<LogFilter, String> {
        let mut filter = LogFilter::default();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (target, level) = match part.rsplit_once(':') {
                Some((t, l)) => (Some(t), l),
                None => (None, part),
            };
            let level = match level.to_ascii_lowercase().as_str() {
                "quiet" | "off" => log::LevelFilter::Off,
                "error" => log::LevelFilter::Error,
                "warning" | "warn" => log::LevelFilter::Warn,
                "info" => log::LevelFilter::Info,
                "debug" => log::LevelFilter::Debug,
                "trace" => log::LevelFilter::Trace,
                other => return Err(format!("unknown log level '{other}' (quiet, error, warning, info, debug)")),
            };
            match target {
                None | Some("*") => filter.default = level,
                Some(t) => filter.targets.push((t.to_string(), level)),
            }
        }
        Ok(filter)
    }

    fn level_for(&self, target: &str) -> log::LevelFilter {
        self.targets
            .iter()
            .filter(|(t, _)| target == t || target.starts_with(&format!("{t}::")))
            .map(|(_, l)| *l)
            .next_back()
            .unwrap_or(self.default)
    }

    fn max(&self) -> log::LevelFilter {
        self.targets.iter().map(|(_, l)| *l).fold(self.default, std::cmp::max)
    }
}

thread_local! {
    static SINK: std::cell::RefCell<Option<Rc<dyn Console>>> = const { std::cell::RefCell::new(None) };
}

struct ConsoleLogger {
    filter: LogFilter,
}

static LOGGER: OnceLock<ConsoleLogger> = OnceLock::new();

impl log::Log for ConsoleLogger {
    fn enabled(&self, meta: &log::Metadata<'_>) -> bool {
        meta.level() <= self.filter.level_for(meta.target())
    }
    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let line = format!("{:<5} {}: {}", record.level(), record.target(), record.args());
        SINK.with(|s| match &*s.borrow() {
            Some(console) => console.write_line(&line),
            None => eprintln!("{line}"),
        });
    }
    fn flush(&self) {}
}

/// Routes the `log` macros of this thread to `console`, filtered by `filter`.
/// The first call fixes the filter for the process; later calls (several
/// simulated hosts in one test) only change the console.
pub fn install_logger(console: Rc<dyn Console>, filter: LogFilter) {
    SINK.with(|s| *s.borrow_mut() = Some(console));
    let max = filter.max();
    if LOGGER.set(ConsoleLogger { filter }).is_ok() {
        let _ = log::set_logger(LOGGER.get().expect("just set"));
        log::set_max_level(max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mirage_log_syntax() {
        let f = LogFilter::parse("*:debug,tcp:warning").unwrap();
        assert_eq!(f.default, log::LevelFilter::Debug);
        assert_eq!(f.level_for("tcp::socket"), log::LevelFilter::Warn);
        assert_eq!(f.level_for("udp"), log::LevelFilter::Debug);
        assert!(LogFilter::parse("loud").unwrap_err().contains("loud"));
    }
}

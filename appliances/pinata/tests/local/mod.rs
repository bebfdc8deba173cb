//! The Piñata as a local process (`e2e`, `soak`): the built `pinata` binary on free
//! unprivileged ports of 127.0.0.1, booted by testkit's unix harness.

use pinata_core::Ports;
use testkit::{Appliance, Backend, free_port};

use crate::support::{Lines, curl_in, require_tools, unique_secret};

/// A running `pinata` process; killed on drop.
pub struct Pinata {
    pub app: Appliance,
    /// Its console (stdout and stderr).
    pub log: Lines,
    pub ports: Ports,
    pub secret: String,
}

impl Pinata {
    /// Starts the Piñata (with `--test` if `test`) and waits for its ready line.
    pub fn start(test: bool) -> Pinata {
        Pinata::start_with(test, free_port(), &[])
    }

    /// Same, with the connect-back target port and extra arguments.
    pub fn start_with(test: bool, target: u16, extra: &[&str]) -> Pinata {
        require_tools();
        let ports = Ports {
            server: free_port(),
            connect_back: free_port(),
            client: free_port(),
            http: free_port(),
            https: free_port(),
            connect_back_target: target,
        };
        let secret = unique_secret();
        let mut args = vec![
            format!("--secret={secret}"),
            format!("--server-port={}", ports.server),
            format!("--connect-back-port={}", ports.connect_back),
            format!("--client-port={}", ports.client),
            format!("--http-port={}", ports.http),
            format!("--https-port={}", ports.https),
            format!("--connect-back-target-port={}", ports.connect_back_target),
        ];
        args.extend(extra.iter().map(|a| a.to_string()));
        if test {
            args.push("--test".into());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let backend = Backend::unix(env!("CARGO_BIN_EXE_pinata"));
        let cmd = backend.command(None, &[], &[], &args);
        let app = Appliance::boot(&backend, cmd, "pinata", "the ready line", |l| l.contains(" ready: "));
        let log = app.proc.lines.clone();
        Pinata { app, log, ports, secret }
    }

    /// Asserts the process still runs and the secret never reached its log.
    pub fn check(&mut self) {
        assert!(self.app.alive(), "pinata exited:\n{}", self.log.text());
        self.assert_secret_not_logged();
    }

    pub fn assert_secret_not_logged(&self) {
        let log = self.log.text();
        assert!(!log.contains(&self.secret), "the secret appeared in the log:\n{log}");
    }
}

impl Drop for Pinata {
    fn drop(&mut self) {
        self.app.kill();
        if !std::thread::panicking() {
            self.assert_secret_not_logged();
        }
    }
}

/// `curl` with the given arguments; the body (and errors).
pub fn curl(args: &[&str]) -> String {
    curl_in(None, args)
}

//! The deadline of a Git operation (Flux's GitRepository `spec.timeout`, 60 s by default), and
//! what makes the blocking work really stop when it passes, so that a remote that never answers
//! holds no thread beyond it:
//!
//! - gix's HTTP(S) transport (reqwest) gets the time left as its client timeout, which covers
//!   connecting, the answer's headers and its whole body ([`bounded_connection`]);
//! - gix's pack transfer checks an interrupt flag that a [`Watchdog`] sets at the deadline;
//! - SSH (gix's and the `git` CLI's) runs under `timeout --signal=KILL` (coreutils), which
//!   kills it at the deadline ([`ssh_config`]);
//! - the `git` CLI runs in a process group of its own, killed whole at the deadline
//!   ([`crate::command`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use gix::protocol::transport::client::blocking_io::http;

/// When a Git operation must be over, and the timeout it was set from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deadline {
    at: Instant,
    timeout: Duration,
}

impl Deadline {
    /// The deadline `timeout` from now.
    pub fn after(timeout: Duration) -> Self {
        Self {
            at: Instant::now() + timeout,
            timeout,
        }
    }

    /// The timeout this deadline was set from (for messages: "timed out after 60s").
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The time left, zero once passed.
    pub fn remaining(&self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }

    /// Whether the deadline has passed.
    pub fn has_passed(&self) -> bool {
        Instant::now() >= self.at
    }

    /// The time left in whole seconds, at least 1 (for `timeout`, which takes seconds and
    /// treats 0 as no limit).
    fn remaining_seconds(&self) -> u64 {
        self.remaining().as_secs().max(1)
    }
}

/// Sets an interrupt flag when a deadline passes (gix checks it while receiving a pack);
/// stops, without setting it, when dropped first.
pub(crate) struct Watchdog {
    flag: Arc<AtomicBool>,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Watchdog {
    /// Starts watching `deadline`.
    pub(crate) fn start(deadline: Deadline) -> Self {
        let flag = Arc::new(AtomicBool::new(false));
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::spawn({
            let flag = flag.clone();
            move || {
                if let Err(mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(deadline.remaining())
                {
                    flag.store(true, Ordering::SeqCst);
                }
            }
        });
        Self {
            flag,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// The flag to hand to gix.
    pub(crate) fn flag(&self) -> &AtomicBool {
        &self.flag
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        // Dropping the sender wakes the thread, which then ends.
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// `connection` with the HTTP(S) transport's client timeout set to what is left of `deadline`
/// (each request, headers and body, gets at most that; the pack transfer is also interrupted at
/// the deadline by the [`Watchdog`]); the repository's HTTP configuration, e.g.
/// `http.extraHeader`, is kept, and other transports are left as they are. `url` is the remote
/// URL.
///
/// Errors: gix's, when the repository's HTTP configuration cannot be read.
pub(crate) fn bounded_connection<'remote, 'auth, 'repo, T>(
    connection: gix::remote::Connection<'remote, 'auth, 'repo, T>,
    repo: &gix::Repository,
    url: &str,
    deadline: Deadline,
) -> Result<gix::remote::Connection<'remote, 'auth, 'repo, T>, gix::Error>
where
    T: gix::protocol::transport::client::blocking_io::Transport,
{
    let Some(mut options) = repo.transport_options(url, None)? else {
        return Ok(connection);
    };
    if let Some(http_options) = options.downcast_mut::<http::Options>() {
        let timeout = deadline.remaining();
        let backend = http::reqwest::Options {
            configure_client: Some(Box::new(move |builder| Ok(builder.timeout(timeout)))),
            // Not a per-request timeout: gix refuses redirects once a request is configured.
            configure_request: None,
        };
        http_options.backend = Some(Arc::new(std::sync::Mutex::new(backend)));
    }
    Ok(connection.with_transport_options(options))
}

/// Git configuration that runs SSH (for gix and the `git` CLI) under `timeout --signal=KILL`
/// with what is left of `deadline`, so a server that accepts and then stalls is cut off:
/// `ssh_command` is the configured `core.sshCommand` (`ssh` when `None`). `ssh.variant=ssh`
/// keeps OpenSSH's arguments (port, protocol version) though the program is `timeout`.
pub(crate) fn ssh_config(ssh_command: Option<&str>, deadline: Deadline) -> Vec<String> {
    let ssh = ssh_command.unwrap_or("ssh -o BatchMode=yes");
    vec![
        format!(
            "core.sshCommand=timeout --signal=KILL {} {ssh}",
            deadline.remaining_seconds()
        ),
        "ssh.variant=ssh".to_owned(),
    ]
}

/// `config` (`key=value` entries, e.g. [`crate::GitAuth::git_config`]) with SSH bounded by
/// `deadline` (see [`ssh_config`]) when `url` is an `ssh://` URL.
pub fn bounded_config(config: &[String], url: &str, deadline: Deadline) -> Vec<String> {
    if !url.starts_with("ssh://") {
        return config.to_vec();
    }
    let ssh_command = config
        .iter()
        .find_map(|entry| entry.strip_prefix("core.sshCommand="));
    config
        .iter()
        .filter(|entry| !entry.starts_with("core.sshCommand="))
        .cloned()
        .chain(ssh_config(ssh_command, deadline))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watchdog_sets_the_flag_at_the_deadline_and_not_after_a_drop() {
        let watchdog = Watchdog::start(Deadline::after(Duration::from_millis(50)));
        assert!(!watchdog.flag().load(Ordering::SeqCst));
        std::thread::sleep(Duration::from_millis(300));
        assert!(watchdog.flag().load(Ordering::SeqCst));
        let started = Instant::now();
        let early = Watchdog::start(Deadline::after(Duration::from_secs(3600)));
        drop(early);
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn ssh_runs_under_timeout_only_for_ssh_urls() {
        let deadline = Deadline::after(Duration::from_secs(30));
        let config = vec![
            "core.sshCommand=ssh -i 'k' -F /dev/null".to_owned(),
            "http.extraHeader=x".to_owned(),
        ];
        let bounded = bounded_config(&config, "ssh://git@h/r", deadline);
        assert_eq!(bounded.len(), 3);
        assert!(bounded.contains(&"http.extraHeader=x".to_owned()));
        let command = bounded
            .iter()
            .find(|entry| entry.starts_with("core.sshCommand="))
            .unwrap();
        assert!(
            command.starts_with("core.sshCommand=timeout --signal=KILL ")
                && command.ends_with(" ssh -i 'k' -F /dev/null"),
            "{command}"
        );
        assert!(bounded.contains(&"ssh.variant=ssh".to_owned()));
        let anonymous = bounded_config(&[], "ssh://git@h/r", deadline);
        assert!(anonymous[0].ends_with("ssh -o BatchMode=yes"));
        assert_eq!(bounded_config(&config, "https://h/r", deadline), config);
        assert_eq!(Deadline::after(Duration::ZERO).remaining_seconds(), 1);
    }
}

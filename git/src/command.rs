//! Runs the external programs the Git layer needs (`git`, `gpg`, `ssh-keygen`) with input on
//! stdin and output captured, never asking a terminal for anything. A program run with a
//! [`Deadline`] runs in a process group of its own, killed whole (the program and what it
//! started: `git-remote-http`, `ssh`) when the deadline passes.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use rustix::process::{Pid, Signal, kill_process_group};

use crate::deadline::Deadline;

/// Why a program failed.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The program could not be started (usually: not installed).
    #[error("cannot run {program} (install the Debian package {package}): {source}")]
    Spawn {
        /// The program.
        program: String,
        /// The Debian package that provides it.
        package: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// The program exited with a failure.
    #[error("{program} failed: {stderr}")]
    Failed {
        /// The program.
        program: String,
        /// Its standard output.
        stdout: String,
        /// Its standard error, trimmed.
        stderr: String,
    },
    /// The program was still running at its deadline and was killed.
    #[error("{program} timed out after {after:?} and was stopped")]
    TimedOut {
        /// The program.
        program: String,
        /// The timeout.
        after: Duration,
    },
}

/// Runs `command` (whose program comes from the Debian `package`) with `input` on stdin and
/// returns its standard output; `GIT_TERMINAL_PROMPT=0` keeps Git from prompting. With a
/// `deadline`, the program and every process it started are killed when it passes.
///
/// Errors: [`CommandError::Spawn`] when it cannot start, [`CommandError::Failed`] with its
/// standard error when it exits unsuccessfully, [`CommandError::TimedOut`] when it was killed at
/// the deadline.
pub(crate) fn run(
    mut command: Command,
    package: &'static str,
    input: &[u8],
    deadline: Option<Deadline>,
) -> Result<Vec<u8>, CommandError> {
    let program = command.get_program().to_string_lossy().into_owned();
    let spawn_error = |source| CommandError::Spawn {
        program: program.clone(),
        package,
        source,
    };
    let mut child = command
        .env("GIT_TERMINAL_PROMPT", "0")
        .process_group(0)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn_error)?;
    let group = Pid::from_child(&child);
    let (finished, wait) = mpsc::channel::<()>();
    let killer = deadline.map(|deadline| {
        std::thread::spawn(move || {
            let expired = matches!(
                wait.recv_timeout(deadline.remaining()),
                Err(mpsc::RecvTimeoutError::Timeout)
            );
            if expired {
                // The group may be gone already; nothing else to do then.
                let _ = kill_process_group(group, Signal::KILL);
            }
            expired
        })
    });
    if let Some(mut stdin) = child.stdin.take() {
        // A program that does not read its input closes the pipe; its exit status tells.
        let _ = stdin.write_all(input);
    }
    let output = child.wait_with_output();
    drop(finished);
    let killed = killer.is_some_and(|killer| killer.join().unwrap_or(false));
    let output = output.map_err(spawn_error)?;
    if let (true, Some(deadline)) = (killed, deadline) {
        return Err(CommandError::TimedOut {
            program,
            after: deadline.timeout(),
        });
    }
    if output.status.success() {
        Ok(output.stdout)
    } else {
        Err(CommandError::Failed {
            program,
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    #[test]
    fn a_program_past_its_deadline_is_killed_with_its_children() {
        let mut command = Command::new("sh");
        command.args(["-c", "sleep 30 & sleep 30; echo done"]);
        let started = Instant::now();
        let stopped = run(
            command,
            "dash",
            b"",
            Some(Deadline::after(Duration::from_millis(300))),
        );
        assert!(
            matches!(stopped, Err(CommandError::TimedOut { .. })),
            "{stopped:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(10));
        let mut quick = Command::new("sh");
        quick.args(["-c", "cat"]);
        let echoed = run(
            quick,
            "dash",
            b"in",
            Some(Deadline::after(Duration::from_secs(30))),
        );
        assert_eq!(echoed.unwrap(), b"in");
    }
}

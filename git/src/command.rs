//! Runs the external programs the Git layer needs (`git`, `gpg`, `ssh-keygen`) with input on
//! stdin and output captured, never asking a terminal for anything.

use std::io::Write;
use std::process::{Command, Stdio};

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
}

/// Runs `command` (whose program comes from the Debian `package`) with `input` on stdin and
/// returns its standard output; `GIT_TERMINAL_PROMPT=0` keeps Git from prompting.
///
/// Errors: [`CommandError::Spawn`] when it cannot start, [`CommandError::Failed`] with its
/// standard error when it exits unsuccessfully.
pub(crate) fn run(
    mut command: Command,
    package: &'static str,
    input: &[u8],
) -> Result<Vec<u8>, CommandError> {
    let program = command.get_program().to_string_lossy().into_owned();
    let spawn_error = |source| CommandError::Spawn {
        program: program.clone(),
        package,
        source,
    };
    let mut child = command
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn_error)?;
    if let Some(mut stdin) = child.stdin.take() {
        // A program that does not read its input closes the pipe; its exit status tells.
        let _ = stdin.write_all(input);
    }
    let output = child.wait_with_output().map_err(spawn_error)?;
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

//! `sluice demo down`: stops the supervisor (SIGTERM; it stops the controllers, then the
//! servers), and everything dies with it.

use std::time::{Duration, Instant};

use super::state::{StateDir, is_alive};

/// How long the supervisor gets to stop everything before SIGKILL.
const GRACE: Duration = Duration::from_secs(60);

/// Stops the demo of `state`, if one runs; says what it did.
///
/// Errors: the signal could not be sent.
pub fn down(state: &StateDir) -> anyhow::Result<()> {
    let Some(pid) = state.running_pid() else {
        println!("no demo is running in {}", state.root().display());
        return Ok(());
    };
    signal(pid, libc::SIGTERM)?;
    let deadline = Instant::now() + GRACE;
    while is_alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    if is_alive(pid) {
        signal(pid, libc::SIGKILL)?;
    }
    let _ = std::fs::remove_file(state.pid_file());
    println!("stopped the demo (pid {pid}) and everything it ran");
    Ok(())
}

#[allow(unsafe_code)]
fn signal(pid: i32, signal: libc::c_int) -> anyhow::Result<()> {
    // SAFETY: sends a signal to a process id read from our own pid file, checked alive above.
    if unsafe { libc::kill(pid, signal) } == -1 {
        return Err(std::io::Error::last_os_error().into());
    }
    Ok(())
}

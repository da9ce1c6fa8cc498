//! Child processes of the test harness (control plane, registry, Git servers...) that never
//! outlive it: each is killed when its handle drops, and, should the test binary die without
//! unwinding, by the kernel (`PR_SET_PDEATHSIG`), since every child is spawned from one
//! long-lived thread whose death the kernel watches.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::HarnessError;

/// A running server process; killed (SIGTERM, then SIGKILL after 5 s) and reaped on drop.
#[derive(Debug)]
pub struct ManagedProcess {
    name: String,
    log: PathBuf,
    child: Child,
}

type SpawnRequest = (Command, mpsc::Sender<std::io::Result<Child>>);

/// Spawns `command` as `name`, its standard output and error appended to `log`.
///
/// Errors: the log cannot be created, or the program cannot be started.
pub fn spawn(name: &str, mut command: Command, log: &Path) -> Result<ManagedProcess, HarnessError> {
    let io_error = |source| HarnessError::Io {
        what: format!("starting {name}"),
        source,
    };
    let out = File::create(log).map_err(io_error)?;
    let err = out.try_clone().map_err(io_error)?;
    command.stdin(Stdio::null()).stdout(out).stderr(err);
    let (reply, answer) = mpsc::channel();
    spawner()
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .send((command, reply))
        .map_err(|_| HarnessError::Start {
            what: name.into(),
            why: "spawner thread gone".into(),
        })?;
    let child = answer
        .recv()
        .map_err(|_| HarnessError::Start {
            what: name.into(),
            why: "spawner thread gone".into(),
        })?
        .map_err(io_error)?;
    Ok(ManagedProcess {
        name: name.to_owned(),
        log: log.to_owned(),
        child,
    })
}

/// The one thread all children are spawned from; it lives as long as the test process, so the
/// kernel kills the children when the process dies.
fn spawner() -> &'static Mutex<mpsc::Sender<SpawnRequest>> {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<SpawnRequest>>> = OnceLock::new();
    SPAWNER.get_or_init(|| {
        let (sender, requests) = mpsc::channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("sluice-test-spawner".into())
            .spawn(move || {
                for (mut command, reply) in requests {
                    let _ = reply.send(spawn_with_parent_death_signal(&mut command));
                }
            })
            .expect("the spawner thread starts");
        Mutex::new(sender)
    })
}

#[allow(unsafe_code)]
fn spawn_with_parent_death_signal(command: &mut Command) -> std::io::Result<Child> {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command.spawn()
}

impl ManagedProcess {
    /// The process' name, as given to [`spawn`].
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The file holding the process' standard output and error.
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// Errors with the tail of the log when the process has exited already.
    pub fn check_running(&mut self) -> Result<(), HarnessError> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(HarnessError::Start {
                what: self.name.clone(),
                why: format!("exited with {status}; log tail:\n{}", log_tail(&self.log)),
            }),
            Err(source) => Err(HarnessError::Io {
                what: format!("watching {}", self.name),
                source,
            }),
        }
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for ManagedProcess {
    #[allow(unsafe_code)]
    fn drop(&mut self) {
        // SAFETY: sending a signal to our own child's pid.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The last 30 lines of a log file, for error messages.
pub fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// Whether this process runs as root (effective user id 0): servers that drop privileges (nginx
/// workers, sshd's privilege separation) need telling.
#[allow(unsafe_code)]
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

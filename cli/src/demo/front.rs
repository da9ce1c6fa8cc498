//! `sluice demo`: installs what is missing (`scripts/setup.sh`: Debian packages, the Go-built
//! control plane and Gitea, cached), starts the detached supervisor (this binary re-executed as
//! `sluice demo supervise`, in a session of its own so that the terminal's signals do not reach
//! it), follows its progress log live, prints the summary table, the kubeconfig and Gitea's
//! address, and exits leaving everything running.

use std::fs::File;
use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};

use super::progress::{Kind, Line, render};
use super::state::StateDir;
use super::summary::{Summary, table};

/// Sets up, starts the supervisor and follows it until the demo is ready or failed.
///
/// Errors: a demo already runs in this state folder, setup failed, the supervisor could not
/// start or died, or the demo failed (its processes are then left running for inspection).
pub fn up(state: &StateDir) -> anyhow::Result<()> {
    if let Some(pid) = state.running_pid() {
        bail!(
            "a demo is already running (pid {pid}, state in {}); stop it with `sluice demo down`",
            state.root().display()
        );
    }
    setup()?;
    state.reset()?;
    let supervisor = spawn_supervisor(state)?;
    follow(state, supervisor)?;
    let summary: Summary =
        serde_json::from_slice(&std::fs::read(state.summary())?).context("reading summary.json")?;
    println!("\n{}", table(&summary));
    println!(
        "kubeconfig: {}   (kubectl --kubeconfig {0} get kustomizations,canaries,pipelines -A)",
        summary.kubeconfig
    );
    println!(
        "Gitea:      {}   (user sluice, password sluice-pass-1)",
        summary.gitea_url
    );
    println!("repository: {}", summary.repository_url);
    println!(
        "state:      {}   (logs under tmp/ and controllers/)",
        state.root().display()
    );
    println!("Everything is left running; `sluice demo down` stops it.");
    Ok(())
}

/// Runs `scripts/setup.sh`, which does nothing for what is already installed.
fn setup() -> anyhow::Result<()> {
    let script = sluice_servers::binaries::workspace_root().join("scripts/setup.sh");
    println!("▶ installing what is missing ({})", script.display());
    let status = Command::new("bash")
        .arg(&script)
        .status()
        .with_context(|| format!("running {}", script.display()))?;
    ensure!(status.success(), "{} failed ({status})", script.display());
    Ok(())
}

#[allow(unsafe_code)]
fn spawn_supervisor(state: &StateDir) -> anyhow::Result<Child> {
    let log = File::create(state.supervisor_log()).context("creating supervisor.log")?;
    let mut command = Command::new(std::env::current_exe().context("finding the sluice binary")?);
    command
        .arg("demo")
        .arg("--state-dir")
        .arg(state.root())
        .arg("supervise")
        .env("TMPDIR", state.tmp())
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    // SAFETY: setsid is async-signal-safe and touches no memory of the parent.
    unsafe {
        command.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command.spawn().context("starting the demo supervisor")
}

/// Prints each progress line as the supervisor writes it, with a ticking elapsed time on a
/// terminal while a step runs, until a `ready` or `failed` line.
fn follow(state: &StateDir, mut supervisor: Child) -> anyhow::Result<()> {
    let exited = || {
        format!(
            "the supervisor exited: see {}",
            state.supervisor_log().display()
        )
    };
    while !state.progress_log().exists() {
        ensure!(supervisor.try_wait()?.is_none(), exited());
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut log = LogFollower::open(&state.progress_log())?;
    let mut ticker = Ticker::new();
    loop {
        let Some(line) = log.next_line()? else {
            ensure!(supervisor.try_wait()?.is_none(), exited());
            ticker.tick()?;
            std::thread::sleep(Duration::from_millis(200));
            continue;
        };
        ticker.clear();
        println!("{}", render(&line));
        match line.kind {
            Kind::Start => ticker.step_started = Instant::now(),
            Kind::Ready => return Ok(()),
            Kind::Failed => bail!(
                "the demo failed; what runs is left for inspection (logs under {}); `sluice demo down` stops it",
                state.root().display()
            ),
            Kind::Note | Kind::Done => {}
        }
    }
}

/// Reads the lines a writer appends to a file, one whole line at a time.
struct LogFollower {
    reader: BufReader<File>,
    pending: String,
}

impl LogFollower {
    fn open(path: &std::path::Path) -> anyhow::Result<Self> {
        let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        Ok(Self {
            reader: BufReader::new(file),
            pending: String::new(),
        })
    }

    /// The next complete line, or `None` when the writer has not finished one yet.
    fn next_line(&mut self) -> anyhow::Result<Option<Line>> {
        self.reader.read_line(&mut self.pending)?;
        if !self.pending.ends_with('\n') {
            return Ok(None);
        }
        let line = serde_json::from_str(self.pending.trim()).context("reading the progress log")?;
        self.pending.clear();
        Ok(Some(line))
    }
}

/// The elapsed times shown on a terminal while a step runs (nothing when not a terminal).
struct Ticker {
    started: Instant,
    step_started: Instant,
    terminal: bool,
}

impl Ticker {
    fn new() -> Self {
        Self {
            started: Instant::now(),
            step_started: Instant::now(),
            terminal: std::io::stdout().is_terminal(),
        }
    }

    fn tick(&self) -> anyhow::Result<()> {
        if self.terminal {
            let (total, step) = (self.started.elapsed(), self.step_started.elapsed());
            print!(
                "\r[{:>6.1}s]   … {:.0} s",
                total.as_secs_f64(),
                step.as_secs_f64()
            );
            std::io::stdout().flush()?;
        }
        Ok(())
    }

    fn clear(&self) {
        if self.terminal {
            print!("\r\x1b[2K");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_follower_gives_whole_lines_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("progress.log");
        let mut file = File::create(&path).unwrap();
        let mut log = LogFollower::open(&path).unwrap();
        assert_eq!(log.next_line().unwrap(), None);
        write!(file, r#"{{"at":1.5,"kind":"start","#).unwrap();
        assert_eq!(log.next_line().unwrap(), None);
        writeln!(file, r#""text":"starting Gitea"}}"#).unwrap();
        let line = log.next_line().unwrap().unwrap();
        assert_eq!(
            (line.kind, line.text.as_str()),
            (Kind::Start, "starting Gitea")
        );
        assert_eq!(log.next_line().unwrap(), None);
    }
}

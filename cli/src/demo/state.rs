//! The demo's state folder: what the detached supervisor leaves for the front command, for
//! `sluice demo down` and for people (the kubeconfig, the Gitea address, the progress log, the
//! summary, every server's log under `tmp/`).

use std::path::{Path, PathBuf};

use anyhow::Context;

/// The folder and the names of the files in it.
#[derive(Clone, Debug)]
pub struct StateDir {
    root: PathBuf,
}

impl StateDir {
    /// The state folder at `root` (not created).
    pub fn new(root: PathBuf) -> Self {
        Self { root }
    }

    /// `--state-dir` when given, else `$SLUICE_CACHE/demo`, else `~/.cache/sluice/demo`.
    pub fn default_root() -> PathBuf {
        std::env::var_os("SLUICE_CACHE")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache/sluice")))
            .unwrap_or_else(|| PathBuf::from(".cache/sluice"))
            .join("demo")
    }

    /// The folder itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The supervisor's process id, one decimal number.
    pub fn pid_file(&self) -> PathBuf {
        self.root.join("pid")
    }

    /// The progress log, one JSON [`Line`](super::progress::Line) per line.
    pub fn progress_log(&self) -> PathBuf {
        self.root.join("progress.log")
    }

    /// The supervisor's own standard output and error.
    pub fn supervisor_log(&self) -> PathBuf {
        self.root.join("supervisor.log")
    }

    /// The machine-readable summary (see [`Summary`](super::summary::Summary)).
    pub fn summary(&self) -> PathBuf {
        self.root.join("summary.json")
    }

    /// The `admin` kubeconfig of the demo's cluster.
    pub fn kubeconfig(&self) -> PathBuf {
        self.root.join("kubeconfig")
    }

    /// The folder the supervisor's servers keep their data and logs in (its `TMPDIR`).
    pub fn tmp(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// Where the controllers' kubeconfigs, storage and logs go.
    pub fn controllers(&self) -> PathBuf {
        self.root.join("controllers")
    }

    /// The supervisor's pid when its pid file names a live process.
    pub fn running_pid(&self) -> Option<i32> {
        let pid: i32 = std::fs::read_to_string(self.pid_file())
            .ok()?
            .trim()
            .parse()
            .ok()?;
        is_alive(pid).then_some(pid)
    }

    /// The working copy the tenant repository was pushed from.
    pub fn tenant_repository(&self) -> PathBuf {
        self.root.join("tenant-repository")
    }

    /// Removes what a previous demo left in the folder (only the names above: a folder given by
    /// mistake loses nothing else) and creates it.
    ///
    /// Errors: a file could not be removed or the folder created.
    pub fn reset(&self) -> anyhow::Result<()> {
        for path in [
            self.pid_file(),
            self.progress_log(),
            self.supervisor_log(),
            self.summary(),
            self.kubeconfig(),
        ] {
            if path.exists() {
                std::fs::remove_file(&path)
                    .with_context(|| format!("removing {}", path.display()))?;
            }
        }
        for dir in [self.tmp(), self.controllers(), self.tenant_repository()] {
            if dir.exists() {
                std::fs::remove_dir_all(&dir)
                    .with_context(|| format!("removing {}", dir.display()))?;
            }
        }
        std::fs::create_dir_all(self.tmp())
            .with_context(|| format!("creating {}", self.root.display()))
    }
}

/// Whether the process `pid` exists and is not a zombie (`/proc/<pid>/stat` state `Z`).
pub fn is_alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            stat.rsplit_once(')')
                .map(|(_, rest)| !rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_stale_pid_file_names_no_demo() {
        assert!(is_alive(std::process::id() as i32));
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path().to_owned());
        assert_eq!(state.running_pid(), None);
        std::fs::write(state.pid_file(), "999999999\n").unwrap();
        assert_eq!(state.running_pid(), None);
        std::fs::write(state.pid_file(), std::process::id().to_string()).unwrap();
        assert_eq!(state.running_pid(), Some(std::process::id() as i32));
    }

    #[test]
    fn reset_removes_the_demo_files_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path().to_owned());
        std::fs::create_dir_all(state.controllers()).unwrap();
        std::fs::write(state.summary(), "{}").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
        state.reset().unwrap();
        assert!(!state.summary().exists() && !state.controllers().exists());
        assert!(state.tmp().is_dir());
        assert_eq!(
            std::fs::read_to_string(dir.path().join("notes.txt")).unwrap(),
            "mine"
        );
    }
}

//! The demo's progress log: the supervisor appends one JSON line per event (a step starts, a
//! note on a long step, a step ends, the demo is ready or failed); the front command follows the
//! file and prints each line as it comes.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// What a line says.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A step starts; `text` names it.
    Start,
    /// Something seen during the current step (a weight, a metric value, a commit).
    Note,
    /// The current step ended; `text` says with what.
    Done,
    /// Everything ran; the summary is written.
    Ready,
    /// The demo stopped on an error; `text` is the error.
    Failed,
}

/// One line of the progress log.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Line {
    /// Seconds since the supervisor started.
    pub at: f64,
    /// What the line says.
    pub kind: Kind,
    /// The text.
    pub text: String,
}

/// The supervisor's writer of the progress log; shareable across tasks.
pub struct Progress {
    file: Mutex<File>,
    started: Instant,
}

impl Progress {
    /// Creates (truncates) the log at `path`.
    ///
    /// Errors: the file cannot be created.
    pub fn create(path: &Path) -> anyhow::Result<Self> {
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(path)
            .with_context(|| format!("creating {}", path.display()))?;
        Ok(Self {
            file: Mutex::new(file),
            started: Instant::now(),
        })
    }

    /// Seconds since [`Progress::create`].
    pub fn elapsed(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Appends a line of `kind` saying `text`. A write error is ignored: the demo goes on and
    /// the supervisor's log still has everything.
    pub fn write(&self, kind: Kind, text: impl Into<String>) {
        let line = Line {
            at: self.elapsed(),
            kind,
            text: text.into(),
        };
        let mut file = self
            .file
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Ok(json) = serde_json::to_string(&line) {
            let _ = writeln!(file, "{json}");
        }
        eprintln!("{}", render(&line));
    }

    /// Runs `step` between a `Start` line saying `name` and a `Done` line saying what it
    /// returned and how long it took.
    ///
    /// Errors: the step's error, unchanged.
    pub async fn step<T, F>(&self, name: &str, step: F) -> anyhow::Result<T>
    where
        F: Future<Output = anyhow::Result<(T, String)>>,
    {
        self.write(Kind::Start, name);
        let started = Instant::now();
        let (value, outcome) = step.await.with_context(|| name.to_owned())?;
        let took = started.elapsed().as_secs_f64();
        self.write(Kind::Done, format!("{outcome} ({took:.1} s)"));
        Ok(value)
    }
}

/// The text the front command prints for `line`.
pub fn render(line: &Line) -> String {
    let at = format!("[{:>6.1}s]", line.at);
    match line.kind {
        Kind::Start => format!("{at} ▶ {}", line.text),
        Kind::Note => format!("{at}     {}", line.text),
        Kind::Done => format!("{at}   ✓ {}", line.text),
        Kind::Ready => format!("{at} ● {}", line.text),
        Kind::Failed => format!("{at} ✗ {}", line.text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_step_writes_its_start_and_its_outcome_and_an_error_names_the_step() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("progress.log");
        let progress = Progress::create(&path).unwrap();
        let value = progress
            .step("pushing podinfo:6.5.1", async {
                Ok((7, "pushed".to_owned()))
            })
            .await
            .unwrap();
        assert_eq!(value, 7);
        let failed = progress
            .step("scanning", async {
                anyhow::bail!("registry down") as anyhow::Result<((), String)>
            })
            .await
            .unwrap_err();
        assert_eq!(format!("{failed:#}"), "scanning: registry down");
        let lines: Vec<Line> = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        let kinds: Vec<Kind> = lines.iter().map(|line| line.kind).collect();
        assert_eq!(kinds, [Kind::Start, Kind::Done, Kind::Start]);
        assert!(lines[1].text.starts_with("pushed ("));
        assert!(render(&lines[0]).ends_with("▶ pushing podinfo:6.5.1"));
    }
}

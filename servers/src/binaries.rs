//! Where the real servers' programs are: Go-built ones in `$SLUICE_CACHE/bin` (built on first
//! use by `tests/go/build.sh`, a no-op once up to date), Debian ones on `PATH`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use crate::HarnessError;

/// The workspace root (the folder of the root `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `$SLUICE_CACHE`, or `<workspace>/.cache` (ignored by git).
pub fn cache_dir() -> PathBuf {
    std::env::var_os("SLUICE_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".cache"))
}

/// The path of the Go-built `program` of `tool` (`kubernetes`, `etcd`, `kwok`, `kustomize`,
/// `gitea`), building the tool first when it is missing or stale.
///
/// Errors: Go is missing or the build failed (the message names the command to run by hand).
pub fn go_tool(tool: &str, program: &str) -> Result<PathBuf, HarnessError> {
    static BUILD: Mutex<()> = Mutex::new(());
    let _one_build_at_a_time = BUILD
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let script = workspace_root().join("tests/go/build.sh");
    let output = Command::new("bash")
        .arg(&script)
        .arg(tool)
        .output()
        .map_err(|source| HarnessError::Io {
            what: format!("running {}", script.display()),
            source,
        })?;
    let path = cache_dir().join("bin").join(program);
    if !output.status.success() || !path.exists() {
        return Err(HarnessError::Missing {
            program: program.into(),
            how: format!(
                "`tests/go/build.sh {tool}` failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
                    .lines()
                    .rev()
                    .take(15)
                    .collect::<Vec<_>>()
                    .join("\n")
            ),
        });
    }
    Ok(path)
}

/// The path of `program` on `PATH` (or in `/usr/sbin`, `/usr/lib/git-core`).
///
/// Errors: not found; `package` names the Debian package that provides it.
pub fn system_program(program: &str, package: &str) -> Result<PathBuf, HarnessError> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/lib/git-core"].map(PathBuf::from))
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| HarnessError::Missing {
            program: program.into(),
            how: format!(
                "install it with `apt-get install -y {package}` (or run scripts/setup.sh)"
            ),
        })
}

//! Free TCP ports on 127.0.0.1, and a bare HTTP probe for readiness checks.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use crate::HarnessError;
use crate::process::ManagedProcess;

/// A port on 127.0.0.1 that was free a moment ago (the OS picks it; the listener is closed
/// before returning, so another process could take it in between, which in practice does not
/// happen on a test machine).
pub fn free_port() -> Result<u16, HarnessError> {
    let io_error = |source| HarnessError::Io {
        what: "finding a free port".into(),
        source,
    };
    let listener = TcpListener::bind("127.0.0.1:0").map_err(io_error)?;
    listener
        .local_addr()
        .map(|address| address.port())
        .map_err(io_error)
}

/// Sends `GET path` over plain HTTP/1.0 to 127.0.0.1:`port` and returns the status code and
/// body, or `None` when nothing answers.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    Some((status, body))
}

/// Waits up to `timeout` until `ready` holds, failing early with the log when `process` exits.
///
/// Errors: the process exited, or [`HarnessError::Timeout`] naming `what`.
pub fn wait_for(
    process: &mut ManagedProcess,
    what: &str,
    timeout: Duration,
    ready: impl Fn() -> bool,
) -> Result<(), HarnessError> {
    let deadline = Instant::now() + timeout;
    while !ready() {
        process.check_running()?;
        if Instant::now() > deadline {
            return Err(HarnessError::Timeout {
                what: format!(
                    "{what}; log tail:\n{}",
                    crate::process::log_tail(process.log())
                ),
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

//! Structured logs with `tracing`, as text or JSON lines.

use tracing_subscriber::EnvFilter;

use super::options::LogFormat;

/// Installs the process-wide tracing subscriber writing to standard error in `format`, filtered
/// by `filter` (EnvFilter syntax; an invalid filter falls back to `info`). Call once at start;
/// later calls leave the first subscriber in place.
pub fn init(format: LogFormat, filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _already_set = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// Installs rustls' `ring` crypto provider for the whole process. kube and oci-client pull in
/// different providers and rustls panics at the first TLS handshake unless one is chosen; call
/// this once at start. A second call is harmless.
pub fn install_crypto_provider() {
    let _already_installed = rustls::crypto::ring::default_provider().install_default();
}

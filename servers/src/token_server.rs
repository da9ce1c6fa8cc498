//! A Docker registry token server (the distribution "token" auth scheme) on 127.0.0.1, for
//! testing bearer-token auth against the real `docker-registry`: it issues ES256 JWTs signed by
//! a key whose self-signed certificate travels in the `x5c` header and is the registry's
//! `rootcertbundle`, granting the scopes asked for to one user (and, optionally, to anyone).

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

use crate::HarnessError;
use crate::registry::RegistryAuth;

/// The `service` the registry and the tokens name.
pub const SERVICE: &str = "sluice-test-registry";
/// The `iss` of the tokens.
pub const ISSUER: &str = "sluice-test-issuer";

/// A running token server; stopped on drop.
pub struct TokenServer {
    /// The token endpoint, e.g. `http://127.0.0.1:PORT/token`.
    pub realm: String,
    /// The PEM certificate that verifies the tokens.
    pub certificate: PathBuf,
    task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

struct Issuer {
    key: EncodingKey,
    certificate_der: String,
    user: String,
    password: String,
    anonymous: bool,
}

impl TokenServer {
    /// Starts a token server for `user`/`password`; with `anonymous`, requests without
    /// credentials get tokens too (as Docker Hub's public pulls do).
    ///
    /// Errors: the key, the certificate or the listener could not be made.
    pub async fn start(
        user: &str,
        password: &str,
        anonymous: bool,
    ) -> Result<TokenServer, HarnessError> {
        let failed = |why: String| HarnessError::Start {
            what: "token server".into(),
            why,
        };
        let key = rcgen::KeyPair::generate().map_err(|e| failed(e.to_string()))?;
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new())
            .map_err(|e| failed(e.to_string()))?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "sluice-test-token-issuer");
        let certificate = params
            .self_signed(&key)
            .map_err(|e| failed(e.to_string()))?;
        let dir = tempfile::tempdir().map_err(|source| HarnessError::Io {
            what: "creating the token server folder".into(),
            source,
        })?;
        let certificate_path = dir.path().join("token-cert.pem");
        std::fs::write(&certificate_path, certificate.pem()).map_err(|source| {
            HarnessError::Io {
                what: "writing the token certificate".into(),
                source,
            }
        })?;
        let issuer = Issuer {
            key: EncodingKey::from_ec_pem(key.serialize_pem().as_bytes())
                .map_err(|e| failed(e.to_string()))?,
            certificate_der: base64::engine::general_purpose::STANDARD.encode(certificate.der()),
            user: user.to_owned(),
            password: password.to_owned(),
            anonymous,
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|source| HarnessError::Io {
                what: "binding the token server".into(),
                source,
            })?;
        let address = listener.local_addr().map_err(|source| HarnessError::Io {
            what: "reading the token server address".into(),
            source,
        })?;
        let app = Router::new()
            .route("/token", get(issue_token))
            .with_state(Arc::new(issuer));
        let task = tokio::spawn(async move {
            let _stopped = axum::serve(listener, app).await;
        });
        Ok(TokenServer {
            realm: format!("http://{address}/token"),
            certificate: certificate_path,
            task,
            _dir: dir,
        })
    }

    /// The registry auth settings that trust this server's tokens.
    pub fn registry_auth(&self) -> RegistryAuth {
        RegistryAuth::Token {
            realm: self.realm.clone(),
            service: SERVICE.into(),
            issuer: ISSUER.into(),
            root_cert: self.certificate.clone(),
        }
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn issue_token(
    State(issuer): State<Arc<Issuer>>,
    headers: HeaderMap,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    let subject = match basic_user(&headers) {
        Some((user, password)) if user == issuer.user && password == issuer.password => user,
        None if issuer.anonymous => String::new(),
        _ => return (StatusCode::UNAUTHORIZED, "bad credentials").into_response(),
    };
    let access: Vec<_> = params
        .iter()
        .filter(|(key, _)| key == "scope")
        .filter_map(|(_, scope)| {
            let mut parts = scope.splitn(3, ':');
            let (kind, name, actions) = (parts.next()?, parts.next()?, parts.next()?);
            Some(json!({"type": kind, "name": name, "actions": actions.split(',').collect::<Vec<_>>()}))
        })
        .collect();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or_default();
    let claims = json!({
        "iss": ISSUER, "sub": subject, "aud": SERVICE, "exp": now + 300, "nbf": now - 10,
        "iat": now, "jti": format!("{now}-{}", access.len()), "access": access,
    });
    let mut header = Header::new(Algorithm::ES256);
    header.x5c = Some(vec![issuer.certificate_der.clone()]);
    match jsonwebtoken::encode(&header, &claims, &issuer.key) {
        Ok(token) => axum::Json(json!({"token": token, "access_token": token, "expires_in": 300}))
            .into_response(),
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response(),
    }
}

/// The user and password of a `Basic` Authorization header.
fn basic_user(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let (user, password) = std::str::from_utf8(&decoded).ok()?.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

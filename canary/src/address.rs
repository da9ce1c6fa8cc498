//! Where a Canary may make the controller send requests: its webhooks' `url`, its
//! `spec.metricsServer` and its MetricTemplates' `provider.address`, all written by the tenant.
//! Flagger calls any URL; Sluice applies the common hardening on top of Flagger's semantics:
//!
//! - only `http` and `https` URLs;
//! - never a link-local address (`169.254.0.0/16`, `fe80::/10`, and their IPv4-mapped IPv6
//!   forms), where cloud metadata services answer (`169.254.169.254`), nor AWS' IPv6 metadata
//!   address `fd00:ec2::254`;
//! - with `SLUICE_CANARY_DENY_CONTROL_PLANE=true` ([`AddressPolicy::deny_control_plane`]), also
//!   no loopback (`127.0.0.0/8`, `::1`), no unspecified address (`0.0.0.0`, `::`, which reach the
//!   controller's own host), and not the in-cluster API server (`KUBERNETES_SERVICE_HOST`). Off
//!   by default, as Flagger, whose load tester and local setups live on loopback.
//!
//! The rule applies to the URL's host when it is an IP address, to every address a host name
//! resolves to (the clients' resolver drops forbidden addresses at connect time, so a DNS name
//! cannot smuggle one in), and to every redirect. Other in-cluster services (another
//! controller's `/metrics`, a database) are fenced by NetworkPolicy egress rules, not here;
//! `POST /events` of the core controller authenticates its callers. The controller's own
//! `SLUICE_CANARY_METRICS_SERVER` goes through the same rule.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// AWS' instance metadata service on IPv6 (Nitro instances).
const AWS_IPV6_METADATA: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254);
/// How many redirects a request follows, as Go's `http.Client` (Flagger's).
const MAX_REDIRECTS: usize = 10;

/// Which addresses the canary controller refuses to call (see the module doc).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AddressPolicy {
    /// Also refuse loopback, unspecified addresses and [`AddressPolicy::control_plane`].
    pub deny_control_plane: bool,
    /// The API server's addresses (from `KUBERNETES_SERVICE_HOST` in a pod), refused when
    /// [`AddressPolicy::deny_control_plane`] is set.
    pub control_plane: Vec<IpAddr>,
}

/// Why a URL may not be called.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// The text is not a URL.
    #[error("{url:?} is not a URL: {reason}")]
    Invalid {
        /// The text.
        url: String,
        /// The parser's message.
        reason: String,
    },
    /// The scheme is not `http` nor `https`.
    #[error("{url}: the scheme {scheme:?} is refused; only http and https are called")]
    Scheme {
        /// The URL.
        url: String,
        /// Its scheme.
        scheme: String,
    },
    /// The URL's host is, or resolves to, a forbidden address.
    #[error(
        "{target}: refused, {address} is {kind}, which a Canary may not make the controller call"
    )]
    Forbidden {
        /// The URL, or the host name that resolved to `address`.
        target: String,
        /// The address.
        address: IpAddr,
        /// What kind of address it is, e.g. `link-local (cloud metadata)`.
        kind: &'static str,
    },
}

impl AddressPolicy {
    /// The policy of the environment: `SLUICE_CANARY_DENY_CONTROL_PLANE` (`true` to deny) and
    /// `KUBERNETES_SERVICE_HOST` (the API server's Service address in a pod).
    pub fn from_env() -> Self {
        AddressPolicy {
            deny_control_plane: std::env::var("SLUICE_CANARY_DENY_CONTROL_PLANE")
                .is_ok_and(|value| value.eq_ignore_ascii_case("true")),
            control_plane: std::env::var("KUBERNETES_SERVICE_HOST")
                .ok()
                .and_then(|host| host.parse().ok())
                .into_iter()
                .collect(),
        }
    }

    /// What kind of forbidden address `address` is, or `None` when it may be called.
    pub fn forbidden(&self, address: IpAddr) -> Option<&'static str> {
        let address = address.to_canonical();
        let link_local = match address {
            IpAddr::V4(v4) => v4.is_link_local(),
            IpAddr::V6(v6) => v6.segments()[0] & 0xffc0 == 0xfe80,
        };
        if link_local {
            return Some("link-local (cloud metadata)");
        }
        if address == IpAddr::V6(AWS_IPV6_METADATA) {
            return Some("a cloud metadata address");
        }
        if !self.deny_control_plane {
            return None;
        }
        if address.is_loopback() {
            Some("loopback (SLUICE_CANARY_DENY_CONTROL_PLANE)")
        } else if address.is_unspecified() {
            Some("unspecified (SLUICE_CANARY_DENY_CONTROL_PLANE)")
        } else if self.control_plane.contains(&address) {
            Some("the Kubernetes API server (SLUICE_CANARY_DENY_CONTROL_PLANE)")
        } else {
            None
        }
    }

    /// Parses `url` and checks it (see [`AddressPolicy::check`]).
    ///
    /// Errors: [`AddressError::Invalid`] when `url` does not parse, else as
    /// [`AddressPolicy::check`].
    pub fn check_text(&self, url: &str) -> Result<Url, AddressError> {
        let parsed = Url::parse(url).map_err(|error| AddressError::Invalid {
            url: url.to_owned(),
            reason: error.to_string(),
        })?;
        self.check(&parsed)?;
        Ok(parsed)
    }

    /// Checks `url`'s scheme, and its host when it is an IP address (host names are checked
    /// when they resolve, by [`AddressPolicy::client_builder`]'s resolver).
    ///
    /// Errors: [`AddressError::Scheme`] for a scheme other than `http` or `https`,
    /// [`AddressError::Forbidden`] for a forbidden IP address.
    pub fn check(&self, url: &Url) -> Result<(), AddressError> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(AddressError::Scheme {
                url: url.to_string(),
                scheme: url.scheme().to_owned(),
            });
        }
        // An IPv6 host is written in brackets; a host name does not parse as an address.
        let literal = url
            .host_str()
            .map(|host| host.trim_start_matches('[').trim_end_matches(']'))
            .and_then(|host| host.parse::<IpAddr>().ok());
        let Some(address) = literal else {
            return Ok(());
        };
        match self.forbidden(address) {
            Some(kind) => Err(AddressError::Forbidden {
                target: url.to_string(),
                address,
                kind,
            }),
            None => Ok(()),
        }
    }

    /// A reqwest client builder that applies this policy to every address a host name resolves
    /// to and to every redirect (at most [`MAX_REDIRECTS`]); the caller checks the first URL
    /// with [`AddressPolicy::check`].
    pub fn client_builder(self: &Arc<Self>) -> reqwest::ClientBuilder {
        let redirects = self.clone();
        reqwest::Client::builder()
            .dns_resolver(GuardedResolver {
                policy: self.clone(),
            })
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() >= MAX_REDIRECTS {
                    return attempt.error(format!("more than {MAX_REDIRECTS} redirects"));
                }
                match redirects.check(attempt.url()) {
                    Ok(()) => attempt.follow(),
                    Err(error) => attempt.error(error),
                }
            }))
    }
}

/// The system resolver, without the addresses the policy forbids.
struct GuardedResolver {
    policy: Arc<AddressPolicy>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed = allowed_addresses(&policy, &host, resolved)?;
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// The addresses of `resolved` (what `host` resolved to) the policy allows.
///
/// Errors: [`AddressError::Forbidden`] (naming the first) when it forbids them all.
fn allowed_addresses(
    policy: &AddressPolicy,
    host: &str,
    resolved: Vec<SocketAddr>,
) -> Result<Vec<SocketAddr>, AddressError> {
    let first_forbidden = resolved
        .iter()
        .find_map(|address| Some((address.ip(), policy.forbidden(address.ip())?)));
    let allowed: Vec<SocketAddr> = resolved
        .into_iter()
        .filter(|address| policy.forbidden(address.ip()).is_none())
        .collect();
    match (allowed.is_empty(), first_forbidden) {
        (true, Some((address, kind))) => Err(AddressError::Forbidden {
            target: host.to_owned(),
            address,
            kind,
        }),
        _ => Ok(allowed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strict() -> AddressPolicy {
        AddressPolicy {
            deny_control_plane: true,
            control_plane: vec!["10.96.0.1".parse().unwrap()],
        }
    }

    #[test]
    fn link_local_addresses_are_always_refused() {
        let default = AddressPolicy::default();
        for url in [
            "http://169.254.169.254/latest/meta-data/",
            "http://169.254.0.1:8080/",
            "http://[fe80::1]/",
            "http://[::ffff:169.254.169.254]/",
            "http://[fd00:ec2::254]/",
        ] {
            let error = default.check_text(url).unwrap_err();
            assert!(
                matches!(error, AddressError::Forbidden { .. }),
                "{url}: {error}"
            );
        }
        let error = default.check_text("http://169.254.169.254/").unwrap_err();
        assert_eq!(
            error.to_string(),
            "http://169.254.169.254/: refused, 169.254.169.254 is link-local (cloud metadata), \
             which a Canary may not make the controller call"
        );
    }

    #[test]
    fn only_http_and_https_are_called() {
        let default = AddressPolicy::default();
        for url in [
            "file:///etc/passwd",
            "ftp://r.io/",
            "gopher://127.0.0.1:70/",
        ] {
            assert!(
                matches!(default.check_text(url), Err(AddressError::Scheme { .. })),
                "{url}"
            );
        }
        assert!(matches!(
            default.check_text("not a url"),
            Err(AddressError::Invalid { .. })
        ));
    }

    #[test]
    fn loopback_is_allowed_unless_the_control_plane_is_denied() {
        let default = AddressPolicy::default();
        for url in [
            "http://127.0.0.1:9090/",
            "http://[::1]/",
            "http://0.0.0.0/",
            "http://10.96.0.1/",
            "https://flagger-loadtester.test/",
        ] {
            assert!(default.check_text(url).is_ok(), "{url}");
        }
        for url in [
            "http://127.0.0.1:9090/",
            "http://127.1.2.3/",
            "http://[::1]/",
            "http://0.0.0.0/",
            "https://10.96.0.1:443/",
        ] {
            assert!(
                matches!(
                    strict().check_text(url),
                    Err(AddressError::Forbidden { .. })
                ),
                "{url}"
            );
        }
        assert!(strict().check_text("http://10.0.0.5:9090/").is_ok());
        assert!(strict().check_text("http://prometheus:9090/").is_ok());
    }

    #[test]
    fn a_name_resolving_only_to_forbidden_addresses_is_refused() {
        let at = |text: &str| SocketAddr::new(text.parse().unwrap(), 0);
        let policy = AddressPolicy::default();
        let error = allowed_addresses(&policy, "metadata.internal", vec![at("169.254.169.254")])
            .unwrap_err();
        assert!(error.to_string().contains("metadata.internal"), "{error}");
        let mixed = allowed_addresses(
            &policy,
            "mixed.example",
            vec![at("169.254.169.254"), at("10.0.0.7")],
        )
        .unwrap();
        assert_eq!(mixed, [at("10.0.0.7")]);
    }

    #[tokio::test]
    async fn the_resolver_drops_forbidden_addresses() {
        let resolver = GuardedResolver {
            policy: Arc::new(strict()),
        };
        let refused = resolver.resolve("localhost".parse().unwrap()).await;
        assert!(refused.is_err(), "localhost resolves to loopback only");
        let open = GuardedResolver {
            policy: Arc::new(AddressPolicy::default()),
        };
        let addresses: Vec<_> = open
            .resolve("localhost".parse().unwrap())
            .await
            .unwrap()
            .collect();
        assert!(addresses.iter().all(|address| address.ip().is_loopback()));
        assert!(!addresses.is_empty());
    }
}

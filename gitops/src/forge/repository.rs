//! Which repository a Provider's `address` names: its host, owner and name, from the forms users
//! write (`https://host/owner/name`, with or without `.git`, `ssh://git@host/owner/name.git`,
//! `git@host:owner/name.git`). GitLab groups may nest: everything before the last segment is the
//! owner.

/// A repository on a forge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepositoryRef {
    /// `http` or `https` (SSH addresses map to `https`).
    pub scheme: String,
    /// Host and port, e.g. `github.com` or `127.0.0.1:3000`.
    pub host: String,
    /// The owner (user, organization, or GitLab group path).
    pub owner: String,
    /// The repository's name, without `.git`.
    pub name: String,
}

/// Errors of [`RepositoryRef::parse`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{address:?} does not name a repository as https://HOST/OWNER/NAME")]
pub struct RepositoryError {
    /// The address given.
    pub address: String,
}

impl RepositoryRef {
    /// Parses a repository address.
    ///
    /// Errors: no host, or fewer than two path segments.
    pub fn parse(address: &str) -> Result<RepositoryRef, RepositoryError> {
        let error = || RepositoryError {
            address: address.to_owned(),
        };
        let (scheme, rest, separator) = match address.split_once("://") {
            Some((scheme @ ("http" | "https"), rest)) => (scheme, rest, '/'),
            Some(("ssh", rest)) => ("https", rest, '/'),
            Some(_) => return Err(error()),
            // scp-like `git@host:owner/name.git`
            None => ("https", address, ':'),
        };
        let without_user = rest.split_once('@').map_or(rest, |(_, after)| after);
        let (host, path) = without_user.split_once(separator).ok_or_else(error)?;
        let host = if address.starts_with("ssh://") {
            host.split(':').next().unwrap_or(host)
        } else {
            host
        };
        let path = path.trim_matches('/').trim_end_matches(".git");
        let (owner, name) = path.rsplit_once('/').ok_or_else(error)?;
        if host.is_empty() || owner.is_empty() || name.is_empty() {
            return Err(error());
        }
        Ok(RepositoryRef {
            scheme: scheme.to_owned(),
            host: host.to_owned(),
            owner: owner.to_owned(),
            name: name.to_owned(),
        })
    }

    /// `owner/name`.
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }

    /// `scheme://host`.
    pub fn origin(&self) -> String {
        format!("{}://{}", self.scheme, self.host)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(address: &str) -> (String, String, String, String) {
        let r = RepositoryRef::parse(address).unwrap();
        (r.scheme, r.host, r.owner, r.name)
    }

    #[test]
    fn reads_the_forms_users_write() {
        let github = (
            "https".into(),
            "github.com".into(),
            "org".into(),
            "fleet".into(),
        );
        assert_eq!(parsed("https://github.com/org/fleet"), github);
        assert_eq!(parsed("https://github.com/org/fleet.git"), github);
        assert_eq!(parsed("https://github.com/org/fleet/"), github);
        assert_eq!(parsed("ssh://git@github.com/org/fleet.git"), github);
        assert_eq!(parsed("ssh://git@github.com:22/org/fleet.git"), github);
        assert_eq!(parsed("git@github.com:org/fleet.git"), github);
        assert_eq!(
            parsed("http://127.0.0.1:3000/sluice/fleet"),
            (
                "http".into(),
                "127.0.0.1:3000".into(),
                "sluice".into(),
                "fleet".into()
            )
        );
        assert_eq!(
            parsed("https://gitlab.com/group/sub/app"),
            (
                "https".into(),
                "gitlab.com".into(),
                "group/sub".into(),
                "app".into()
            )
        );
    }

    #[test]
    fn refuses_addresses_without_owner_and_name() {
        for address in [
            "https://github.com/fleet",
            "github.com",
            "ftp://host/a/b",
            "",
        ] {
            assert!(RepositoryRef::parse(address).is_err(), "{address}");
        }
    }
}

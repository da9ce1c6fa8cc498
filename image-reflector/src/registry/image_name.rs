//! An ImageRepository's `spec.image` parsed into the registry host and repository path, and its
//! canonical name, as Flux's image-reflector-controller derives `status.canonicalImageName`
//! (go-containerregistry's `name.ParseReference(...).Context().Name()`).

use super::Error;

/// A repository address without tag: `registry` host (with port) and `repository` path.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ImageName {
    /// The host to talk to, e.g. `index.docker.io`, `ghcr.io`, `127.0.0.1:5000`.
    pub registry: String,
    /// The path inside the registry, e.g. `library/alpine`, `org/app`.
    pub repository: String,
}

impl ImageName {
    /// Parses `image` as written in `spec.image`: `alpine`, `ghcr.io/org/app`, `host:port/path`.
    /// Docker Hub names are expanded (`alpine` -> `index.docker.io/library/alpine`).
    ///
    /// Errors: [`Error::InvalidImage`] when `image` has a scheme, a tag or a digest, or is not a
    /// valid reference.
    pub fn parse(image: &str) -> Result<Self, Error> {
        let invalid = |reason: &str| Error::InvalidImage {
            image: image.to_owned(),
            reason: reason.to_owned(),
        };
        if image.contains("://") {
            return Err(invalid("the image must not have a scheme"));
        }
        let reference: oci_client::Reference = image
            .parse()
            .map_err(|error: oci_client::ParseError| invalid(&error.to_string()))?;
        if reference.digest().is_some() || has_explicit_tag(image) {
            return Err(invalid("the image must not have a tag or digest"));
        }
        if reference
            .repository()
            .chars()
            .any(|c| c.is_ascii_uppercase())
        {
            return Err(invalid("repository names must be lowercase"));
        }
        Ok(ImageName {
            registry: reference.resolve_registry().to_owned(),
            repository: reference.repository().to_owned(),
        })
    }

    /// `registry/repository`, e.g. `index.docker.io/library/alpine`.
    pub fn canonical(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }
}

/// Whether the last path segment of `image` carries a `:tag` (a colon in an earlier segment
/// is a port).
fn has_explicit_tag(image: &str) -> bool {
    image.rsplit('/').next().unwrap_or(image).contains(':')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_names_are_expanded_as_flux_does() {
        let name = ImageName::parse("alpine").unwrap();
        assert_eq!(name.canonical(), "index.docker.io/library/alpine");
        let name = ImageName::parse("docker.io/fluxcd/flux").unwrap();
        assert_eq!(name.canonical(), "index.docker.io/fluxcd/flux");
    }

    #[test]
    fn a_host_with_port_is_the_registry() {
        let name = ImageName::parse("127.0.0.1:5000/demo/app").unwrap();
        assert_eq!(name.registry, "127.0.0.1:5000");
        assert_eq!(name.repository, "demo/app");
    }

    #[test]
    fn tags_digests_and_schemes_are_refused() {
        for image in [
            "alpine:3.19",
            "ghcr.io/org/app:v1",
            "127.0.0.1:5000/app:1",
            "https://ghcr.io/org/app",
            "ghcr.io/org/app@sha256:0123456789012345678901234567890123456789012345678901234567890123",
            "UPPER/case",
            "",
        ] {
            assert!(
                matches!(ImageName::parse(image), Err(Error::InvalidImage { .. })),
                "{image} accepted"
            );
        }
    }
}

//! Which files of a fetched tree go into the artifact, as Flux's source-controller decides: the
//! VCS entries are always left out; Flux's default exclusions (CI configs, images, archives)
//! apply unless `spec.ignore` replaces them; `.sourceignore` files, in any directory, add
//! patterns relative to their directory; `spec.ignore` comes last. Patterns use `.gitignore`
//! syntax (the `ignore` crate's matcher); the last matching pattern wins, `!` re-includes.

use ignore::Match;
use ignore::gitignore::{Gitignore, GitignoreBuilder};

/// Always excluded (Flux's VCS patterns).
const VCS_PATTERNS: &[&str] = &[".git/", ".gitignore", ".gitmodules", ".gitattributes"];

/// Excluded unless `spec.ignore` is set (Flux's default exclusion list).
const DEFAULT_PATTERNS: &[&str] = &[
    "*.jpg",
    "*.jpeg",
    "*.gif",
    "*.png",
    "*.wmv",
    "*.flv",
    "*.tar.gz",
    "*.zip",
    ".github/",
    ".circleci/",
    ".travis.yml",
    ".gitlab-ci.yml",
    "appveyor.yml",
    ".drone.yml",
    "cloudbuild.yaml",
    "codeship-services.yml",
    "codeship-steps.yml",
    "**/.goreleaser.yml",
    "**/.sops.yaml",
    "**/.flux.yaml",
];

/// The name of the per-directory ignore file.
pub const SOURCEIGNORE: &str = ".sourceignore";

/// Errors building the rules.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A pattern is not valid `.gitignore` syntax.
    #[error("invalid ignore pattern in {origin}: {message}")]
    Pattern {
        /// `spec.ignore` or the `.sourceignore` file.
        origin: String,
        /// The matcher's message.
        message: String,
    },
}

/// Ordered ignore matchers, each rooted at a directory of the tree.
pub struct IgnoreRules {
    matchers: Vec<(String, Gitignore)>,
}

impl IgnoreRules {
    /// The rules for a tree: `spec_ignore` (or the defaults) and the `(directory,
    /// contents)` of each `.sourceignore` file, directory `""` being the root.
    ///
    /// Errors: [`Error::Pattern`] naming the file or `spec.ignore`.
    pub fn new(
        spec_ignore: Option<&str>,
        sourceignores: &[(String, String)],
    ) -> Result<Self, Error> {
        let mut matchers = vec![(
            String::new(),
            matcher("", VCS_PATTERNS.iter().copied(), "defaults")?,
        )];
        if spec_ignore.is_none() {
            matchers.push((
                String::new(),
                matcher("", DEFAULT_PATTERNS.iter().copied(), "defaults")?,
            ));
        }
        let mut files: Vec<&(String, String)> = sourceignores.iter().collect();
        files.sort_by_key(|(dir, _)| dir.matches('/').count() + usize::from(!dir.is_empty()));
        for (dir, text) in files {
            let origin = format!("{dir}/{SOURCEIGNORE}");
            matchers.push((dir.clone(), matcher(dir, text.lines(), &origin)?));
        }
        if let Some(text) = spec_ignore {
            matchers.push((String::new(), matcher("", text.lines(), "spec.ignore")?));
        }
        Ok(IgnoreRules { matchers })
    }

    /// Whether the file at `path` (slash-separated, from the root) is left out of the artifact.
    pub fn is_ignored(&self, path: &str) -> bool {
        let mut ignored = false;
        for (dir, matcher) in &self.matchers {
            let relative = if dir.is_empty() {
                Some(path)
            } else {
                path.strip_prefix(dir.as_str())
                    .and_then(|p| p.strip_prefix('/'))
            };
            let Some(relative) = relative else { continue };
            match matcher.matched_path_or_any_parents(relative, false) {
                Match::Ignore(_) => ignored = true,
                Match::Whitelist(_) => ignored = false,
                Match::None => {}
            }
        }
        ignored
    }
}

fn matcher<'a>(
    dir: &str,
    lines: impl Iterator<Item = &'a str>,
    origin: &str,
) -> Result<Gitignore, Error> {
    let mut builder = GitignoreBuilder::new(if dir.is_empty() { "." } else { dir });
    for line in lines {
        builder.add_line(None, line).map_err(|e| Error::Pattern {
            origin: origin.to_string(),
            message: e.to_string(),
        })?;
    }
    builder.build().map_err(|e| Error::Pattern {
        origin: origin.to_string(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_drop_ci_and_images_but_keep_manifests() {
        let rules = IgnoreRules::new(None, &[]).unwrap();
        assert!(rules.is_ignored(".github/workflows/ci.yaml"));
        assert!(rules.is_ignored("docs/logo.png"));
        assert!(rules.is_ignored(".gitignore"));
        assert!(!rules.is_ignored("deploy/app.yaml"));
    }

    #[test]
    fn spec_ignore_replaces_defaults_and_sourceignore_is_relative_to_its_dir() {
        let sourceignores = vec![("apps".to_string(), "secret.yaml\n".to_string())];
        let rules = IgnoreRules::new(Some("/docs/\n!docs/keep.md\n"), &sourceignores).unwrap();
        assert!(!rules.is_ignored("logo.png"));
        assert!(rules.is_ignored("docs/readme.md"));
        assert!(rules.is_ignored("apps/secret.yaml"));
        assert!(rules.is_ignored("apps/nested/secret.yaml"));
        assert!(!rules.is_ignored("secret.yaml"));
        assert!(rules.is_ignored(".git/config"));
    }
}

//! `sluice image policy eval` (the ImagePolicy decision, offline, on the controller's own code)
//! and `sluice image scan` (the controller's registry client, listing one image's tags).

use std::io::{self, BufRead, Write};

use anyhow::Context;
use sluice_image_reflector::api::image_policy::SortOrder;
use sluice_image_reflector::policy::{Policy, SemverRange, TagFilter, select_latest};
use sluice_image_reflector::registry::retry::RetryPolicy;
use sluice_image_reflector::registry::{
    Connection, Credentials, ImageName, RegistryBudget, RegistryClient,
};

/// Arguments of `sluice image policy eval`: a policy as in an ImagePolicy's spec.
#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// How the latest tag is chosen.
    #[arg(long, value_enum)]
    policy: PolicyKind,
    /// The semver range, with Masterminds/semver v3 syntax (with --policy semver).
    #[arg(long, required_if_eq("policy", "semver"))]
    range: Option<String>,
    /// Which end of the order is the latest (with --policy alphabetical or numerical).
    #[arg(long, value_enum)]
    order: Option<OrderArg>,
    /// filterTags.pattern: only tags this regular expression matches are considered.
    #[arg(long, default_value = "")]
    filter: String,
    /// filterTags.extract: the value compared for each tag (`$1`, `${name}`, ...).
    #[arg(long, default_value = "")]
    extract: String,
    /// The tag chosen last time: an older tag never replaces it while it still qualifies.
    #[arg(long)]
    previous: Option<String>,
    /// Also print why the tag won, on standard error.
    #[arg(long)]
    explain: bool,
}

/// `--policy` values.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum PolicyKind {
    Semver,
    Alphabetical,
    Numerical,
}

/// `--order` values.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum OrderArg {
    Asc,
    Desc,
}

/// Arguments of `sluice image scan`.
#[derive(clap::Args)]
pub struct ScanArgs {
    /// The repository to list, without tag, e.g. `ghcr.io/org/app` or `127.0.0.1:5000/app`.
    image: String,
    /// Talk plain HTTP to the registry.
    #[arg(long)]
    insecure: bool,
    /// The user name for the registry (with --password).
    #[arg(long, requires = "password")]
    username: Option<String>,
    /// The password or token for the registry (with --username).
    #[arg(long, requires = "username")]
    password: Option<String>,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
}

/// Reads tags (one per line) on standard input and prints the one the policy picks, alone, on
/// standard output.
///
/// Errors: the range, pattern or extract is invalid, a numerical policy meets a non-number, no
/// tag qualifies, or standard input/output fails.
pub fn eval(args: EvalArgs) -> anyhow::Result<()> {
    let tags = read_tags(io::stdin().lock()).context("reading tags from standard input")?;
    let (tag, explanation) = evaluate(&args, &tags)?;
    if args.explain {
        eprintln!("{explanation}");
    }
    writeln!(io::stdout(), "{tag}").context("writing to standard output")?;
    Ok(())
}

/// Lists every tag of `args.image` (all pages, as the controller scans) and prints them one per
/// line, in byte-wise order.
///
/// Errors: the image is invalid, the registry is unreachable or refuses the credentials, or
/// standard output fails.
pub async fn scan(args: ScanArgs) -> anyhow::Result<()> {
    sluice_runtime::logging::install_crypto_provider();
    let image = ImageName::parse(&args.image)?;
    let credentials = match (args.username, args.password) {
        (Some(username), Some(password)) => Credentials::Basic { username, password },
        _ => Credentials::Anonymous,
    };
    let connection = Connection {
        insecure: args.insecure,
        credentials,
        timeout: std::time::Duration::from_secs(args.timeout),
        ..Connection::default()
    };
    let budget = std::sync::Arc::new(RegistryBudget::new(SCAN_QPS)?);
    let client = RegistryClient::new(budget, RetryPolicy::default());
    let mut tags = client.list_tags(&image, &connection).await?;
    tags.sort_unstable();
    tags.dedup();
    let mut out = io::BufWriter::new(io::stdout().lock());
    for tag in tags {
        writeln!(out, "{tag}").context("writing to standard output")?;
    }
    out.flush().context("writing to standard output")?;
    Ok(())
}

/// The request budget of `sluice image scan`: one command, so a generous rate.
const SCAN_QPS: f64 = 50.0;

/// Reads one tag per line, trimming spaces and skipping blank lines.
///
/// Errors: the reader fails or yields invalid UTF-8.
fn read_tags(reader: impl BufRead) -> io::Result<Vec<String>> {
    let mut tags = Vec::new();
    for line in reader.lines() {
        let line = line?;
        let tag = line.trim();
        if !tag.is_empty() {
            tags.push(tag.to_owned());
        }
    }
    Ok(tags)
}

/// Compiles the policy of `args` and chooses among `tags`; returns the chosen tag and the
/// explanation of the choice.
///
/// Errors: as [`eval`], and a flag given to a policy that does not take it.
fn evaluate(args: &EvalArgs, tags: &[String]) -> anyhow::Result<(String, String)> {
    let policy = compile_policy(args)?;
    let filter = TagFilter::new(&args.filter, &args.extract)?;
    let selection = select_latest(
        tags.iter().map(String::as_str),
        &policy,
        &filter,
        args.previous.as_deref(),
    )?;
    let explanation = selection.message();
    Ok((selection.tag, explanation))
}

fn compile_policy(args: &EvalArgs) -> anyhow::Result<Policy> {
    let order = match args.order {
        Some(OrderArg::Desc) => SortOrder::Desc,
        Some(OrderArg::Asc) | None => SortOrder::Asc,
    };
    match (args.policy, &args.range) {
        (PolicyKind::Semver, _) if args.order.is_some() => {
            anyhow::bail!("--order applies to --policy alphabetical or numerical, not semver")
        }
        (PolicyKind::Semver, Some(range)) => Ok(Policy::Semver(
            SemverRange::parse(range).with_context(|| format!("invalid semver range '{range}'"))?,
        )),
        (PolicyKind::Semver, None) => anyhow::bail!("--policy semver needs --range"),
        (_, Some(_)) => anyhow::bail!("--range applies to --policy semver only"),
        (PolicyKind::Alphabetical, None) => Ok(Policy::Alphabetical(order)),
        (PolicyKind::Numerical, None) => Ok(Policy::Numerical(order)),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Command {
        #[command(flatten)]
        args: EvalArgs,
    }

    fn run(flags: &[&str], input: &str) -> anyhow::Result<String> {
        let args =
            Command::try_parse_from(std::iter::once("eval").chain(flags.iter().copied()))?.args;
        let tags = read_tags(input.as_bytes())?;
        evaluate(&args, &tags).map(|(tag, _)| tag)
    }

    #[test]
    fn tags_are_read_one_per_line_without_blanks() {
        let tags = read_tags("1.0.0\n\n  v2.0.0 \r\n\t\nlatest".as_bytes()).unwrap();
        assert_eq!(tags, ["1.0.0", "v2.0.0", "latest"]);
    }

    #[test]
    fn semver_eval_prints_the_highest_tag_in_range() {
        let input = "1.0.0\nv1.4.2\n2.0.0\nlatest\n";
        assert_eq!(
            run(&["--policy", "semver", "--range", "^1.0"], input).unwrap(),
            "v1.4.2"
        );
    }

    #[test]
    fn ordered_policies_take_an_order_and_a_filter() {
        let input = "main-7-a\nmain-12-b\ndev-99-c\n";
        let flags = [
            "--policy",
            "numerical",
            "--filter",
            r"^main-(\d+)",
            "--extract",
            "$1",
        ];
        assert_eq!(run(&flags, input).unwrap(), "main-12-b");
        let desc = ["--policy", "alphabetical", "--order", "desc"];
        assert_eq!(run(&desc, input).unwrap(), "dev-99-c");
    }

    #[test]
    fn invalid_input_is_an_error_on_one_line() {
        let cases: [&[&str]; 4] = [
            &["--policy", "semver", "--range", "1.0.0p"],
            &["--policy", "semver", "--range", ">=9"],
            &["--policy", "alphabetical", "--filter", "("],
            &["--policy", "alphabetical", "--range", "1.x"],
        ];
        for flags in cases {
            let error = run(flags, "1.0.0\n").unwrap_err();
            let message = format!("{error:#}");
            assert!(!message.contains('\n'), "{flags:?}: {message}");
        }
        assert!(
            run(&["--policy", "semver"], "1.0.0").is_err(),
            "--range is required"
        );
    }

    #[test]
    fn the_previous_tag_is_kept_against_an_older_listing() {
        let flags = [
            "--policy",
            "semver",
            "--range",
            ">=1",
            "--previous",
            "1.5.0",
        ];
        assert_eq!(run(&flags, "1.0.0\n1.2.0\n").unwrap(), "1.5.0");
    }
}

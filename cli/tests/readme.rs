//! The README's CLI reference follows `sluice --help`: every command the binary lists has a row.

use std::process::Command;

/// The command names of the `Commands:` section of `sluice --help`, `help` excluded.
fn commands() -> Vec<String> {
    let output = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("--help")
        .output()
        .expect("the sluice binary runs");
    let help = String::from_utf8_lossy(&output.stdout).into_owned();
    help.lines()
        .skip_while(|line| !line.starts_with("Commands:"))
        .skip(1)
        .take_while(|line| line.starts_with("  "))
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_command_of_the_help_is_in_the_readme_cli_reference() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md reads");
    let reference = readme
        .split("## CLI reference")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("README has a CLI reference section");
    let listed = commands();
    assert!(
        listed.len() >= 8,
        "sluice --help lists its commands: {listed:?}"
    );
    for command in listed {
        assert!(
            reference.contains(&format!("`sluice {command}")),
            "`sluice {command}` is missing from README's CLI reference"
        );
    }
}

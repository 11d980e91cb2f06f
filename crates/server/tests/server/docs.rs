//! The documentation a new user reads is checked against the repository it describes: links
//! resolve inside the checkout, every document is listed in the README, and the commands it
//! gives are the ones CI runs.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap()
}

/// The Markdown files a user reads: the README, docs/ and datasets/.
fn documents() -> Vec<PathBuf> {
    let mut found = vec![root().join("README.md"), root().join("datasets/README.md")];
    for entry in std::fs::read_dir(root().join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            found.push(path);
        }
    }
    found
}

#[test]
fn every_relative_link_resolves_inside_the_checkout() {
    let root = root().canonicalize().unwrap();
    for document in documents() {
        let text = std::fs::read_to_string(&document).unwrap();
        for target in text
            .split("](")
            .skip(1)
            .filter_map(|rest| rest.split(')').next())
        {
            if target.starts_with("http") || target.starts_with('#') {
                continue;
            }
            let file = target.split('#').next().unwrap();
            let resolved = document.parent().unwrap().join(file);
            let inside = resolved
                .canonicalize()
                .is_ok_and(|path| path.starts_with(&root));
            assert!(
                inside,
                "{}: link to {target} does not resolve inside the checkout",
                document.display()
            );
        }
        assert!(
            !text.contains("The contract is `../shared"),
            "{}: the contract is in docs/contract, not outside the checkout",
            document.display()
        );
    }
}

#[test]
fn the_readme_lists_every_document_and_says_how_to_change_the_port() {
    let readme = read("README.md");
    for entry in std::fs::read_dir(root().join("docs")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".md") || name.ends_with(".json") {
            assert!(
                readme.contains(&format!("(docs/{name})")),
                "README.md does not list docs/{name}"
            );
        }
    }
    assert!(
        readme.contains("--bind 127.0.0.1:"),
        "how to change the port"
    );
}

#[test]
fn the_development_guide_gives_the_commands_ci_runs() {
    let ci = read(".ci/run");
    let guide = read("docs/development.md");
    for command in ci
        .lines()
        .map(str::trim)
        .filter(|line| line.starts_with("cargo "))
    {
        assert!(
            guide.contains(&format!("`{command}`")),
            "docs/development.md does not give `{command}` as CI runs it"
        );
    }
}

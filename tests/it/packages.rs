//! The Python and Node packages, as far as the Rust side can check them: the README shows
//! their example tests verbatim (so the README's code is what CI runs), and they carry the
//! workspace's version. The packages' own suites run in `.ci/run` (pytest, node --test).

const README: &str = include_str!("../../README.md");

#[test]
fn the_readme_shows_the_package_example_tests_verbatim() {
    for (file, text) in [
        (
            "packages/python/tests/test_readme_example.py",
            include_str!("../../packages/python/tests/test_readme_example.py"),
        ),
        (
            "packages/node/test/readme.test.mjs",
            include_str!("../../packages/node/test/readme.test.mjs"),
        ),
        (
            "packages/node/examples/vitest.test.ts",
            include_str!("../../packages/node/examples/vitest.test.ts"),
        ),
    ] {
        assert!(
            README.contains(text),
            "README.md must include {file} verbatim (copy the file into its code block)"
        );
    }
}

#[test]
fn the_packages_carry_the_workspace_version() {
    let version = env!("CARGO_PKG_VERSION");
    let node = include_str!("../../packages/node/package.json");
    assert!(
        node.contains(&format!("\"version\": \"{version}\"")),
        "packages/node/package.json: version {version}"
    );
    // The wheel takes its version from Cargo.toml (maturin: dynamic = ["version"]).
    let python = include_str!("../../packages/python/pyproject.toml");
    assert!(python.contains("dynamic = [\"version\"]"));
    assert!(python.contains("manifest-path = \"../../Cargo.toml\""));
}

//! Declarative profiles (`berth apply`): profile files and templates in the scratch
//! directory, packages with config files, and reading what a profile's generation holds.

use super::{write_file, Env, Run};
use std::path::{Path, PathBuf};

impl Env {
    /// Writes `<scratch>/profiles/<name>` (a profile file or a template below it) and
    /// returns its path.
    pub fn profile_file(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir().join("profiles").join(name);
        write_file(&p, text.as_bytes(), false);
        p
    }

    /// A package `name@version` with the command `bin/<name>` and the config file
    /// `etc/<name>.conf` holding `conf`.
    #[track_caller]
    pub fn config_package(&self, name: &str, version: &str, conf: &str) {
        let bin = format!("bin/{name}*");
        let script = format!("#!/bin/sh\necho \"{name} {version}\"\n");
        let etc = format!("etc/{name}.conf");
        self.package_with(
            name,
            version,
            &[(&bin, script.as_bytes()), (&etc, conf.as_bytes())],
            &format!("[[config]]\npath = \"{etc}\"\n"),
        );
    }

    /// `berth apply FILE` with extra arguments.
    pub fn apply(&self, file: &Path, extra: &[&str]) -> Run {
        let mut a = vec!["apply", file.to_str().unwrap()];
        a.extend_from_slice(extra);
        self.run(&a)
    }

    /// `<root>/etc/<profile>/<rel>`.
    pub fn etc(&self, profile: &str, rel: &str) -> PathBuf {
        self.root().join("etc").join(profile).join(rel)
    }

    /// `<root>/var/<profile>/<rel>`.
    pub fn var(&self, profile: &str, rel: &str) -> PathBuf {
        self.root().join("var").join(profile).join(rel)
    }

    /// The state `config status --json` gives `file` of `profile`.
    #[track_caller]
    pub fn config_state(&self, profile: &str, file: &str) -> String {
        let v = self.json(&["config", "status", profile]);
        v.as_array()
            .unwrap()
            .iter()
            .find(|r| r["file"] == file)
            .unwrap_or_else(|| panic!("no {file} in {v}"))["state"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

/// The error line of a failed run (`error: …`), which must be the only one besides a hint.
#[track_caller]
pub fn one_error_line(r: &Run) -> String {
    let lines: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| !l.starts_with("hint: "))
        .collect();
    assert_eq!(lines.len(), 1, "one error line expected:\n{r}");
    assert!(lines[0].starts_with("error: "), "{r}");
    lines[0].to_string()
}

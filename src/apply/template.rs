//! Config templates of a profile file: read from the profile file's directory (regular
//! files only, never through a symlink, size-capped: a template is a user's file like any
//! other input) and rendered with minijinja, strict about undefined variables so a missing
//! one fails with the template's name and line instead of rendering an empty string.

use super::Error;
use crate::error::Result;
use crate::fsutil::Dir;
use std::collections::BTreeMap;
use std::path::Path;

/// Largest template berth reads.
pub const MAX_TEMPLATE: u64 = 1 << 20;

/// Reads the template `rel` (relative to `dir`, the profile file's directory).
pub fn load(dir: &Dir, rel: &str) -> Result<String> {
    let path = dir.join(rel);
    let refused = |why: &'static str| Error::TemplateFile {
        path: path.clone(),
        why,
    };
    let bytes = match dir.read(rel, MAX_TEMPLATE) {
        Ok(Some(b)) => b,
        Ok(None) => return Err(crate::Error::InputNotFound { path }),
        Err(crate::Error::SymlinkInRoot { .. }) => {
            return Err(refused("a symlink on the way; templates must be regular files").into())
        }
        Err(crate::Error::NotARegularFile { .. }) => {
            return Err(refused("not a regular file").into())
        }
        Err(crate::Error::NotADirectoryInRoot { .. }) => {
            return Err(refused("a part of its path is not a directory").into())
        }
        Err(crate::Error::FileTooLarge { .. }) => return Err(refused("larger than 1 MiB").into()),
        Err(e) => return Err(e),
    };
    String::from_utf8(bytes).map_err(|_| refused("not valid UTF-8").into())
}

/// Renders `source` (named `name` in messages) with `vars`.
pub fn render(name: &Path, source: &str, vars: &BTreeMap<String, toml::Value>) -> Result<Vec<u8>> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.set_keep_trailing_newline(true);
    let fail = |e: minijinja::Error| Error::Template {
        template: name.to_path_buf(),
        line: e.line(),
        message: match e.detail() {
            Some(d) => format!("{}: {d}", e.kind()),
            None => e.kind().to_string(),
        },
    };
    let label = name.display().to_string();
    env.add_template(&label, source).map_err(fail)?;
    let t = env.get_template(&label).map_err(fail)?;
    let out = t
        .render(minijinja::Value::from_serialize(vars))
        .map_err(fail)?;
    Ok(out.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_and_names_the_line_of_a_missing_variable() {
        let mut vars = BTreeMap::new();
        vars.insert("host".to_string(), toml::Value::String("db".into()));
        let out = render(Path::new("t.j2"), "host={{ host }}\n", &vars).unwrap();
        assert_eq!(out, b"host=db\n");
        let e = render(Path::new("t.j2"), "a\nb={{ nope }}\n", &vars)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("t.j2:2: "), "{e}");
        assert!(e.contains("undefined"), "{e}");
    }
}

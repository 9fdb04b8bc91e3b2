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

/// Steps (minijinja instructions) one rendering may take: real config templates take a
/// few thousand; a loop that never ends or loops nested to billions stop here, in about
/// a second, instead of hanging `apply --dry-run` with the root's lock held.
pub const TEMPLATE_FUEL: u64 = 20_000_000;

/// The most bytes one rendering may produce: far above any real config file, far below
/// what would exhaust memory (which aborts the process instead of failing cleanly).
pub const MAX_RENDERED: usize = 16 << 20;

/// The rendering's output, refusing to grow past [`MAX_RENDERED`].
#[derive(Default)]
struct Capped {
    out: Vec<u8>,
    over: bool,
}

impl std::io::Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.out.len() + buf.len() > MAX_RENDERED {
            self.over = true;
            return Err(std::io::Error::other("rendered output over the cap"));
        }
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Renders `source` (named `name` in messages) with `vars`, within [`TEMPLATE_FUEL`] steps
/// and [`MAX_RENDERED`] bytes of output.
pub fn render(name: &Path, source: &str, vars: &BTreeMap<String, toml::Value>) -> Result<Vec<u8>> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.set_keep_trailing_newline(true);
    env.set_fuel(Some(TEMPLATE_FUEL));
    let fail = |e: minijinja::Error| Error::Template {
        template: name.to_path_buf(),
        line: e.line(),
        message: match e.detail() {
            Some(d) => format!("{}: {d}", e.kind()),
            None => e.kind().to_string(),
        },
    };
    let limit = |e: &minijinja::Error, what: String| Error::TemplateLimit {
        template: name.to_path_buf(),
        line: e.line(),
        what,
    };
    let label = name.display().to_string();
    env.add_template(&label, source).map_err(fail)?;
    let t = env.get_template(&label).map_err(fail)?;
    let mut out = Capped::default();
    let rendered = t
        .render_captured_to(minijinja::Value::from_serialize(vars), &mut out)
        .map(drop);
    match rendered {
        Ok(()) => Ok(out.out),
        Err(e) if out.over => Err(limit(
            &e,
            format!(
                "its output is over the limit of {} MiB",
                MAX_RENDERED >> 20
            ),
        )
        .into()),
        Err(e) if e.kind() == minijinja::ErrorKind::OutOfFuel => Err(limit(
            &e,
            format!(
                "it takes more than {TEMPLATE_FUEL} steps to render (a loop that does not end, or loops nested too deep)"
            ),
        )
        .into()),
        Err(e) => Err(fail(e).into()),
    }
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

    #[test]
    fn nested_loops_run_out_of_fuel_naming_the_template() {
        let src =
            "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}";
        let e = render(Path::new("loop.j2"), src, &BTreeMap::new())
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("loop.j2"), "{e}");
        assert!(e.contains("steps"), "{e}");
    }

    #[test]
    fn a_huge_output_fails_naming_the_template_and_the_cap() {
        let src = "{% for a in range(1000) %}{{ 'x' * 1000000 }}{% endfor %}";
        let e = render(Path::new("big.j2"), src, &BTreeMap::new())
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("big.j2"), "{e}");
        assert!(e.contains("over the limit of 16 MiB"), "{e}");
    }
}

//! What an imported .deb or .rpm keeps in its manifest's `[origin]` table, written in one
//! place and read back in one place (by `info`, and by the dependency check at `use`):
//!
//! ```toml
//! [origin]
//! format = "deb"                 # or "rpm"
//! architecture = "amd64"
//! scripts = ["postinst"]         # maintainer scripts / scriptlets: listed, never run
//! conffiles = ["/etc/hello.conf"]
//! requires = ["/bin/sh"]         # rpm only
//! [origin.fields]                # a .deb's control fields, an rpm's header fields
//! Package = "hello"
//! ```

use super::manifest::Manifest;
use super::relations::{self, Alternatives, Available, RelationError};
use toml::{Table, Value};

/// The directories whose executables a .deb or .rpm exports as commands.
pub const NATIVE_BIN: [&str; 4] = ["usr/bin", "usr/sbin", "bin", "sbin"];

/// The dependency fields of a .deb that `use` checks, in the order dpkg considers them.
pub const DEPENDS_FIELDS: [&str; 2] = ["Pre-Depends", "Depends"];

/// What a native format records about a package.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NativeOrigin {
    /// `deb` or `rpm`.
    pub format: String,
    /// Its architecture (`amd64`, `all`, `noarch` …).
    pub architecture: String,
    /// Control or header fields, in their order.
    pub fields: Vec<(String, String)>,
    /// Maintainer scripts or scriptlets the package carries (never run).
    pub scripts: Vec<String>,
    /// Config files, absolute as the package names them.
    pub conffiles: Vec<String>,
    /// An rpm's Requires, as written (`name >= version`).
    pub requires: Vec<String>,
    /// The text of a .deb's `preinst` and `postinst` (`[origin.script_text]`), kept so a
    /// profile that uses the package can run them confined; empty for entries installed
    /// before berth kept them.
    pub script_text: std::collections::BTreeMap<String, String>,
}

impl NativeOrigin {
    /// The `[origin]` table.
    pub fn to_table(&self) -> Table {
        let strings = |v: &[String]| Value::Array(v.iter().cloned().map(Value::String).collect());
        let mut t = Table::new();
        t.insert("format".into(), Value::String(self.format.clone()));
        t.insert(
            "architecture".into(),
            Value::String(self.architecture.clone()),
        );
        t.insert("scripts".into(), strings(&self.scripts));
        t.insert("conffiles".into(), strings(&self.conffiles));
        if !self.requires.is_empty() {
            t.insert("requires".into(), strings(&self.requires));
        }
        if !self.script_text.is_empty() {
            let texts: Table = self
                .script_text
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
            t.insert("script_text".into(), Value::Table(texts));
        }
        let fields: Table = self
            .fields
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        t.insert("fields".into(), Value::Table(fields));
        t
    }

    /// Reads the table back; `None` for packages that were not imported from .deb/.rpm.
    pub fn of(m: &Manifest) -> Option<NativeOrigin> {
        let t = m.origin.as_ref()?;
        let s = |k: &str| t.get(k).and_then(Value::as_str).map(str::to_string);
        let format = s("format").filter(|f| f == "deb" || f == "rpm")?;
        let list = |k: &str| -> Vec<String> {
            t.get(k)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut fields: Vec<(String, String)> = t
            .get("fields")
            .and_then(Value::as_table)
            .map(|f| {
                f.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default();
        // The table is kept sorted; show the identifying fields first, as dpkg does.
        let rank = |k: &str| {
            [
                "Package",
                "Name",
                "Version",
                "Epoch",
                "Release",
                "Architecture",
                "Arch",
            ]
            .iter()
            .position(|f| f.eq_ignore_ascii_case(k))
            .unwrap_or(usize::MAX)
        };
        fields.sort_by_key(|(k, _)| rank(k));
        Some(NativeOrigin {
            format,
            architecture: s("architecture").unwrap_or_default(),
            fields,
            scripts: list("scripts"),
            conffiles: list("conffiles"),
            requires: list("requires"),
            script_text: t
                .get("script_text")
                .and_then(Value::as_table)
                .map(|f| {
                    f.iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                        .collect()
                })
                .unwrap_or_default(),
        })
    }

    /// A field's value, its name compared without case.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The Pre-Depends and Depends of a .deb, parsed (a field that does not parse is an
    /// error; install refuses such packages, so only a hand-edited entry has one).
    pub fn depends(&self) -> Vec<(&'static str, Result<Vec<Alternatives>, RelationError>)> {
        if self.format != "deb" {
            return vec![];
        }
        DEPENDS_FIELDS
            .iter()
            .filter_map(|f| self.field(f).map(|v| (*f, relations::parse(v))))
            .collect()
    }
}

/// The package as something another package's dependency can be satisfied by.
pub fn available(m: &Manifest, place: &'static str) -> Available {
    let native = NativeOrigin::of(m);
    let provides = native
        .as_ref()
        .and_then(|n| n.field("Provides").map(relations::parse_provides))
        .and_then(Result::ok)
        .unwrap_or_default();
    Available {
        name: m.package.name.clone(),
        version: m.package.version.clone(),
        arch: native.map(|n| n.architecture).filter(|a| !a.is_empty()),
        provides,
        place,
    }
}

use super::*;
use std::collections::HashMap;

/// apt's lists as a table: records by name, candidates, providers.
#[derive(Default)]
struct Fake {
    records: HashMap<String, Vec<Record>>,
    candidates: HashMap<String, String>,
}

impl Fake {
    fn add(&mut self, name: &str, version: &str, depends: &str, provides: &str) -> &mut Self {
        let rec = Record {
            name: name.into(),
            version: version.into(),
            arch: "amd64".into(),
            depends: (!depends.is_empty()).then(|| depends.into()),
            provides: crate::package::relations::parse_provides(provides).unwrap(),
            ..Record::default()
        };
        self.records.entry(name.into()).or_default().push(rec);
        // The first version added is apt's candidate.
        self.candidates
            .entry(name.into())
            .or_insert_with(|| version.into());
        self
    }
}

impl Catalog for Fake {
    fn records(&mut self, name: &str) -> Result<Vec<Record>> {
        Ok(self.records.get(name).cloned().unwrap_or_default())
    }
    fn candidate(&mut self, name: &str) -> Result<Option<String>> {
        Ok(self.candidates.get(name).cloned())
    }
    fn providers(&mut self, name: &str) -> Result<Vec<String>> {
        let mut out: Vec<String> = Vec::new();
        for recs in self.records.values() {
            for r in recs {
                if r.provides.iter().any(|(p, _)| p == name) && !out.contains(&r.name) {
                    out.push(r.name.clone());
                }
            }
        }
        out.sort();
        Ok(out)
    }
}

fn host(list: &[(&str, &str)]) -> Vec<Available> {
    list.iter()
        .map(|(n, v)| Available {
            name: n.to_string(),
            version: v.to_string(),
            arch: Some("amd64".into()),
            provides: vec![],
            place: "host",
        })
        .collect()
}

fn spec(s: &str) -> Spec {
    parse_spec(s).unwrap()
}

fn names(p: &[Planned]) -> Vec<String> {
    p.iter().map(Planned::reference).collect()
}

#[test]
fn specs_refuse_what_a_shell_or_apt_would_read() {
    assert_eq!(
        spec("redis-tools=5:7.0.15-1~deb12u10").version.as_deref(),
        Some("5:7.0.15-1~deb12u10")
    );
    assert_eq!(spec("g++").version, None);
    for bad in [
        "-oDebug=1",
        "a;rm",
        "redis-tools=1;ls",
        "x=$(id)",
        "Redis",
        "redis=-1",
        "a",
        "p=",
        "p=1 2",
    ] {
        assert!(parse_spec(bad).is_err(), "{bad}");
    }
}

#[test]
fn closure_adds_what_the_host_lacks_transitively() {
    let mut f = Fake::default();
    f.add(
        "tools",
        "2",
        "libc6 (>= 2.34), liblzf1 (>= 1.5), libjem (>= 4)",
        "",
    )
    .add("liblzf1", "3.6-3", "libc6", "")
    .add("libjem", "5.3", "libgcc-s1, libdeep", "")
    .add("libdeep", "1", "", "")
    .add("libc6", "2.36", "", "");
    let got = plan(
        &mut f,
        &[spec("tools=2")],
        &host(&[("libc6", "2.36"), ("libgcc-s1", "12")]),
    )
    .unwrap();
    assert_eq!(
        names(&got),
        ["tools@2", "liblzf1@3.6-3", "libjem@5.3", "libdeep@1"]
    );
    assert_eq!(
        got[3].why,
        Why::NeededBy {
            package: "libjem@5.3".into(),
            relation: "libdeep".into()
        }
    );
    assert_eq!(got[0].why, Why::Named);
}

#[test]
fn named_set_meets_its_own_relations_and_host_versions_count() {
    let mut f = Fake::default();
    f.add(
        "nginx",
        "1.22-12",
        "nginx-common (= 1.22-12), libc6 (>= 3)",
        "",
    )
    .add("nginx-common", "1.22-12", "", "")
    .add("libc6", "3.1", "", "")
    .add("libc6", "2.0", "", "");
    let got = plan(
        &mut f,
        &[spec("nginx=1.22-12"), spec("nginx-common")],
        &host(&[("libc6", "2.36")]),
    )
    .unwrap();
    // The host's libc6 is too old: apt's candidate that satisfies comes in.
    assert_eq!(
        names(&got),
        ["nginx@1.22-12", "nginx-common@1.22-12", "libc6@3.1"]
    );
}

#[test]
fn alternatives_take_the_first_apt_provides_and_versions_the_newest_that_fits() {
    let mut f = Fake::default();
    f.add("app", "1", "missing | second, dep (<< 2)", "")
        .add("second", "1", "", "")
        .add("dep", "2.5", "", "")
        .add("dep", "1.9", "", "")
        .add("dep", "1.5", "", "");
    let got = plan(&mut f, &[spec("app")], &[]).unwrap();
    assert_eq!(names(&got), ["app@1", "second@1", "dep@1.9"]);
}

#[test]
fn virtual_packages_resolve_to_their_one_provider_or_are_refused() {
    let mut f = Fake::default();
    f.add("app", "1", "mail-transport-agent", "")
        .add("postfix", "3", "", "mail-transport-agent");
    let got = plan(&mut f, &[spec("app")], &[]).unwrap();
    assert_eq!(names(&got), ["app@1", "postfix@3"]);
    f.add("exim4", "4", "", "mail-transport-agent");
    let e = plan(&mut f, &[spec("app")], &[]).unwrap_err().to_string();
    assert!(
        e.contains("app@1 needs mail-transport-agent") && e.contains("exim4, postfix"),
        "{e}"
    );
}

#[test]
fn unknown_names_versions_and_relations_are_named() {
    let mut f = Fake::default();
    f.add("app", "1", "nothing-has-it (>= 2)", "")
        .add("tool", "1", "", "");
    let e = plan(&mut f, &[spec("nope")], &[]).unwrap_err().to_string();
    assert_eq!(e, "apt knows no package `nope`");
    let e = plan(&mut f, &[spec("tool=9")], &[])
        .unwrap_err()
        .to_string();
    assert_eq!(e, "apt has no version 9 of `tool` (it has 1)");
    let e = plan(&mut f, &[spec("app")], &[]).unwrap_err().to_string();
    assert_eq!(
        e,
        "app@1 needs nothing-has-it (>= 2), which apt cannot provide"
    );
}

#[test]
fn one_package_added_meets_every_group_that_names_it() {
    let mut f = Fake::default();
    f.add("app", "1", "lib, lib (>= 1), other | lib", "")
        .add("lib", "2", "", "");
    let got = plan(&mut f, &[spec("app")], &[]).unwrap();
    assert_eq!(names(&got), ["app@1", "lib@2"]);
}

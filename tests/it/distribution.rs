//! berth as a system tool (issue 13): completion scripts that a real bash, zsh and fish load
//! and that complete berth's commands and flags; one man page per command that `man` renders
//! without a warning; and, as root, the Debian package: built with cargo-deb, checked by
//! lintian (no errors), installed with `dpkg -i`, the README's quick start run against
//! /usr/bin/berth, then removed (data kept) and purged (data gone). What the scripts and
//! pages must contain is read from berth's own clap definitions, so the tests follow them.

use crate::common;

use crate::common::dist;
use crate::common::tools::{have, tool_text, unavailable};
use crate::common::{Env, Run};
use clap::CommandFactory;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// berth's commands as clap builds them (nested commands know their full names).
fn tree() -> clap::Command {
    let mut c = berth::cli::Cli::command();
    c.build();
    c
}

fn visible(cmd: &clap::Command) -> Vec<&clap::Command> {
    cmd.get_subcommands()
        .filter(|c| !c.is_hide_set() && c.get_name() != "help")
        .collect()
}

/// Every `--long` flag of one top-level command, global ones included.
fn long_flags(name: &str) -> Vec<String> {
    let t = tree();
    let cmd = visible(&t)
        .into_iter()
        .find(|c| c.get_name() == name)
        .unwrap()
        .clone();
    let flags: Vec<String> = cmd
        .get_arguments()
        .filter(|a| !a.is_hide_set())
        .filter_map(|a| a.get_long().map(|l| format!("--{l}")))
        .collect();
    assert!(flags.len() > 5, "{name}: {flags:?}");
    flags
}

/// The file names `man --dir` must write: berth.1, one per visible command (nested ones as
/// berth-repo-publish.1), and berth-shim.1.
fn expected_pages() -> Vec<String> {
    fn walk(cmd: &clap::Command, prefix: &str, out: &mut Vec<String>) {
        for c in visible(cmd) {
            let name = format!("{prefix}-{}", c.get_name());
            out.push(format!("{name}.1"));
            walk(c, &name, out);
        }
    }
    let mut out = vec!["berth.1".to_string(), "berth-shim.1".to_string()];
    walk(&tree(), "berth", &mut out);
    out.sort();
    out
}

// ---------------------------------------------------------------------------------------
// completions

#[test]
fn bash_loads_the_completions_and_completes_commands_and_flags() {
    if !have("bash", "bash completions") {
        return;
    }
    let env = Env::new();
    let script = env.dir().join("berth.bash");
    std::fs::write(&script, env.ok(&["completions", "bash"])).unwrap();
    // bash-completion's way of calling a completion function: COMP_WORDS and COMP_CWORD set,
    // the function named by `complete -p` called with (command, word, previous word).
    let drive = format!(
        r#"source {}
complete -p berth
fn=$(complete -p berth | sed -n 's/.* -F \([^ ]*\) .*/\1/p')
ask() {{
  COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); COMP_LINE="$*"; COMP_POINT=${{#COMP_LINE}}
  COMPREPLY=()
  "$fn" berth "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
  echo "== $*"
  printf '%s\n' "${{COMPREPLY[@]}}"
}}
ask berth ''
ask berth ins
ask berth install --
ask berth completions ''
ask berth repo pu
ask berth --root /tmp rollb
ask berth hook
"#,
        script.display()
    );
    let r = dist::shell("bash", &["--norc", "--noprofile"], &drive, env.dir()).ok();
    let first = r.stdout.lines().next().unwrap();
    assert!(
        first.starts_with("complete ") && first.contains(" -F ") && first.ends_with(" berth"),
        "complete -p berth: {r}"
    );
    let answers: Vec<(String, Vec<String>)> = r
        .stdout
        .split("== ")
        .skip(1)
        .map(|block| {
            let mut lines = block.lines();
            let asked = lines.next().unwrap().to_string();
            (asked, lines.map(str::to_string).collect())
        })
        .collect();
    let answer = |asked: &str| {
        answers
            .iter()
            .find(|(a, _)| a == asked)
            .unwrap_or_else(|| panic!("no answer for `{asked}`:\n{r}"))
            .1
            .clone()
    };
    let top = answer("berth ");
    for c in visible(&tree()) {
        assert!(
            top.contains(&c.get_name().to_string()),
            "{}: {top:?}",
            c.get_name()
        );
    }
    assert_eq!(answer("berth ins"), ["install"]);
    let flags = answer("berth install --");
    for f in long_flags("install") {
        assert!(flags.contains(&f), "{f} not offered for install: {flags:?}");
    }
    let mut shells = answer("berth completions ");
    shells.retain(|w| !w.starts_with('-'));
    assert_eq!(shells, ["bash", "zsh", "fish"]);
    assert_eq!(answer("berth repo pu"), ["publish"]);
    assert_eq!(answer("berth --root /tmp rollb"), ["rollback"]);
    assert!(
        answer("berth hook").iter().all(|w| w.is_empty()),
        "hidden hook-env offered: {r}"
    );
    assert!(!env.root().exists(), "completions made a root");
}

#[test]
fn zsh_and_fish_load_their_completions_and_fish_completes() {
    let env = Env::new();
    if have("zsh", "zsh completions") {
        let file = env.dir().join("_berth");
        std::fs::write(&file, env.ok(&["completions", "zsh"])).unwrap();
        let r = Run::of(Command::new("zsh").arg("-n").arg(&file));
        assert!(r.success() && r.stderr.is_empty(), "zsh -n _berth:\n{r}");
        let load = format!(
            "autoload -U compinit && compinit -u -D && source {} && (( $+functions[_berth] )) && print loaded",
            file.display()
        );
        let r = dist::shell("zsh", &["-f"], &load, env.dir()).ok();
        assert_eq!(r.stdout.trim(), "loaded", "{r}");
    }
    if have("fish", "fish completions") {
        let file = env.dir().join("berth.fish");
        std::fs::write(&file, env.ok(&["completions", "fish"])).unwrap();
        let r = Run::of(Command::new("fish").arg("-n").arg(&file));
        assert!(
            r.success() && r.stderr.is_empty(),
            "fish -n berth.fish:\n{r}"
        );
        let ask = format!(
            "source {}; complete -C 'berth ins'; echo ==; complete -C 'berth install --sha'; echo ==; complete -C 'berth man --d'; echo ==; complete -C 'berth hook'; echo ==",
            file.display()
        );
        let r = dist::shell("fish", &["--no-config"], &ask, env.dir()).ok();
        let blocks: Vec<Vec<&str>> = r
            .stdout
            .split("==\n")
            .map(|b| b.lines().map(|l| l.split('\t').next().unwrap()).collect())
            .collect();
        assert_eq!(blocks[0], ["install"], "{r}");
        assert_eq!(blocks[1], ["--sha256"], "{r}");
        assert_eq!(blocks[2], ["--dir"], "{r}");
        assert!(blocks[3].is_empty(), "hidden hook-env offered: {r}");
    }
}

/// Hidden commands (`hook-env`, the plumbing the `activate` hook calls) appear in no
/// shell's completion script, while every visible command does.
#[test]
fn completions_leave_out_hidden_commands() {
    fn hidden(cmd: &clap::Command, out: &mut Vec<String>) {
        for c in cmd.get_subcommands() {
            if c.is_hide_set() {
                out.push(c.get_name().to_string());
            }
            hidden(c, out);
        }
    }
    let mut names = Vec::new();
    hidden(&tree(), &mut names);
    assert!(names.contains(&"hook-env".to_string()), "{names:?}");
    let env = Env::new();
    for shell in ["bash", "zsh", "fish"] {
        let script = env.ok(&["completions", shell]);
        for n in &names {
            assert!(
                !script.contains(n.as_str()),
                "{shell} completions offer the hidden `{n}`"
            );
        }
        assert!(script.contains("install"), "{shell}: no install");
        for c in visible(&tree()) {
            assert!(
                script.contains(c.get_name()),
                "{shell} completions lack `{}`",
                c.get_name()
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// man pages

#[test]
fn man_writes_one_page_per_command_and_each_renders_without_warnings() {
    if !have("man", "man pages (apt-get install man-db)") {
        return;
    }
    let env = Env::new();
    let dir = env.dir().join("man/man1");
    let report = env.json(&["man", "--dir", dir.to_str().unwrap()]);
    let mut listed: Vec<String> = report["pages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect();
    listed.sort();
    assert_eq!(listed, expected_pages());
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    assert_eq!(on_disk, listed);
    for page in &on_disk {
        let path = dir.join(page);
        assert_eq!(
            std::fs::metadata(&path).unwrap().mode() & 0o777,
            0o644,
            "{page}"
        );
        let r = dist::man(&path);
        assert!(
            r.success() && r.stderr.is_empty(),
            "man --warnings -l {page}:\n{r}"
        );
        let name = page.trim_end_matches(".1");
        assert!(
            r.stdout.contains("NAME") && r.stdout.contains(name),
            "{page}:\n{r}"
        );
    }
    // One page on stdout is the same page --dir writes.
    let read = |p: &str| std::fs::read_to_string(dir.join(p)).unwrap();
    assert_eq!(env.ok(&["man"]), read("berth.1"));
    assert_eq!(env.ok(&["man", "install"]), read("berth-install.1"));
    assert_eq!(
        env.ok(&["man", "repo", "publish"]),
        read("berth-repo-publish.1")
    );
    // In step with the definitions: every flag of install is on its page, and its examples.
    let install = read("berth-install.1");
    for f in long_flags("install") {
        assert!(install.contains(&f.replace('-', r"\-")), "{f} missing");
    }
    assert!(install.contains(".SH EXAMPLES"), "{install}");
    let top = read("berth.1");
    for s in [".SH \"EXIT STATUS\"", ".SH ENVIRONMENT", ".SH FILES"] {
        assert!(top.contains(s), "berth.1 lacks {s}");
    }
    // The exit codes keep their table layout, every code in one section.
    let exit = top.split(".SH \"EXIT STATUS\"").nth(1).unwrap();
    let exit = exit.split("\n.SH ").next().unwrap();
    assert!(
        exit.contains(".nf") && exit.contains("126") && exit.contains("127"),
        "{exit}"
    );
    // Human output: one line.
    let out = env.ok(&["man", "--dir", dir.to_str().unwrap()]);
    assert_eq!(
        out,
        format!("wrote {} pages to {}\n", listed.len(), dir.display())
    );
    assert!(!env.root().exists(), "man made a root");
}

#[test]
fn man_and_completions_refuse_bad_input_in_one_line() {
    let env = Env::new();
    let one_line = |stderr: &str, what: &str| {
        let lines: Vec<&str> = stderr.lines().collect();
        assert!(
            lines.len() <= 2 && lines[0].starts_with("error: ") && lines[0].contains(what),
            "{stderr}"
        );
        if let Some(h) = lines.get(1) {
            assert!(h.starts_with("hint: "), "{stderr}");
        }
    };
    let e = env.fails(&["man", "nosuch"], 2);
    one_line(&e, "berth has no command `nosuch`");
    assert!(
        e.contains("hint: commands: ") && e.contains("install"),
        "{e}"
    );
    let e = env.fails(&["man", "repo", "nosuch"], 2);
    one_line(&e, "`repo nosuch`");
    assert!(e.contains("publish"), "{e}");
    // Hidden commands and hostile words are not commands either.
    one_line(&env.fails(&["man", "hook-env"], 2), "`hook-env`");
    one_line(
        &env.fails(&["man", "../../etc/passwd"], 2),
        "../../etc/passwd",
    );
    one_line(
        &env.fails(&["man", "install\n.SH X"], 2),
        r"`install\n.SH X`",
    );
    // One page or all of them, not both; nothing is written.
    let dir = env.dir().join("pages");
    env.fails(&["man", "install", "--dir", dir.to_str().unwrap()], 2);
    assert!(!dir.exists());
    // --dir naming a regular file: an I/O error that names it; the file is untouched.
    let file = env.dir().join("not-a-dir");
    std::fs::write(&file, "keep").unwrap();
    let e = env.fails(&["man", "--dir", file.to_str().unwrap()], 1);
    one_line(&e, &file.display().to_string());
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep");
    // Shells berth has no script for, and none at all: clap's usage error.
    let e = env.fails(&["completions", "tcsh"], 2);
    assert!(e.contains("tcsh") && e.contains("bash, zsh, fish"), "{e}");
    env.fails(&["completions"], 2);
    env.fails(&["completions", "bash", "zsh"], 2);
    assert!(!env.root().exists(), "a refused command made a root");
}

// ---------------------------------------------------------------------------------------
// the Debian package (root only: it installs into this machine and purges again)

/// The package built by packaging/build-deb.sh from the berth under test.
fn build_deb(repo: &Path) -> PathBuf {
    let out = Command::new("bash")
        .arg(repo.join("packaging/build-deb.sh"))
        .arg("--prebuilt")
        .current_dir(repo)
        .output()
        .unwrap();
    let r = Run::from(out);
    assert!(r.success(), "packaging/build-deb.sh failed:\n{r}");
    let deb = repo.join(r.stdout.lines().last().unwrap()).canonicalize();
    let deb = deb.unwrap_or_else(|e| panic!("no .deb ({e}):\n{r}"));
    assert!(deb.to_string_lossy().ends_with(".deb"), "{}", deb.display());
    deb
}

/// Whether `cargo deb` works (./test.sh installs it); otherwise the rule of a missing tool.
#[track_caller]
fn cargo_deb_available(test: &str) -> bool {
    let ok = Command::new("cargo")
        .args(["deb", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        unavailable(
            test,
            "`cargo deb` is not installed (cargo install --locked cargo-deb)",
        );
    }
    ok
}

#[test]
fn deb_passes_lintian_installs_runs_the_quick_start_and_purges_cleanly() {
    let test = "the .deb test (dpkg -i into this machine)";
    if !common::is_root_or_skip(test)
        || !have("dpkg", test)
        || !have("lintian", test)
        || !cargo_deb_available(test)
    {
        return;
    }
    // Never touch an installation this test did not make.
    let before = dist::status();
    let var_lib = Path::new(dist::VAR_LIB);
    if before != "not-installed" || var_lib.exists() {
        let why = format!(
            "berth is already on this machine (dpkg: {before}; {} exists: {}); `dpkg -P berth` first",
            var_lib.display(),
            var_lib.exists()
        );
        unavailable(test, &why);
        return;
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let deb = build_deb(repo);

    // lintian: no errors; the warnings are printed for the record.
    let r = Run::of(Command::new("lintian").arg("--no-cfg").arg(&deb));
    let tags: Vec<&str> = r
        .stdout
        .lines()
        .filter(|l| l.get(1..3) == Some(": "))
        .collect();
    println!("lintian:\n{}", tags.join("\n"));
    assert!(
        !tags.iter().any(|l| l.starts_with("E: ")),
        "lintian reports errors:\n{r}"
    );
    let shipped = tool_text(repo, "dpkg-deb", &["-c", deb.to_str().unwrap()]);

    let installed = dist::Installed::install(&deb);
    assert_eq!(dist::status(), "installed");
    // The default root: made by postinst, root's, writable by nobody else, not dpkg's file.
    let st = std::fs::symlink_metadata(var_lib).unwrap();
    assert!(st.is_dir());
    assert_eq!((st.uid(), st.gid(), st.mode() & 0o7777), (0, 0, 0o755));
    let listed = tool_text(repo, "dpkg", &["-L", dist::PACKAGE]);
    assert!(
        !listed.lines().any(|l| l.starts_with(dist::VAR_LIB)),
        "{listed}"
    );
    let files: Vec<PathBuf> = listed
        .lines()
        .map(PathBuf::from)
        .filter(|p| p.is_file())
        .collect();
    for f in [
        "/usr/bin/berth",
        "/usr/share/bash-completion/completions/berth",
        "/usr/share/zsh/vendor-completions/_berth",
        "/usr/share/fish/vendor_completions.d/berth.fish",
        "/usr/share/doc/berth/README.Debian",
        "/usr/share/doc/berth/copyright",
        "/usr/share/doc/berth/changelog.Debian.gz",
    ] {
        assert!(files.contains(&PathBuf::from(f)), "{f} not installed");
    }
    let m = std::fs::metadata("/usr/bin/berth").unwrap();
    assert_eq!((m.uid(), m.mode() & 0o7777), (0, 0o755));
    // Man pages: every page, gzipped, in /usr/share/man/man1 (in the .deb when dpkg is set
    // to skip /usr/share/man, as in minimal container images).
    let man1 = "/usr/share/man/man1";
    for page in expected_pages() {
        let gz = format!("{man1}/{page}.gz");
        assert!(shipped.contains(&format!(".{gz}")), "{gz} not in the .deb");
        if !dist::dpkg_excludes("/usr/share/man") {
            assert!(Path::new(&gz).is_file(), "{gz} not installed");
        }
    }
    if !dist::dpkg_excludes("/usr/share/man") && have("man", test) {
        let r = dist::man(Path::new("/usr/share/man/man1/berth-install.1.gz"));
        assert!(r.success() && r.stderr.is_empty(), "{r}");
    }
    if have("bash", test) {
        let r = dist::shell(
            "bash",
            &["--norc"],
            "source /usr/share/bash-completion/completions/berth && complete -p berth",
            Path::new("/"),
        )
        .ok();
        assert!(r.stdout.contains(" berth"), "{r}");
    }
    let version = Run::of(Command::new("/usr/bin/berth").arg("--version")).ok();
    assert!(version.stdout.starts_with("berth "), "{version}");

    // The README's quick start, with the packaged berth on a throw-away root.
    let env = Env::new();
    let r = Run::of(
        Command::new("bash")
            .arg(repo.join("examples/quickstart.sh"))
            .env("BERTH", "/usr/bin/berth")
            .env("TMPDIR", env.dir())
            .env("NO_COLOR", "1")
            .env_remove("BERTH_ROOT")
            .env_remove("BERTH_PROFILE")
            .current_dir(env.dir()),
    );
    assert!(r.success(), "quick start with /usr/bin/berth failed:\n{r}");
    for line in [
        "myapp 1.4.2 (profile: site-a)",
        "myapp 1.5.0 (profile: site-b)",
    ] {
        assert!(r.stdout.contains(line), "quick start: no `{line}`:\n{r}");
    }
    let root = r
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("root: "))
        .unwrap();
    assert!(Path::new(root).starts_with(env.dir()), "{root}");
    // berth carries its static shim and writes it into each root.
    assert!(
        crate::common::bins::is_static_elf(&Path::new(root).join("libexec/berth-shim")),
        "the root's shim is not statically linked"
    );

    // The default root (no --root, no BERTH_ROOT, as root): /var/lib/berth as made by postinst.
    let pkgs = env.dir().join("pkgs");
    std::fs::create_dir(&pkgs).unwrap();
    let default_root = |args: &[&str]| {
        let mut c = Command::new("/usr/bin/berth");
        common::clean_env(&mut c).args(args).current_dir(env.dir());
        Run::of(&mut c)
    };
    default_root(&[
        "pack",
        repo.join("examples/myapp-1.4.2").to_str().unwrap(),
        "-o",
        pkgs.to_str().unwrap(),
    ])
    .ok();
    let pkg = pkgs.join("myapp-1.4.2.berth");
    default_root(&["install", pkg.to_str().unwrap()]).ok();
    default_root(&["use", "site", "myapp@1.4.2"]).ok();
    let r = Run::of(
        Command::new(var_lib.join("shims/myapp"))
            .env("BERTH_PROFILE", "site")
            .current_dir(env.dir()),
    )
    .ok();
    assert_eq!(r.stdout.trim(), "myapp 1.4.2 (profile: site)");
    default_root(&["check"]).ok();

    // Remove: the programs go, the data stays.
    tool_text(repo, "dpkg", &["-r", dist::PACKAGE]);
    assert_eq!(dist::status(), "config-files");
    assert!(!Path::new("/usr/bin/berth").exists());
    assert!(var_lib.join("store").is_dir(), "dpkg -r deleted the data");
    // Purge: the data goes too, and nothing of the package is left.
    tool_text(repo, "dpkg", &["-P", dist::PACKAGE]);
    assert_eq!(dist::status(), "not-installed");
    assert!(!var_lib.exists(), "dpkg -P left {}", var_lib.display());
    let left: Vec<&PathBuf> = files.iter().filter(|f| f.exists()).collect();
    assert!(left.is_empty(), "left after purge: {left:?}");
    drop(installed);
}

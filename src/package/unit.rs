//! A systemd `.service` file as a package ships it (`lib/systemd/system/`,
//! `usr/lib/systemd/system/`): parsed as systemd.syntax(7) says (sections, `#`/`;`
//! comments, backslash continuations, repeated keys, an empty assignment resetting a list),
//! keeping only the directives berth acts on when it runs the package's service. Knows
//! nothing of where the file came from beyond its name, for messages.

use std::collections::BTreeMap;

/// Where units live in a package's tree, in systemd's order of precedence.
pub const UNIT_DIRS: [&str; 2] = ["usr/lib/systemd/system", "lib/systemd/system"];

/// What is wrong with a unit file, naming the file and the line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    /// A line that is neither a section header, a comment nor `Key=Value`.
    #[error("{file}:{line}: not a section, a comment or Key=Value: `{text}`")]
    Syntax {
        file: String,
        line: usize,
        text: String,
    },
    /// `Key=Value` before any `[Section]`.
    #[error("{file}:{line}: `{key}=` outside any section")]
    NoSection {
        file: String,
        line: usize,
        key: String,
    },
    /// A directive berth acts on whose value it refuses.
    #[error("{file}:{line}: {key}={value}: {why}")]
    Value {
        file: String,
        line: usize,
        key: String,
        value: String,
        why: String,
    },
    /// No `ExecStart=` in `[Service]`.
    #[error("{file}: no ExecStart= in [Service]")]
    NoExecStart { file: String },
}

/// One command line of `ExecStart=`/`ExecStartPre=`, its prefixes taken off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecLine {
    /// The words (quotes and escapes resolved); the first is an absolute program path.
    pub argv: Vec<String>,
    /// `-`: a failure is ignored.
    pub ignore_failure: bool,
    /// `+`/`!`/`!!`: systemd would run it with full privileges; berth runs it as the
    /// service runs (said at `-v`).
    pub privileged: bool,
    /// The line it came from.
    pub line: usize,
}

/// A `[Service]` path directive's value: a path and whether `-` made it optional.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitPath {
    /// Relative (StateDirectory= …: to /var/lib …) or absolute (ReadWritePaths=), as written.
    pub path: String,
    /// `-` prefix: a missing path is not an error.
    pub optional: bool,
    /// The line it came from.
    pub line: usize,
}

/// The directives berth acts on, from one unit file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unit {
    /// The file name (`nginx.service`).
    pub file: String,
    /// `Type=` (`simple` when absent).
    pub kind: String,
    /// `ExecStartPre=`, in order.
    pub exec_start_pre: Vec<ExecLine>,
    /// The first `ExecStart=`.
    pub exec_start: Option<ExecLine>,
    /// `User=`.
    pub user: Option<String>,
    /// `Group=`.
    pub group: Option<String>,
    /// `StateDirectory=` (relative to /var/lib).
    pub state_dirs: Vec<UnitPath>,
    /// `LogsDirectory=` (relative to /var/log).
    pub logs_dirs: Vec<UnitPath>,
    /// `CacheDirectory=` (relative to /var/cache).
    pub cache_dirs: Vec<UnitPath>,
    /// `RuntimeDirectory=` (relative to /run).
    pub runtime_dirs: Vec<UnitPath>,
    /// `RuntimeDirectoryMode=` (0755 when absent).
    pub runtime_mode: u32,
    /// `ReadWritePaths=` and its older name `ReadWriteDirectories=` (absolute).
    pub read_write: Vec<UnitPath>,
    /// `AmbientCapabilities=` (names as written, `CAP_` kept).
    pub ambient_caps: Vec<String>,
    /// `PIDFile=`.
    pub pid_file: Option<String>,
}

/// `Key=Value` lines of one section, with their line numbers, in file order.
type Section = Vec<(String, String, usize)>;

/// Splits a unit file into sections (systemd.syntax(7)).
fn sections(file: &str, text: &str) -> Result<BTreeMap<String, Section>, UnitError> {
    let mut out: BTreeMap<String, Section> = BTreeMap::new();
    let mut current: Option<String> = None;
    let mut lines = text.lines().enumerate();
    while let Some((i, raw)) = lines.next() {
        let line_no = i + 1;
        let mut line = raw.trim().to_string();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        // A trailing backslash joins the next line (comment lines inside are skipped).
        while line.ends_with('\\') {
            line.pop();
            line.push(' ');
            for (_, next) in lines.by_ref() {
                let next = next.trim();
                if !(next.starts_with('#') || next.starts_with(';')) {
                    line.push_str(next);
                    break;
                }
            }
        }
        if line.starts_with('[') {
            if !line.ends_with(']') {
                return Err(syntax(file, line_no, raw));
            }
            let name = line[1..line.len() - 1].to_string();
            out.entry(name.clone()).or_default();
            current = Some(name);
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            return Err(syntax(file, line_no, raw));
        };
        let key = k.trim().to_string();
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err(syntax(file, line_no, raw));
        }
        let Some(sec) = &current else {
            return Err(UnitError::NoSection {
                file: file.to_string(),
                line: line_no,
                key,
            });
        };
        let value = v.trim().to_string();
        out.entry(sec.clone())
            .or_default()
            .push((key, value, line_no));
    }
    Ok(out)
}

fn syntax(file: &str, line: usize, raw: &str) -> UnitError {
    UnitError::Syntax {
        file: file.to_string(),
        line,
        text: raw.trim().chars().take(80).collect(),
    }
}

impl Unit {
    /// Parses `text`, the content of the unit file named `file`.
    pub fn parse(file: &str, text: &str) -> Result<Unit, UnitError> {
        let secs = sections(file, text)?;
        let mut u = Unit {
            file: file.to_string(),
            kind: "simple".into(),
            runtime_mode: 0o755,
            ..Unit::default()
        };
        let empty = Vec::new();
        let service = secs.get("Service").unwrap_or(&empty);
        for (key, value, line) in service {
            let bad = |why: &str| UnitError::Value {
                file: file.to_string(),
                line: *line,
                key: key.clone(),
                value: value.clone(),
                why: why.to_string(),
            };
            let paths = |list: &mut Vec<UnitPath>| {
                if value.is_empty() {
                    list.clear();
                }
                for w in value.split_whitespace() {
                    let (optional, p) = match w.strip_prefix('-') {
                        Some(p) => (true, p),
                        None => (false, w),
                    };
                    list.push(UnitPath {
                        path: p.to_string(),
                        optional,
                        line: *line,
                    });
                }
            };
            match key.as_str() {
                "Type" => u.kind = value.clone(),
                "ExecStart" if u.exec_start.is_none() && !value.is_empty() => {
                    u.exec_start = Some(exec_line(value, *line).map_err(|w| bad(&w))?);
                }
                "ExecStartPre" if value.is_empty() => u.exec_start_pre.clear(),
                "ExecStartPre" => u
                    .exec_start_pre
                    .push(exec_line(value, *line).map_err(|w| bad(&w))?),
                "User" => u.user = Some(value.clone()).filter(|v| !v.is_empty()),
                "Group" => u.group = Some(value.clone()).filter(|v| !v.is_empty()),
                "StateDirectory" => paths(&mut u.state_dirs),
                "LogsDirectory" => paths(&mut u.logs_dirs),
                "CacheDirectory" => paths(&mut u.cache_dirs),
                "RuntimeDirectory" => paths(&mut u.runtime_dirs),
                "RuntimeDirectoryMode" => {
                    u.runtime_mode = u32::from_str_radix(value, 8)
                        .ok()
                        .filter(|m| *m <= 0o7777)
                        .ok_or_else(|| bad("not an octal mode"))?;
                }
                "ReadWritePaths" | "ReadWriteDirectories" => paths(&mut u.read_write),
                "AmbientCapabilities" if value.is_empty() => u.ambient_caps.clear(),
                "AmbientCapabilities" => {
                    if value.starts_with('~') {
                        return Err(bad(
                            "an inverted list is not supported; name the capabilities to keep",
                        ));
                    }
                    u.ambient_caps
                        .extend(value.split_whitespace().map(str::to_string));
                }
                "PIDFile" => u.pid_file = Some(value.clone()),
                _ => {}
            }
        }
        if u.exec_start.is_none() {
            return Err(UnitError::NoExecStart {
                file: file.to_string(),
            });
        }
        for (list, what) in [
            (&u.state_dirs, "StateDirectory"),
            (&u.logs_dirs, "LogsDirectory"),
            (&u.cache_dirs, "CacheDirectory"),
            (&u.runtime_dirs, "RuntimeDirectory"),
        ] {
            for p in list {
                if let Err(why) = check_relative(&p.path) {
                    return Err(UnitError::Value {
                        file: file.to_string(),
                        line: p.line,
                        key: what.into(),
                        value: p.path.clone(),
                        why: why.into(),
                    });
                }
            }
        }
        Ok(u)
    }

    /// The unit's name without `.service` (`nginx`).
    pub fn name(&self) -> &str {
        self.file.strip_suffix(".service").unwrap_or(&self.file)
    }
}

/// A relative path of plain components: no `/` at either end, no `.`, `..` or empty one.
pub fn check_relative(p: &str) -> Result<(), &'static str> {
    if p.is_empty() {
        return Err("is empty");
    }
    if p.starts_with('/') {
        return Err("must be relative");
    }
    if p.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
        return Err("has an empty, `.` or `..` component");
    }
    Ok(())
}

/// An absolute path of plain components (`..`, `.` and empty components refused).
pub fn check_absolute(p: &str) -> Result<(), &'static str> {
    match p.strip_prefix('/') {
        Some(rest) => check_relative(rest),
        None => Err("must be absolute"),
    }
}

/// `ExecStart=`'s value: prefixes (`-`, `@`, `+`, `!`, `!!`, `:`), then the words.
fn exec_line(value: &str, line: usize) -> Result<ExecLine, String> {
    let mut rest = value;
    let (mut ignore_failure, mut privileged, mut argv0) = (false, false, false);
    loop {
        if let Some(r) = rest.strip_prefix('-') {
            ignore_failure = true;
            rest = r;
        } else if let Some(r) = rest.strip_prefix('@') {
            argv0 = true;
            rest = r;
        } else if let Some(r) = rest.strip_prefix('+').or_else(|| rest.strip_prefix('!')) {
            privileged = true;
            rest = r;
        } else if let Some(r) = rest.strip_prefix(':') {
            rest = r;
        } else {
            break;
        }
    }
    let mut argv = split_words(rest)?;
    if argv0 && argv.len() >= 2 {
        // `@prog name args`: the second word is argv[0]; berth keeps the real program name.
        argv.remove(1);
    }
    let Some(prog) = argv.first() else {
        return Err("has no command".into());
    };
    check_absolute(prog).map_err(|why| format!("the program {why}"))?;
    if let Some(w) = argv.iter().find(|w| w.contains("$MAINPID")) {
        return Err(format!(
            "`{w}` needs systemd's main pid, which berth does not give"
        ));
    }
    Ok(ExecLine {
        argv,
        ignore_failure,
        privileged,
        line,
    })
}

/// Splits a command line as systemd does for quotes and backslashes (no variables: a word
/// with `$` is kept as written).
fn split_words(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => {
                if let Some(w) = word.take() {
                    out.push(w);
                }
            }
            '\'' | '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some(q) if q == c => break,
                        Some('\\') if c == '"' => match chars.next() {
                            Some(ch) => w.push(ch),
                            None => return Err("ends with a backslash".into()),
                        },
                        Some(ch) => w.push(ch),
                        None => return Err("has an unclosed quote".into()),
                    }
                }
            }
            '\\' => match chars.next() {
                Some(ch) => word.get_or_insert_with(String::new).push(ch),
                None => return Err("ends with a backslash".into()),
            },
            ch => word.get_or_insert_with(String::new).push(ch),
        }
    }
    if let Some(w) = word {
        out.push(w);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NGINX: &str = "# comment\n[Unit]\nDescription=x\n\n[Service]\nType=forking\n\
        PIDFile=/run/nginx.pid\nExecStartPre=/usr/sbin/nginx -t -q -g 'daemon on; master_process on;'\n\
        ExecStart=/usr/sbin/nginx -g 'daemon on; master_process on;'\n\
        ExecStop=-/sbin/start-stop-daemon --quiet --stop\n[Install]\nWantedBy=multi-user.target\n";

    #[test]
    fn nginx_unit_gives_its_commands() {
        let u = Unit::parse("nginx.service", NGINX).unwrap();
        assert_eq!(u.name(), "nginx");
        assert_eq!(u.kind, "forking");
        assert_eq!(u.pid_file.as_deref(), Some("/run/nginx.pid"));
        assert_eq!(
            u.exec_start.unwrap().argv,
            ["/usr/sbin/nginx", "-g", "daemon on; master_process on;"]
        );
        assert_eq!(u.exec_start_pre.len(), 1);
        assert_eq!(u.exec_start_pre[0].line, 8);
    }

    #[test]
    fn continuations_repeats_and_resets() {
        let text = "[Service]\nExecStart=-/usr/bin/redis-server \\\n  # inner comment\n  /etc/redis.conf\n\
            User=redis\nReadWritePaths=-/var/lib/redis\nReadWritePaths=-/var/log/redis\n\
            StateDirectory=a b\nStateDirectory=\nStateDirectory=c\nRuntimeDirectory=redis\n\
            RuntimeDirectoryMode=2755\nAmbientCapabilities=CAP_NET_BIND_SERVICE\n";
        let u = Unit::parse("redis.service", text).unwrap();
        let e = u.exec_start.unwrap();
        assert_eq!(e.argv, ["/usr/bin/redis-server", "/etc/redis.conf"]);
        assert!(e.ignore_failure);
        assert_eq!(u.user.as_deref(), Some("redis"));
        assert_eq!(u.read_write.len(), 2);
        assert!(u.read_write[0].optional);
        assert_eq!(u.state_dirs.len(), 1);
        assert_eq!(u.state_dirs[0].path, "c");
        assert_eq!(u.runtime_mode, 0o2755);
        assert_eq!(u.ambient_caps, ["CAP_NET_BIND_SERVICE"]);
    }

    #[test]
    fn hostile_values_name_file_and_line() {
        let cases = [
            ("[Service]\nExecStart=usr/bin/x\n", 2, "must be absolute"),
            ("[Service]\nExecStart=/usr/../bin/x\n", 2, "`..`"),
            (
                "[Service]\nExecStart=/bin/x\nRuntimeDirectory=../etc\n",
                3,
                "`..`",
            ),
            ("[Service]\nExecStart=/bin/kill $MAINPID\n", 2, "MAINPID"),
            ("[Service]\nnonsense\n", 2, "not a section"),
            ("ExecStart=/bin/x\n", 1, "outside any section"),
        ];
        for (text, line, want) in cases {
            let e = Unit::parse("x.service", text).unwrap_err().to_string();
            assert!(e.starts_with(&format!("x.service:{line}:")), "{e}");
            assert!(e.contains(want), "{e}");
        }
        let e = Unit::parse("x.service", "[Service]\nType=simple\n").unwrap_err();
        assert!(matches!(e, UnitError::NoExecStart { .. }));
    }
}

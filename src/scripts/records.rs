//! What the stubs recorded, read back: one call a line (`script number`, tool, argv, tab
//! separated), turned into the lines `info` shows and the owners/modes the made entry
//! declares.

use std::collections::BTreeMap;

/// One recorded call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The number of the script that made it.
    pub script: usize,
    /// The stub's name.
    pub tool: String,
    /// Its arguments.
    pub args: Vec<String>,
}

/// Parses the records file.
pub fn parse(text: &str) -> Vec<Call> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split('\t');
            let script = f.next()?.parse().ok()?;
            let tool = f.next()?.to_string();
            Some(Call {
                script,
                tool,
                args: f.map(str::to_string).collect(),
            })
        })
        .collect()
}

fn positional(args: &[String]) -> Vec<&str> {
    args.iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with('-'))
        .collect()
}

/// What berth understood of one call, for `info`; `None` for calls not worth a line
/// (queries, the stub's own helpers).
pub fn line(c: &Call) -> Option<String> {
    let a = &c.args;
    let joined = a.join(" ");
    Some(match c.tool.as_str() {
        "update-alternatives" => {
            let i = a.iter().position(|x| x == "--install")?;
            let (link, name, path, prio) =
                (a.get(i + 1)?, a.get(i + 2)?, a.get(i + 3)?, a.get(i + 4)?);
            format!("{link} -> {path} (alternative {name}, priority {prio})")
        }
        "ucf" => {
            let p = positional(a);
            if p.len() < 2 {
                return None;
            }
            format!("{} from {} (ucf)", p[p.len() - 1], p[p.len() - 2])
        }
        "ucfr" | "ucfq" => return None,
        "adduser" | "useradd" | "addgroup" | "groupadd" => {
            format!("{} {joined} (a user record)", c.tool)
        }
        "chown" | "chgrp" => format!("{} {joined}", c.tool),
        "dpkg-statoverride" if a.iter().any(|x| x == "--add") => {
            format!(
                "statoverride {} (owner and mode of the path)",
                positional(a).join(" ")
            )
        }
        "dpkg-statoverride" => return None,
        "deb-systemd-helper" | "deb-systemd-invoke" | "invoke-rc.d" | "update-rc.d"
        | "systemctl" | "service" | "start-stop-daemon" => {
            format!("not done: {} {joined} (berth runs services itself)", c.tool)
        }
        "ldconfig" => "not done: ldconfig (whole-system cache)".into(),
        _ => format!("recorded: {} {joined}", c.tool),
    })
}

/// Owners (`user:group`) and modes the calls gave paths (absolute), last call winning:
/// `chown`/`chgrp` and `dpkg-statoverride --add`.
pub fn owners(calls: &[Call]) -> BTreeMap<String, (Option<String>, Option<String>)> {
    let mut out: BTreeMap<String, (Option<String>, Option<String>)> = BTreeMap::new();
    for c in calls {
        match c.tool.as_str() {
            "chown" | "chgrp" => {
                let p = positional(&c.args);
                let Some((who, paths)) = p.split_first() else {
                    continue;
                };
                let who = if c.tool == "chgrp" {
                    format!("root:{who}")
                } else if who.contains(':') {
                    who.to_string()
                } else {
                    format!("{who}:root")
                };
                for path in paths {
                    out.entry(path.to_string()).or_default().0 = Some(who.clone());
                }
            }
            "dpkg-statoverride" if c.args.iter().any(|x| x == "--add") => {
                let p = positional(&c.args);
                if let [u, g, m, path] = p[..] {
                    let e = out.entry(path.to_string()).or_default();
                    e.0 = Some(format!("{u}:{g}"));
                    e.1 = Some(format!("{:0>4}", m));
                }
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alternatives_and_statoverride_are_understood() {
        let calls = parse(
            "2\tupdate-alternatives\t--install\t/usr/bin/php\tphp\t/usr/bin/php8.2\t82\n\
             3\tdpkg-statoverride\t--update\t--add\tredis\tredis\t640\t/etc/redis/redis.conf\n\
             3\tchown\tredis:adm\t/var/log/redis\n",
        );
        assert_eq!(calls.len(), 3);
        assert_eq!(
            line(&calls[0]).unwrap(),
            "/usr/bin/php -> /usr/bin/php8.2 (alternative php, priority 82)"
        );
        let o = owners(&calls);
        assert_eq!(
            o["/etc/redis/redis.conf"],
            (Some("redis:redis".into()), Some("0640".into()))
        );
        assert_eq!(o["/var/log/redis"].0.as_deref(), Some("redis:adm"));
    }
}

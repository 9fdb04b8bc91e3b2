//! Real Debian php from Debian 12's archive, two versions side by side (issue 22): each
//! profile's `php` resolves (the link its postinst makes with update-alternatives), loads its
//! own php.ini and the modules Debian enables by default, and the operator's php.ini edit
//! survives an upgrade and a rollback. (nginx and redis: `native_services.rs`; what the
//! scripts made: `native_scripts.rs`.)

use crate::common::isolate::needs_root;
use crate::common::native::debian_deb_or_skip;
use crate::common::Env;
use std::path::PathBuf;

const PHP: [&str; 2] = ["8.2.32-1~deb12u1", "8.2.36-1~deb12u1"];

fn php(env: &Env, profile: &str, code: &str) -> String {
    env.ok(&["run", "--isolate", profile, "--", "php", "-r", code])
}

#[test]
fn two_php_versions_run_with_their_ini_and_modules_and_an_ini_edit_survives_upgrade_and_rollback() {
    let test = "two_php_versions_run_with_their_ini_and_modules";
    // The scripts write root's files of the view (/usr/bin/php): root only.
    if needs_root(test) {
        return;
    }
    let mut want = vec![("php-common", "2:93")];
    for v in PHP {
        want.push(("php8.2-common", v));
        want.push(("php8.2-cli", v));
    }
    let mut files = Vec::new();
    for (n, v) in want {
        let Some(f) = debian_deb_or_skip(test, n, v) else {
            return;
        };
        files.push(f);
    }
    let env = Env::new();
    let mut args = vec!["install", "-q"];
    args.extend(files.iter().map(|p| p.to_str().unwrap()));
    env.ok(&args);
    let set = |v: &str| {
        vec![
            "php-common".to_string(),
            format!("php8.2-common@{v}"),
            format!("php8.2-cli@{v}"),
        ]
    };
    for (profile, v) in [("php-a", PHP[0]), ("php-b", PHP[1])] {
        let mut a = vec!["use".to_string(), profile.to_string()];
        a.extend(set(v));
        env.ok(&a.iter().map(String::as_str).collect::<Vec<_>>());
        let short = v.split('-').next().unwrap();
        let out = env.ok(&["run", "--isolate", profile, "--", "php", "-v"]);
        assert!(out.starts_with(&format!("PHP {short} ")), "{out}");
        assert_eq!(
            php(&env, profile, "echo php_ini_loaded_file();"),
            "/etc/php/8.2/cli/php.ini"
        );
        assert_eq!(
            php(
                &env,
                profile,
                "echo extension_loaded('ctype') ? 'yes' : 'no';"
            ),
            "yes"
        );
    }
    // The operator's edit of php-a's php.ini.
    let ini = PathBuf::from(
        env.ok(&["config", "path", "php-a", "/etc/php/8.2/cli/php.ini"])
            .trim(),
    );
    let text = std::fs::read_to_string(&ini).unwrap();
    let edited = text.replace("\nmemory_limit = -1\n", "\nmemory_limit = 77M\n");
    assert_ne!(edited, text, "php.ini has no memory_limit = -1 line");
    std::fs::write(&ini, &edited).unwrap();
    let limit = |env: &Env| php(env, "php-a", "echo ini_get('memory_limit');");
    assert_eq!(limit(&env), "77M");
    // Upgrade to the other release: its php, the same edit.
    let mut up = vec!["use".to_string(), "php-a".to_string()];
    up.extend(set(PHP[1]));
    env.ok(&up.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(php(&env, "php-a", "echo PHP_VERSION;").starts_with("8.2.36"));
    assert_eq!(limit(&env), "77M");
    // And back.
    env.ok(&["rollback", "php-a"]);
    assert!(php(&env, "php-a", "echo PHP_VERSION;").starts_with("8.2.32"));
    assert_eq!(limit(&env), "77M");
    // The other profile never saw the edit.
    assert_eq!(php(&env, "php-b", "echo ini_get('memory_limit');"), "-1");
}

//! Deduplication through the object pool: a release that changes 1% of the files costs
//! only its directories, its file list and the changed files; unchanged files are the same
//! inodes as the previous release's and the pool's; empty files are never shared.

use crate::common::*;
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

const FILES: usize = 2_000;

/// Deterministic content of file `i` in a release; `salt` changes it.
fn content(i: usize, salt: u64) -> Vec<u8> {
    if i.is_multiple_of(101) {
        return Vec::new();
    }
    let size = match i % 100 {
        0..=9 => 16 * 1024 + i * 7 % 4096,
        10..=59 => 4096 + i * 13 % 4096,
        _ => 100 + i * 31 % 2000,
    };
    let mut x = (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ salt;
    (0..size)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Path of file `i` inside a release.
fn path(i: usize) -> String {
    format!("share/d{:02}/f{i:04}.dat", i % 40)
}

/// Files changed in v2: 1% of them, none empty.
fn changed(i: usize) -> bool {
    i % 100 == 37
}

fn release(env: &Env, version: &str, v2: bool) -> std::path::PathBuf {
    let dir = env.dir().join(format!("src-{version}"));
    for i in 0..FILES {
        let salt = if v2 && changed(i) { 0xdead_beef } else { 0 };
        let p = dir.join(path(i));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, content(i, salt)).unwrap();
    }
    std::fs::write(
        dir.join("berth.toml"),
        format!("[package]\nname = \"rel\"\nversion = \"{version}\"\n"),
    )
    .unwrap();
    env.pack(&dir)
}

fn inodes(dir: &Path) -> BTreeMap<String, (u64, u64, u64)> {
    walk(dir)
        .into_iter()
        .filter(|(_, m)| m.is_file())
        .map(|(p, m)| (p, (m.dev(), m.ino(), m.len())))
        .collect()
}

#[test]
fn one_percent_changed_release_grows_root_by_less_than_15_percent() {
    let env = Env::new();
    let v1 = release(&env, "1.0", false);
    let v2 = release(&env, "2.0", true);
    env.install(&v1, &[]);
    let before = disk_usage(env.root());
    let row = env.install(&v2, &[]);
    let after = disk_usage(env.root());
    let v2_bytes = row["bytes"].as_u64().unwrap();
    let growth = after - before;
    assert!(
        (growth as f64) < 0.15 * v2_bytes as f64,
        "root grew by {growth} bytes for a release of {v2_bytes} bytes ({:.1}%)",
        100.0 * growth as f64 / v2_bytes as f64
    );
    let n_changed = (0..FILES).filter(|&i| changed(i)).count();
    assert_eq!(
        row["new_objects"].as_u64().unwrap(),
        n_changed as u64,
        "only the changed files are written to the pool"
    );
    env.run(&["verify"]).ok();
}

#[test]
fn unchanged_files_share_inodes_across_releases_and_with_the_pool() {
    let env = Env::new();
    let r1 = env.install(&release(&env, "1.0", false), &[]);
    let r2 = env.install(&release(&env, "2.0", true), &[]);
    let d1 = env.entry_dir("rel", "1.0", r1["id"].as_str().unwrap());
    let d2 = env.entry_dir("rel", "2.0", r2["id"].as_str().unwrap());
    let (i1, i2) = (inodes(&d1), inodes(&d2));
    let pool = pool_inodes(env.root());
    let (mut shared, mut empties) = (0, 0);
    for i in 0..FILES {
        let p = path(i);
        let (a, b) = (i1[&p], i2[&p]);
        if a.2 == 0 {
            empties += 1;
            assert_ne!(
                (a.0, a.1),
                (b.0, b.1),
                "empty file {p} is shared between releases"
            );
            assert!(!pool.contains(&(b.0, b.1)), "empty file {p} is in the pool");
            assert_eq!(std::fs::metadata(d2.join(&p)).unwrap().nlink(), 1);
        } else if changed(i) {
            assert_ne!((a.0, a.1), (b.0, b.1), "changed file {p} shares an inode");
            assert!(pool.contains(&(b.0, b.1)), "changed file {p} is not pooled");
        } else {
            shared += 1;
            assert_eq!((a.0, a.1), (b.0, b.1), "unchanged file {p} is a copy");
            assert!(
                pool.contains(&(a.0, a.1)),
                "unchanged file {p} is not the pool's"
            );
            assert_eq!(std::fs::metadata(d2.join(&p)).unwrap().nlink(), 3);
        }
    }
    assert!(
        shared > FILES * 9 / 10 && empties > 10,
        "{shared} shared, {empties} empty"
    );
    // Within one entry, two empty files are two inodes too.
    let e: Vec<_> = i2
        .values()
        .filter(|x| x.2 == 0)
        .map(|x| (x.0, x.1))
        .collect();
    let unique: std::collections::HashSet<_> = e.iter().collect();
    assert_eq!(
        unique.len(),
        e.len(),
        "empty files share inodes inside one entry"
    );
}

#[test]
fn identical_files_inside_one_package_are_one_object() {
    let env = Env::new();
    let same: &[u8] = b"the same bytes twice\n";
    // Large files are streamed rather than handed to the workers: cover both paths.
    let large: Vec<u8> = (0..600_000u32).map(|i| (i % 251) as u8).collect();
    let mut files: Vec<(String, &[u8])> = vec![("e1".into(), b""), ("e2".into(), b"")];
    for k in 0..8 {
        files.push((format!("small/copy{k}"), same));
        files.push((format!("large/copy{k}"), &large));
    }
    let files: Vec<(&str, &[u8])> = files.iter().map(|(p, c)| (p.as_str(), *c)).collect();
    let src = env.source("twins", "1.0", &files);
    let row = env.install(&env.pack(&src), &[]);
    assert_eq!(row["new_objects"], 2, "one object per distinct content");
    let d = env.entry_dir("twins", "1.0", row["id"].as_str().unwrap());
    for kind in ["small", "large"] {
        let first = std::fs::metadata(d.join(kind).join("copy0")).unwrap();
        assert_eq!(first.nlink(), 9, "{kind}: eight entry links + the pool's");
        for k in 1..8 {
            let m = std::fs::metadata(d.join(kind).join(format!("copy{k}"))).unwrap();
            assert_eq!(m.ino(), first.ino(), "{kind}/copy{k} is a separate copy");
        }
    }
    let (e1, e2) = (
        std::fs::metadata(d.join("e1")).unwrap(),
        std::fs::metadata(d.join("e2")).unwrap(),
    );
    assert_ne!(e1.ino(), e2.ino());
    env.run(&["verify"]).ok();
}

#[test]
fn dedup_works_across_package_formats() {
    let env = Env::new();
    let r1 = env.install(&release(&env, "1.0", false), &[]);
    // v2 as a plain tar.zst shares unchanged files with the .berth-installed v1.
    release(&env, "2.0", true);
    let src = env.dir().join("src-2.0");
    std::fs::remove_file(src.join("berth.toml")).unwrap();
    let tarball = env.dir().join("rel-2.0.tar.zst");
    tool(
        &src,
        "tar",
        &[
            "--zstd",
            "-cf",
            tarball.to_str().unwrap(),
            "--sort=name",
            "share",
        ],
    );
    let before = disk_usage(env.root());
    let r2 = env.install(&tarball, &[]);
    assert!(disk_usage(env.root()) - before < r2["bytes"].as_u64().unwrap() * 15 / 100);
    let d1 = env.entry_dir("rel", "1.0", r1["id"].as_str().unwrap());
    let d2 = env.entry_dir("rel", "2.0", r2["id"].as_str().unwrap());
    let p = path(1);
    assert_eq!(
        std::fs::metadata(d1.join(&p)).unwrap().ino(),
        std::fs::metadata(d2.join(&p)).unwrap().ino()
    );
}

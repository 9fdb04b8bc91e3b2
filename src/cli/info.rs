//! `berth list` and `berth info`.

use super::{output, Ctx};
use crate::error::{Error, Result};
use crate::package::listing::Record;
use crate::package::printable::{escaped, escaped_path};
use crate::store::Entry;
use serde::Serialize;

/// List installed packages.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  berth list                  # name, version, id, size, installed-at
  berth list myapp            # only the versions of myapp
  berth list --json")]
pub struct ListArgs {
    /// Only this package name
    pub name: Option<String>,
}

/// Show one installed package.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  berth info myapp@1.5.0         # manifest, origin, file count, bytes
  berth info myapp               # the highest installed version
  berth info myapp@3f2a --files  # by id prefix, with every file
  berth info hello@2.10-3        # a .deb: control fields, depends (satisfied or not),
                                 # conffiles, maintainer scripts not run")]
pub struct InfoArgs {
    /// name, name@version or name@ID-PREFIX
    pub package: String,
    /// Also list every file
    #[arg(long)]
    pub files: bool,
}

#[derive(Serialize)]
struct Summary {
    name: String,
    version: String,
    id: String,
    files: u64,
    bytes: u64,
    installed_at: String,
    path: String,
}

fn summary(e: &Entry) -> Summary {
    Summary {
        name: e.name().to_string(),
        version: e.version().to_string(),
        id: e.id().to_string(),
        files: e.origin.files,
        bytes: e.origin.bytes,
        installed_at: e.origin.installed_at.clone(),
        path: e.path().display().to_string(),
    }
}

/// Runs `list`.
pub fn list(ctx: &Ctx, a: ListArgs) -> Result<()> {
    let all = match ctx.view()? {
        Some(v) => v.store.entries()?,
        None => vec![],
    };
    let entries: Vec<Entry> = all
        .into_iter()
        .filter(|e| a.name.as_deref().is_none_or(|n| e.name() == n))
        .collect();
    if ctx.json {
        output::json(&entries.iter().map(summary).collect::<Vec<_>>());
        return Ok(());
    }
    if entries.is_empty() {
        if !ctx.quiet {
            println!("no packages installed in {}", ctx.root_path().display());
        }
        return Ok(());
    }
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            vec![
                escaped(e.name()),
                escaped(e.version()),
                e.id()[..12].to_string(),
                output::size(e.origin.bytes),
                e.origin.installed_at.clone(),
            ]
        })
        .collect();
    output::table(&["NAME", "VERSION", "ID", "SIZE", "INSTALLED"], &rows);
    Ok(())
}

#[derive(Serialize)]
struct FileRow {
    path: String,
    kind: &'static str,
    exec: bool,
    size: u64,
    sha256: Option<String>,
    target: Option<String>,
}

#[derive(Serialize)]
struct Info {
    #[serde(flatten)]
    summary: Summary,
    manifest: crate::package::manifest::Manifest,
    origin: crate::store::Origin,
    #[serde(skip_serializing_if = "Option::is_none")]
    file_list: Option<Vec<FileRow>>,
    /// Control fields, dependencies, conffiles and scripts of a .deb or .rpm.
    #[serde(skip_serializing_if = "Option::is_none")]
    native: Option<super::info_native::Native>,
}

/// Runs `info`.
pub fn info(ctx: &Ctx, a: InfoArgs) -> Result<()> {
    let Some(view) = ctx.view()? else {
        return Err(Error::UnknownPackage {
            reference: a.package.clone(),
            installed: vec![],
        });
    };
    let installed = view.store.entries()?;
    let e = crate::store::query::resolve_in(&installed, &a.package)?.clone();
    let native = super::info_native::native(&e.manifest, &installed)?;
    let file_list = if a.files {
        Some(file_rows(&e.file_list(&view.store.open_entry(&e)?)?))
    } else {
        None
    };
    if ctx.json {
        output::json(&Info {
            summary: summary(&e),
            manifest: e.manifest.clone(),
            origin: e.origin.clone(),
            file_list,
            native,
        });
        return Ok(());
    }
    print_info(&e, native.as_ref(), file_list);
    Ok(())
}

fn print_info(
    e: &Entry,
    native: Option<&super::info_native::Native>,
    file_list: Option<Vec<FileRow>>,
) {
    let m = &e.manifest;
    println!("{}@{}", escaped(e.name()), escaped(e.version()));
    if !m.package.description.is_empty() {
        println!("  description  {}", escaped(&m.package.description));
    }
    println!("  id           {}", e.id());
    println!("  path         {}", escaped_path(e.path()));
    println!("  files        {}", e.origin.files);
    println!("  size         {}", output::size(e.origin.bytes));
    println!("  installed    {}", escaped(&e.origin.installed_at));
    println!(
        "  from         {} ({})",
        escaped(&e.origin.artifact),
        escaped(&e.origin.format)
    );
    println!("  sha256       {}", escaped(&e.origin.sha256));
    println!("  exports bin  {}", escaped(&m.exports.bin.join(", ")));
    for c in &m.config {
        println!("  config       {}", escaped(&c.path));
    }
    for w in &m.writable {
        println!("  writable     {}", escaped(&w.path));
    }
    if let Some(s) = &m.service {
        println!("  service      {}", escaped(&s.exec));
    }
    if let Some(n) = native {
        super::info_native::print(n);
    }
    if let Some(made) = super::info_native::made_reports(m) {
        super::info_native::print_made(made);
    }
    if let Some(files) = file_list {
        println!();
        for f in files {
            match f.kind {
                "dir" => println!("d            {}/", escaped(&f.path)),
                "symlink" => println!(
                    "l            {} -> {}",
                    escaped(&f.path),
                    escaped(&f.target.unwrap_or_default())
                ),
                _ => println!(
                    "f {} {:>9}  {}",
                    if f.exec { "x" } else { "-" },
                    f.size,
                    escaped(&f.path)
                ),
            }
        }
    }
}

fn file_rows(list: &crate::package::listing::FileList) -> Vec<FileRow> {
    list.records
        .iter()
        .map(|(p, r)| {
            let mut row = FileRow {
                path: p.clone(),
                kind: "dir",
                exec: false,
                size: 0,
                sha256: None,
                target: None,
            };
            match r {
                Record::Dir => {}
                Record::File { mode, size, sha256 } => {
                    row.kind = "file";
                    row.exec = mode.exec();
                    row.size = *size;
                    row.sha256 = Some(hex::encode(sha256));
                }
                Record::Symlink { target } => {
                    row.kind = "symlink";
                    row.target = Some(target.clone());
                }
            }
            row
        })
        .collect()
}

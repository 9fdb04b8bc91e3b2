//! `berth install --apt NAME[=VERSION]…`: the set apt will download, printed (`--dry-run`)
//! or installed; the resolving, downloading and installing are the repository module's.

use super::install::{report, Args, Row};
use super::{output, Ctx};
use crate::error::{Error, Result};
use crate::package::extract::Limits;
use crate::package::ReadOptions;
use crate::repo::apt::{self, Planned, Why};
use crate::repo::install::Origin;
use serde::Serialize;

/// One member of the set, as `--dry-run` shows it.
#[derive(Serialize)]
struct PlanRow {
    name: String,
    version: String,
    arch: String,
    #[serde(flatten)]
    why: WhyRow,
}

/// Why a package is in the set: `named`, or `dependency` of `needed_by` through `relation`.
#[derive(Serialize)]
struct WhyRow {
    why: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    needed_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    relation: Option<String>,
}

impl WhyRow {
    fn of(p: &Planned) -> WhyRow {
        match &p.why {
            Why::Named => WhyRow {
                why: "named",
                needed_by: None,
                relation: None,
            },
            Why::NeededBy { package, relation } => WhyRow {
                why: "dependency",
                needed_by: Some(package.clone()),
                relation: Some(relation.clone()),
            },
        }
    }

    fn text(&self) -> String {
        match (&self.needed_by, &self.relation) {
            (Some(by), Some(rel)) => format!("needed by {by} ({rel})"),
            _ => "named".to_string(),
        }
    }
}

/// One installed member: install's row plus why it was installed.
#[derive(Serialize)]
struct AptRow {
    #[serde(flatten)]
    row: Row,
    #[serde(flatten)]
    why: WhyRow,
}

/// Runs `install --apt`.
pub fn run(ctx: &Ctx, a: &Args) -> Result<()> {
    let args = a
        .files
        .iter()
        .map(|f| {
            f.to_str().ok_or_else(|| Error::BadFlag {
                flag: "--apt",
                why: format!("`{}` is not a Debian package name", f.display()),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let set = apt::plan(&args)?;
    if a.dry_run {
        return dry_run(ctx, &set);
    }
    let l = ctx.lock()?;
    if !ctx.json && !ctx.quiet {
        eprintln!(
            "downloading {} through apt: {}",
            plural(set.len()),
            set.iter()
                .map(Planned::reference)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let read = ReadOptions {
        limits: Limits {
            max_unpacked: a.max_unpacked_size,
            max_entries: a.max_entries,
            max_ratio: a.max_ratio,
            ..Limits::default()
        },
        allow_empty: a.allow_empty,
        ..ReadOptions::default()
    };
    let mut rows = Vec::new();
    apt::install(
        &l.store,
        &l.lock,
        &set,
        &read,
        &ctx.progress,
        |p, file, outcome| {
            let why = WhyRow::of(p);
            let file: std::path::PathBuf = file.file_name().map(Into::into).unwrap_or_default();
            let row = report(ctx, &file, outcome, Origin::default(), &why.text());
            rows.push(AptRow { row, why });
        },
    )?;
    crate::profile::shims::ensure_shim_binary(l.store.root(), &l.lock).map_err(|e| {
        Error::InstalledButFailed {
            entry: set
                .iter()
                .map(Planned::reference)
                .collect::<Vec<_>>()
                .join(", "),
            what: "updating libexec/berth-shim",
            source: Box::new(e),
        }
    })?;
    if ctx.json {
        output::json(&rows);
    }
    Ok(())
}

fn plural(n: usize) -> String {
    format!("{n} package{}", if n == 1 { "" } else { "s" })
}

fn dry_run(ctx: &Ctx, set: &[Planned]) -> Result<()> {
    let rows: Vec<PlanRow> = set
        .iter()
        .map(|p| PlanRow {
            name: p.record.name.clone(),
            version: p.record.version.clone(),
            arch: p.record.arch.clone(),
            why: WhyRow::of(p),
        })
        .collect();
    if ctx.json {
        output::json(&rows);
        return Ok(());
    }
    println!(
        "would download and install {} through apt (nothing changed):",
        plural(rows.len())
    );
    let w = |f: fn(&PlanRow) -> usize| rows.iter().map(f).max().unwrap_or(0);
    let (wn, wv, wa) = (
        w(|r| r.name.len()),
        w(|r| r.version.len()),
        w(|r| r.arch.len()),
    );
    for r in &rows {
        println!(
            "  {:wn$}  {:wv$}  {:wa$}  {}",
            r.name,
            r.version,
            r.arch,
            r.why.text()
        );
    }
    Ok(())
}

//! `berth update` (fetch and verify indexes) and `berth search` (look in them).

use crate::cli::{output, Ctx};
use crate::error::Result;
use crate::package::printable::printable;
use crate::repo::trust::{self, Outcome, Policy, Repo, Repos};
use crate::repo::{resolve, Paths};
use serde::Serialize;
use std::time::{Duration, SystemTime};

/// `update`.
#[derive(Debug, clap::Args)]
pub struct UpdateArgs {
    /// Repositories [default: all]
    pub names: Vec<String>,
    /// Refuse an index that expires further ahead than this
    #[arg(long, default_value = "90d", value_parser = humantime::parse_duration)]
    pub max_validity: Duration,
}

/// `search`.
#[derive(Debug, clap::Args)]
pub struct SearchArgs {
    /// Word to look for (empty: everything)
    #[arg(default_value = "")]
    pub word: String,
}

#[derive(Serialize)]
struct UpdateRow {
    repository: String,
    status: &'static str,
    serial: Option<u64>,
    packages: usize,
    expires: Option<String>,
    url: Option<String>,
    error: Option<String>,
}

pub fn update(ctx: &Ctx, paths: &Paths, a: UpdateArgs) -> Result<()> {
    let repos = Repos::load(paths)?;
    if repos.repos.is_empty() {
        return Err(crate::repo::Error::NoRepos.into());
    }
    let chosen: Vec<&Repo> = if a.names.is_empty() {
        repos.repos.iter().collect()
    } else {
        a.names
            .iter()
            .map(|n| repos.get(n))
            .collect::<Result<_>>()?
    };
    let fetcher = trust::fetcher(paths)?;
    let policy = Policy {
        max_validity: a.max_validity,
        now: SystemTime::now(),
    };
    let mut rows = Vec::new();
    let mut failures: Vec<(String, crate::Error)> = Vec::new();
    for repo in chosen {
        match trust::update(paths, repo, &fetcher, &policy) {
            Ok((outcome, k)) => rows.push(UpdateRow {
                repository: repo.name.clone(),
                status: if outcome == Outcome::Updated {
                    "updated"
                } else {
                    "unchanged"
                },
                serial: Some(k.index.serial),
                packages: k.index.packages.len(),
                expires: Some(k.index.expires.clone()),
                url: Some(k.state.url.clone()),
                error: None,
            }),
            Err(e) => {
                rows.push(UpdateRow {
                    repository: repo.name.clone(),
                    status: "failed",
                    serial: None,
                    packages: 0,
                    expires: None,
                    url: None,
                    error: Some(e.to_string()),
                });
                failures.push((repo.name.clone(), e));
            }
        }
    }
    if ctx.json {
        output::json(&rows);
    } else if !ctx.quiet {
        for r in rows.iter().filter(|r| r.error.is_none()) {
            println!(
                "{:<9} {} serial {}, {} packages, expires {}",
                r.status,
                r.repository,
                r.serial.unwrap_or(0),
                r.packages,
                r.expires.as_deref().unwrap_or("?")
            );
        }
    }
    failed(failures, rows.len())
}

/// The error of an update where some repositories failed (none when none did): a single
/// repository's own, else one naming each with the most serious one's exit code.
fn failed(mut failures: Vec<(String, crate::Error)>, tried: usize) -> Result<()> {
    if failures.len() == 1 && tried == 1 {
        return Err(failures.remove(0).1);
    }
    if failures.is_empty() {
        return Ok(());
    }
    // Several repositories: name each failure, exit with the most serious one's code.
    let names = failures.iter().map(|(n, _)| n.clone()).collect();
    for (n, e) in &failures {
        eprintln!("error: {n}: {e}");
        if let Some(h) = e.hint() {
            eprintln!("hint: {h}");
        }
    }
    let code = trust::most_serious(failures.into_iter().map(|(_, e)| e).collect()).exit_code();
    Err(crate::repo::Error::UpdateFailed {
        failed: names,
        code,
    }
    .into())
}

pub fn search(ctx: &Ctx, paths: Option<&Paths>, a: SearchArgs) -> Result<()> {
    let Some(paths) = paths else {
        return Err(crate::repo::Error::NoRepos.into());
    };
    let (hits, missing) = resolve::search(paths, &a.word)?;
    for m in &missing {
        eprintln!("warning: repository {m} has no verified index yet (berth update {m})");
    }
    if ctx.json {
        output::json(&hits);
    } else if !ctx.quiet {
        let cells = hits
            .iter()
            .map(|h| {
                // Index text is the publisher's: escape what a terminal would act on.
                vec![
                    printable(&h.name),
                    printable(&h.versions.join(" ")),
                    output::size(h.size),
                    h.kind.to_string(),
                    h.repository.clone(),
                    printable(&h.description),
                ]
            })
            .collect::<Vec<_>>();
        output::table(
            &[
                "NAME",
                "VERSIONS",
                "SIZE",
                "KIND",
                "REPOSITORY",
                "DESCRIPTION",
            ],
            &cells,
        );
    }
    Ok(())
}

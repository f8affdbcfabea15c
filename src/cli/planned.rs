//! `heatkpi planned-works add|list`: the planned-works register (domain.md §6.2) beside the
//! configuration, which classifies interruptions as planned, external or customer-side.

use super::{Failure, load_config};
use crate::config::kpi_availability::{self, WorkEntry, WorkKind};
use clap::{Args, Subcommand};
use std::path::Path;
use std::process::ExitCode;

/// `heatkpi planned-works …`.
#[derive(Debug, Subcommand)]
pub enum PlannedCommand {
    /// Add an entry (checked before it is written).
    Add(Box<AddArgs>),
    /// List the entries, and every bad one with file:line.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `heatkpi planned-works add`.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// Stable id, e.g. `pw-2026-004`.
    #[arg(long)]
    id: String,
    /// Substations concerned (repeat or comma-separate).
    #[arg(long, value_delimiter = ',')]
    substation: Vec<String>,
    /// A branch (`b3` or `net-city/b3`).
    #[arg(long)]
    branch: Option<String>,
    /// A whole network.
    #[arg(long)]
    network: Option<String>,
    /// Start (local time `2026-07-06T06:00` or RFC 3339).
    #[arg(long)]
    start: String,
    /// End (exclusive).
    #[arg(long)]
    end: String,
    /// When customers were told (planned works) or the customer asked (requests).
    #[arg(long)]
    notified_at: Option<String>,
    /// Why.
    #[arg(long, default_value = "")]
    reason: String,
    /// `works`, `external`, `customer_side` or `customer_request`.
    #[arg(long, default_value = "works")]
    kind: String,
}

fn kind(s: &str) -> Result<WorkKind, Failure> {
    Ok(match s {
        "works" => WorkKind::Works,
        "external" => WorkKind::External,
        "customer_side" => WorkKind::CustomerSide,
        "customer_request" => WorkKind::CustomerRequest,
        _ => {
            return Err(Failure::Input(format!(
                "--kind {s}: write works, external, customer_side or customer_request"
            )));
        }
    })
}

pub(super) fn run(config: &Path, cmd: PlannedCommand) -> Result<ExitCode, Failure> {
    let loaded = load_config(config)?;
    let settings = &loaded.settings;
    let path = settings.kpi.availability.register_path();
    let tz = settings.timezone();
    match cmd {
        PlannedCommand::Add(a) => {
            let a = *a;
            let entry = WorkEntry {
                id: a.id,
                substations: a.substation,
                branch: a.branch,
                network: a.network,
                start: a.start,
                end: a.end,
                notified_at: a.notified_at,
                reason: a.reason,
                kind: kind(&a.kind)?,
            };
            match kpi_availability::append_entry(&path, &entry, settings) {
                Ok(w) => {
                    println!(
                        "{}: added {} ({}, {} substations, {} .. {})",
                        path.display(),
                        w.id,
                        w.kind.name(),
                        w.substations.len(),
                        crate::model::time::format_local(tz, w.start),
                        crate::model::time::format_local(tz, w.end)
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(problems) => Err(Failure::Input(
                    problems
                        .iter()
                        .map(|p| p.to_string())
                        .collect::<Vec<_>>()
                        .join("\n"),
                )),
            }
        }
        PlannedCommand::List { json } => {
            let reg = kpi_availability::read_register(&path, settings);
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "file": reg.file, "exists": reg.exists, "works": reg.works,
                        "problems": reg.problems.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
                    }))?
                );
            } else {
                if !reg.exists {
                    println!(
                        "{}: no register yet (`heatkpi planned-works add` creates it)",
                        reg.file
                    );
                }
                for w in &reg.works {
                    let fmt = |t| crate::model::time::format_local(tz, t);
                    println!(
                        "{:<14} {:<16} {} .. {}  notified {}  {}  [{}]",
                        w.id,
                        w.kind.name(),
                        fmt(w.start),
                        fmt(w.end),
                        w.notified_at.map(fmt).unwrap_or_else(|| "—".into()),
                        w.reason,
                        w.substations.join(",")
                    );
                }
                for p in &reg.problems {
                    eprintln!("{p}");
                }
            }
            Ok(if reg.problems.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            })
        }
    }
}

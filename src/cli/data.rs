//! `heatkpi import` and `heatkpi query`.

use super::{Failure, load_config, runtime_rt as runtime};
use crate::import::{Format, LineProblem};
use crate::ingest::line_protocol::Precision;
use crate::ingest::{Ingest, pipeline};
use crate::model::time::{Every, Window, parse_instant};
use crate::query::OutputFormat;
use clap::Args;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `heatkpi import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Files to import (`.csv` is CSV, anything else line protocol).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Force the format instead of guessing from the extension.
    #[arg(long, value_parser = ["csv", "lp"])]
    format: Option<String>,
    /// Timestamp precision of line protocol.
    #[arg(long, default_value = "ns")]
    precision: String,
    /// Print at most this many bad lines (all are counted).
    #[arg(long, default_value_t = 50)]
    max_problems: usize,
}

/// `heatkpi query`.
#[derive(Debug, Args)]
pub struct QueryArgs {
    /// Series key or glob, e.g. `ss-042.supply_temp` or `ss-*.supply_temp`.
    series: String,
    /// Start (RFC 3339, local date `2026-10-01`, local `2026-10-01T06:00`, or epoch ms).
    #[arg(long)]
    from: Option<String>,
    /// End, exclusive (same forms as --from); default now.
    #[arg(long)]
    to: Option<String>,
    /// Aggregate in local-time windows: 15m, 1h, 1d, 1mo.
    #[arg(long)]
    every: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: OutputFormat,
    /// Only list the matching series.
    #[arg(long)]
    list: bool,
}

pub(super) fn import(config: &Path, args: ImportArgs) -> Result<ExitCode, Failure> {
    let loaded = load_config(config)?;
    let tz = loaded.settings.timezone();
    let precision: Precision = args.precision.parse().map_err(Failure::Input)?;
    let store = super::open_store(&loaded)?;
    let ingest = Ingest::new(store, &loaded.settings.ingest);
    let rt = runtime()?;
    let mut any_rejected = false;
    let (handle, pipe) = pipeline::spawn(ingest, &loaded.settings.ingest)?;
    let mut summaries = Vec::new();
    for file in &args.files {
        let format = match args.format.as_deref() {
            Some("csv") => Format::Csv,
            Some(_) => Format::LineProtocol(precision),
            None => match Format::from_path(file) {
                Format::LineProtocol(_) => Format::LineProtocol(precision),
                f => f,
            },
        };
        let f = std::fs::File::open(file)
            .map_err(|e| Failure::Input(format!("{}: cannot open: {e}", file.display())))?;
        let size = f.metadata().map(|m| m.len()).unwrap_or(0);
        let bar = if std::io::stderr().is_terminal() {
            let b = indicatif::ProgressBar::new(size);
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "{msg} [{bar:40}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            b.set_message(file.display().to_string());
            b
        } else {
            indicatif::ProgressBar::hidden()
        };
        let mut shown = 0usize;
        let name = file.display().to_string();
        let started = std::time::Instant::now();
        let summary = rt.block_on(crate::import::import(
            std::io::BufReader::with_capacity(1 << 20, f),
            format,
            tz,
            &handle,
            |p: &LineProblem| {
                if shown < args.max_problems {
                    bar.suspend(|| eprintln!("{name}:{}: {} ({})", p.line, p.message, p.reason));
                } else if shown == args.max_problems {
                    bar.suspend(|| eprintln!("{name}: more bad lines; only counting them now"));
                }
                shown += 1;
            },
            |bytes| bar.set_position(bytes),
        ))?;
        bar.finish_and_clear();
        summaries.push((name, summary, started.elapsed()));
    }
    drop(handle);
    let stats = pipe.shutdown()?;
    for (name, s, took) in &summaries {
        any_rejected |= !s.parse_rejected.is_empty();
        println!(
            "{name}: {} lines, {} readings parsed, {} bad lines ({:.1} s)",
            s.lines,
            s.parsed,
            s.parse_rejected.values().sum::<u64>(),
            took.as_secs_f64()
        );
    }
    let total = crate::import::ImportSummary {
        lines: summaries.iter().map(|s| s.1.lines).sum(),
        parsed: summaries.iter().map(|s| s.1.parsed).sum(),
        parse_rejected: summaries.iter().fold(Default::default(), |mut acc, s| {
            for (k, v) in &s.1.parse_rejected {
                *acc.entry(*k).or_default() += v;
            }
            acc
        }),
        ingest: stats,
    };
    any_rejected |= total.rejected_total() > 0;
    println!("total: {}", total.render());
    Ok(if any_rejected {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

pub(super) fn query(config: &Path, args: QueryArgs) -> Result<ExitCode, Failure> {
    let loaded = load_config(config)?;
    let tz = loaded.settings.timezone();
    let store = super::open_store(&loaded)?;
    if args.list {
        for s in store.list_series(&args.series)? {
            println!("{s}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let now = chrono::Utc::now().timestamp_millis();
    let to = match &args.to {
        Some(t) => parse_instant(tz, t).map_err(|e| Failure::Input(format!("--to: {e}")))?,
        None => now,
    };
    let from = match &args.from {
        Some(t) => parse_instant(tz, t).map_err(|e| Failure::Input(format!("--from: {e}")))?,
        None => to - 24 * 3_600_000,
    };
    if from >= to {
        return Err(Failure::Input("--from must be before --to".into()));
    }
    let every = match &args.every {
        Some(e) => Some(
            e.parse::<Every>()
                .map_err(|e| Failure::Input(e.to_string()))?,
        ),
        None => None,
    };
    let result = crate::query::run(&*store, tz, &args.series, Window::new(from, to), every)
        .map_err(|e| match e {
            crate::query::QueryError::NoSeries(_) => Failure::Input(e.to_string()),
            e => Failure::Runtime(e.to_string()),
        })?;
    print!("{}", crate::query::render(&result, args.format, tz));
    Ok(ExitCode::SUCCESS)
}

//! `heatkpi evaluate --period …` and `heatkpi events`, and the live evaluation that `run` and
//! `demo` start.

use super::{Failure, load_config, open_store};
use crate::config::Loaded;
use crate::kpi::{Engine, KpiResult, Status};
use crate::store::{EventFilter, Store};
use clap::Args;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

/// `heatkpi evaluate`.
#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// Period: `2026-10` (month), `2026-10-25` (day), `2026` (year), `2026/27` (heating season).
    #[arg(long)]
    period: String,
    /// Only this asset.
    #[arg(long)]
    asset: Option<String>,
    /// Print a JSON array instead of the table (schema in the README).
    #[arg(long)]
    json: bool,
    /// Also store the results (a new revision of each) and their events.
    #[arg(long)]
    store: bool,
}

/// `heatkpi events`.
#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Only open events.
    #[arg(long)]
    open: bool,
    /// Only this kind (e.g. `emission_exceedance`, `device_unreachable`, `counter_reset`).
    #[arg(long)]
    kind: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub(super) fn evaluate(config: &Path, a: EvaluateArgs) -> Result<ExitCode, Failure> {
    let loaded = load_config(config)?;
    let store = open_store(&loaded)?;
    let settings = &loaded.settings;
    let calendar = crate::kpi::engine::calendar_for(settings)?;
    let period = calendar
        .parse(&a.period)
        .map_err(|e| Failure::Input(format!("--period {}: {e}", a.period)))?;
    let engine = standards_engine(&loaded)?;
    let now = chrono::Utc::now().timestamp_millis();
    let results = if a.store {
        engine
            .evaluate_and_store(settings, &*store, &period, a.asset.as_deref(), now)?
            .results
    } else {
        engine
            .evaluate(settings, &*store, &period, a.asset.as_deref(), now)?
            .results
    };
    let tz = settings.timezone();
    if a.json {
        let v = crate::kpi::record::to_json(&results, tz);
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print!("{}", crate::kpi::render::render_table(&results, tz));
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) fn events(config: &Path, a: EventsArgs) -> Result<ExitCode, Failure> {
    let loaded = load_config(config)?;
    let store = open_store(&loaded)?;
    let tz = loaded.settings.timezone();
    let mut list = store.events(&EventFilter {
        kind: a.kind,
        open_only: a.open,
        ..Default::default()
    })?;
    // A withdrawn event (not found again when its period was recomputed) is history, not open.
    let withdrawn =
        |e: &crate::store::EventRecord| e.body.get("withdrawn").is_some_and(|w| !w.is_null());
    if a.open {
        list.retain(|e| !withdrawn(e));
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(ExitCode::SUCCESS);
    }
    if list.is_empty() {
        println!("no events");
    }
    for e in &list {
        let end = e
            .end
            .map(|t| crate::model::time::format_local(tz, t))
            .unwrap_or_else(|| "open".into());
        let why = e
            .body
            .get("explanation")
            .or_else(|| e.body.get("message"))
            .and_then(|v| v.as_str())
            .unwrap_or("");
        println!(
            "{:<22} {:<28} {} .. {}  {}{}",
            e.kind,
            e.subject,
            crate::model::time::format_local(tz, e.start),
            end,
            why,
            if withdrawn(e) { " (withdrawn)" } else { "" }
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The engine with every standard, with the register moduli of the Modbus templates so counter
/// overflows are read as overflows, not resets.
fn standards_engine(loaded: &Loaded) -> Result<Engine, crate::kpi::EngineError> {
    let moduli = crate::kpi::engine::template_moduli(&loaded.settings, &loaded.templates);
    Ok(Engine::standards(&loaded.settings)?.with_register_moduli(moduli))
}

/// Start the live KPI loop: the current hour, day and month to date of availability every
/// `kpi.availability.live_every_s` and of the other standards every `kpi.live.every_s`, plus
/// closed periods and their recomputation when late data arrives. Returns the task; abort it to
/// stop.
pub(crate) fn spawn_live(loaded: &Loaded, store: Arc<dyn Store>) -> tokio::task::JoinHandle<()> {
    let settings = Arc::new(loaded.settings.clone());
    let moduli = crate::kpi::engine::template_moduli(&loaded.settings, &loaded.templates);
    let live = crate::kpi::LiveLoop::standards(&loaded.settings, &moduli);
    tokio::spawn(async move {
        let live = match live {
            Ok(l) => l,
            Err(e) => {
                tracing::error!("live evaluation not started: {e}");
                return;
            }
        };
        let (_keep, rx) = tokio::sync::watch::channel(false);
        if let Err(e) = crate::kpi::run_live(live, settings, store, rx).await {
            tracing::error!("live evaluation stopped: {e}");
        }
    })
}

/// Open interruptions, one line: substation, class, since when.
fn open_interruptions(loaded: &Loaded, store: &dyn Store) -> String {
    let tz = loaded.settings.timezone();
    match store.events(&EventFilter {
        kind: Some("interruption".into()),
        open_only: true,
        ..Default::default()
    }) {
        Ok(list) if list.is_empty() => "interruptions: none open".into(),
        Ok(list) => {
            let parts: Vec<String> = list
                .iter()
                .map(|e| {
                    format!(
                        "{} {} {} since {}",
                        e.subject,
                        e.body.get("stage").and_then(|v| v.as_str()).unwrap_or(""),
                        e.body.get("class").and_then(|v| v.as_str()).unwrap_or(""),
                        crate::model::time::format_local(tz, e.start)
                    )
                })
                .collect();
            format!("interruptions open ({}): {}", list.len(), parts.join("; "))
        }
        Err(e) => format!("interruptions: {e}"),
    }
}

/// One line per live plant KPI (month to date): value, status.
pub(crate) fn live_summary(loaded: &Loaded, store: &dyn Store) -> String {
    let results: Vec<KpiResult> = match crate::kpi::live_snapshot(store) {
        Ok(Some(r)) => r,
        Ok(None) => {
            return format!(
                "kpi: no live results yet\n{}",
                open_interruptions(loaded, store)
            );
        }
        Err(e) => return format!("kpi: {e}"),
    };
    let mut month: Vec<&KpiResult> = results
        .iter()
        .filter(|r| r.period.kind == crate::kpi::PeriodKind::Month)
        .collect();
    if month.is_empty() {
        month = results.iter().collect();
    }
    // Network and substation KPIs go into their own compact line, not the list.
    let (network, plant): (Vec<&KpiResult>, Vec<&KpiResult>) =
        month.into_iter().partition(|r| is_network_kpi(&r.kpi));
    let mut parts = Vec::new();
    for r in plant.iter().take(12) {
        let v = r
            .value
            .map(|v| format!("{v:.1}"))
            .unwrap_or_else(|| "—".into());
        parts.push(format!(
            "{} {} {v}{} [{}]",
            r.kpi,
            r.asset,
            r.unit,
            status_word(r.status)
        ));
    }
    let more = plant.len().saturating_sub(12);
    let mut line = format!("kpi (month to date): {}", parts.join("; "));
    if more > 0 {
        line.push_str(&format!("; +{more} more (heatkpi evaluate)"));
    }
    if let Some(net) = network_summary(&network) {
        line.push('\n');
        line.push_str(&net);
    }
    line.push('\n');
    line.push_str(&open_interruptions(loaded, store));
    line
}

/// KPIs of the network-side standards (losses, rational use).
fn is_network_kpi(kpi: &str) -> bool {
    kpi.contains("transmission_loss")
        || kpi.starts_with("makeup_")
        || [
            "cooling_delta_t",
            "return_temperature",
            "return_temperature_excess",
            "normalised_consumption",
            "specific_consumption",
            "capacity_utilisation",
            "heating_degree_days",
        ]
        .contains(&kpi)
}

/// The network KPIs of the month to date in one line: each network's loss % with its band,
/// and the three substations cooling worst against their reference.
fn network_summary(month: &[&KpiResult]) -> Option<String> {
    let mut parts = Vec::new();
    for r in month.iter().filter(|r| r.kpi == "transmission_loss") {
        let v = r.value.map_or_else(|| "—".into(), |v| format!("{v:.1} %"));
        let band = r
            .uncertainty
            .zip(r.value)
            .map(|((lo, _), v)| format!(" ±{:.1}", v - lo))
            .unwrap_or_default();
        parts.push(format!(
            "loss {} {v}{band} [{}]",
            r.asset,
            status_word(r.status)
        ));
    }
    let mut cooling: Vec<(&KpiResult, f64)> = month
        .iter()
        .filter(|r| r.kpi == "cooling_delta_t")
        .filter_map(|r| {
            let v = r.value?;
            let reference = r.details.get("reference_k")?.as_f64()?;
            (reference > 0.0).then_some((*r, v / reference))
        })
        .collect();
    cooling.sort_by(|a, b| a.1.total_cmp(&b.1));
    if !cooling.is_empty() {
        let worst: Vec<String> = cooling
            .iter()
            .take(3)
            .map(|(r, share)| {
                format!(
                    "{} {:.1} K ({:.0} % of ref, {})",
                    r.asset,
                    r.value.unwrap_or(f64::NAN),
                    share * 100.0,
                    status_word(r.status)
                )
            })
            .collect();
        parts.push(format!("worst cooling: {}", worst.join(", ")));
    }
    (!parts.is_empty()).then(|| format!("network (month to date): {}", parts.join("; ")))
}

fn status_word(s: Status) -> &'static str {
    s.name()
}

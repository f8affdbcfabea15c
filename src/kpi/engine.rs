//! The evaluation engine: runs evaluators over a period, stores results as revisions and events
//! by stable id, evaluates live periods on a schedule (their results form a live snapshot that
//! each tick replaces; a period is stored as a revision when it closes), and recomputes closed
//! periods when late data arrives (design.md §4, domain.md §0.2).
//!
//! Evaluators plug in through [`Evaluator`]: the plant-side standards (efficiency, emissions)
//! are here; the network-side ones (losses, rational use, availability) are more evaluators
//! added with [`Engine::with`]. The engine itself knows nothing about any standard.
//!
//! The live loop, closing periods and late-data recomputation are in `live`.

use super::inputs::Inputs;
use super::period::{Calendar, Period, SeasonDates};
use super::result::{AppliedThreshold, Irregularity, KpiResult};
use super::threshold::{self, Subject};
use crate::config::Settings;
use crate::model::TimestampMs;
use crate::model::asset::Threshold;
use crate::model::time::Window;
use crate::store::{EventFilter, EventRecord, Store, StoreError};
use std::collections::BTreeMap;

/// The method identifier recorded with every result (domain.md §0.2: every report carries a
/// method version).
pub const METHOD: &str = concat!("heatkpi ", env!("CARGO_PKG_VERSION"), " evaluator 1");

/// Why an evaluation failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The configuration cannot be evaluated.
    #[error("configuration: {0}")]
    Config(String),
    /// A background task failed.
    #[error("evaluation task: {0}")]
    Task(String),
    /// The asset filter names no configured asset.
    #[error("no asset `{id}` in the configuration; configured assets: {known}")]
    UnknownAsset {
        /// The id asked for.
        id: String,
        /// The configured ids, comma-separated.
        known: String,
    },
}

/// Every configured asset id (sources, units, stacks, networks, substations, weather
/// stations, meters), sorted.
pub fn asset_ids(settings: &Settings) -> Vec<String> {
    let s = settings;
    let mut ids: Vec<String> = s
        .sources
        .iter()
        .map(|x| x.id.clone())
        .chain(s.units.iter().map(|x| x.id.clone()))
        .chain(s.stacks.iter().map(|x| x.id.clone()))
        .chain(s.networks.iter().map(|x| x.id.clone()))
        .chain(s.substations.iter().map(|x| x.id.clone()))
        .chain(s.weather.iter().map(|x| x.id.clone()))
        .chain(s.meters.iter().map(|x| x.id.clone()))
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

/// What an evaluator produced for one period.
#[derive(Debug, Clone, Default)]
pub struct Evaluation {
    /// KPI results.
    pub results: Vec<KpiResult>,
    /// Events (exceedances, hot-standby runs) with stable ids.
    pub events: Vec<EventRecord>,
    /// The (event kind, subject, window) scopes fully recomputed: a stored event of that kind
    /// and subject inside the window that was not produced again is withdrawn.
    pub event_scopes: Vec<(String, String, Window)>,
}

impl Evaluation {
    /// Append another evaluation.
    pub fn extend(&mut self, other: Evaluation) {
        self.results.extend(other.results);
        self.events.extend(other.events);
        self.event_scopes.extend(other.event_scopes);
    }
}

/// Everything an evaluator reads.
pub struct EvalContext<'a> {
    /// The configuration.
    pub settings: &'a Settings,
    /// The store (through `inputs` for samples; directly for stored events).
    pub store: &'a dyn Store,
    /// Inputs read through the store.
    pub inputs: Inputs<'a>,
    /// The period calculator.
    pub calendar: Calendar,
    /// The as-of time of this evaluation.
    pub as_of: TimestampMs,
    /// Only this asset (or the assets of this source).
    pub asset: Option<&'a str>,
    /// Built-in thresholds (empty when `kpi.builtin_thresholds = false`).
    pub builtin: &'a [Threshold],
}

impl EvalContext<'_> {
    /// Whether the asset filter lets `asset` (belonging to `source`) through.
    pub fn wants(&self, asset: &str, source: Option<&str>) -> bool {
        self.asset
            .is_none_or(|f| f == asset || source.is_some_and(|s| s == f))
    }

    /// The threshold for a KPI over `period`, with irregularities about its selection.
    pub fn threshold(
        &self,
        kpi: &str,
        asset: &str,
        classes: &[String],
        unit: &str,
        period: &Period,
    ) -> (Option<AppliedThreshold>, Vec<Irregularity>) {
        let first = self.calendar.date_of(period.start());
        let last = self.calendar.date_of(period.end() - 1);
        threshold::select_for_period(
            &self.settings.thresholds,
            self.builtin,
            &Subject {
                kpi,
                asset,
                classes,
                unit,
            },
            period.kind,
            first,
            last,
        )
    }

    /// The stored event of `kind` and `subject` that covers the instant just before `at`: a run
    /// that began before the evaluated span and continues into it keeps that event's id and
    /// start (events keep one id across period boundaries, design.md §3).
    pub fn event_covering(
        &self,
        kind: &str,
        subject: &str,
        at: TimestampMs,
    ) -> Result<Option<EventRecord>, StoreError> {
        Ok(self
            .store
            .events(&EventFilter {
                kind: Some(kind.into()),
                subject: Some(subject.into()),
                overlapping: Some(Window::new(at - 1, at)),
                open_only: false,
            })?
            .into_iter()
            .find(|e| {
                e.start < at
                    && e.end.is_none_or(|end| end >= at)
                    && !super::revision::is_withdrawn(e)
            }))
    }

    /// An event for a run of hours found over `span` (the evaluated window plus a look-back):
    /// id `<kind>:<id_subject>:<start as RFC 3339 UTC>`. A run that starts at the beginning of
    /// `span` may have begun earlier: if a stored event covers that instant, its id and start
    /// are kept. `open_at_end` marks a run cut by the end of the evaluated window, so a stored
    /// revision of the same run with a later end (from a later period) is not shortened.
    #[allow(clippy::too_many_arguments)]
    pub fn run_event(
        &self,
        kind: &str,
        subject: &str,
        id_subject: &str,
        run: Window,
        span: Window,
        evaluated_end: TimestampMs,
        mut body: serde_json::Value,
    ) -> Result<EventRecord, StoreError> {
        let mut id = event_id(kind, id_subject, run.start);
        let mut start = run.start;
        if run.start == span.start
            && let Some(prev) = self.event_covering(kind, subject, run.start)?
        {
            id = prev.id;
            start = prev.start;
            if let (Some(b), Some(peak)) = (
                body.as_object_mut(),
                prev.body.get("peak").and_then(|p| p.as_f64()),
            ) && let Some(now_peak) = b.get("peak").and_then(|p| p.as_f64())
            {
                b.insert("peak".into(), serde_json::json!(now_peak.max(peak)));
            }
        }
        if let Some(b) = body.as_object_mut() {
            b.insert(
                "hours".into(),
                serde_json::json!((run.end - start) as f64 / 3_600_000.0),
            );
            b.insert(
                "open_at_end".into(),
                serde_json::json!(run.end >= evaluated_end),
            );
        }
        Ok(EventRecord {
            id,
            kind: kind.into(),
            subject: subject.into(),
            start,
            end: Some(run.end),
            body,
        })
    }
}

/// A stable event id: `<kind>:<subject>:<start as RFC 3339 UTC, seconds>`, e.g.
/// `emission_exceedance:em-1:nox:2026-10-25T01:00:00Z`.
pub fn event_id(kind: &str, subject: &str, start: TimestampMs) -> String {
    format!(
        "{kind}:{subject}:{}",
        crate::model::time::utc(start).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    )
}

/// Hours of look-back before a period so that runs (exceedances, hot standby) crossing its
/// start are found with their real start.
pub const RUN_LOOKBACK_MS: i64 = 48 * 3_600_000;

/// A standard (or a group of KPIs) evaluated over a period.
pub trait Evaluator: Send + Sync {
    /// A short name for logs (`efficiency`, `emissions`).
    fn name(&self) -> &'static str;
    /// Evaluate every asset the context lets through over `period`.
    fn evaluate(&self, ctx: &EvalContext<'_>, period: &Period) -> Result<Evaluation, EngineError>;
}

/// The calendar of the configuration: its time zone and heating season.
pub fn calendar_for(settings: &Settings) -> Result<Calendar, EngineError> {
    let tz: chrono_tz::Tz = settings.site.timezone.parse().map_err(|_| {
        EngineError::Config(format!(
            "site.timezone `{}` is not an IANA time zone (e.g. Europe/Warsaw)",
            settings.site.timezone
        ))
    })?;
    let s = &settings.kpi.heating_season;
    Ok(Calendar::new(
        tz,
        SeasonDates {
            start: (s.start_month, s.start_day),
            last: (s.end_month, s.end_day),
        },
    ))
}

/// The register moduli of the counter series the Modbus devices feed, in the canonical unit of
/// each quantity: the point's `modulus` (raw register range) × its `scale`, converted from its
/// declared unit — the same value the agent hands to ingest. Keyed by series key.
pub fn template_moduli(
    settings: &Settings,
    templates: &BTreeMap<String, crate::config::modbus::Template>,
) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for d in &settings.modbus.devices {
        if let Some(t) = templates.get(&d.template) {
            out.extend(counter_moduli(&d.asset, t));
        }
    }
    out
}

/// The register moduli of the counter points of template `t` read for `asset`, keyed by series
/// key, in the canonical unit of each quantity (see [`template_moduli`]).
pub fn counter_moduli(
    asset: &str,
    t: &crate::config::modbus::Template,
) -> impl Iterator<Item = (String, f64)> {
    t.points.iter().filter_map(move |p| {
        if p.quantity.kind() != crate::model::Kind::Counter {
            return None;
        }
        let m = p.modulus.filter(|m| *m > 0.0)? * p.scale.abs();
        let c = crate::model::quantity::convert(p.quantity, p.unit, m).ok()?;
        Some((format!("{asset}.{}", p.quantity.name()), c))
    })
}

/// The programme standard (domain.md §2–§6) an evaluator's results concern, by evaluator name:
/// `efficient_production`, `emission_limits`, `transmission_losses`, `rational_use`,
/// `supply_availability`. Every result of `evaluate` carries it as `details.standard`.
pub fn programme_standard(evaluator: &str) -> Option<&'static str> {
    Some(match evaluator {
        "efficiency" => "efficient_production",
        "emissions" => "emission_limits",
        "losses" => "transmission_losses",
        "usage" => "rational_use",
        "availability" => "supply_availability",
        _ => return None,
    })
}

/// The evaluators of the five standards, in report order: efficient production, emission
/// limits, transmission losses, rational use, full availability of supply.
pub fn standard_evaluators() -> Vec<Box<dyn Evaluator>> {
    vec![
        Box::new(super::efficiency_eval::EfficiencyEvaluator),
        Box::new(super::emissions_eval::EmissionsEvaluator),
        Box::new(super::losses_eval::LossesEvaluator),
        Box::new(super::usage_eval::UsageEvaluator),
        Box::new(super::availability_eval::AvailabilityEvaluator),
    ]
}

/// Runs evaluators and stores what they produce.
pub struct Engine {
    evaluators: Vec<Box<dyn Evaluator>>,
    calendar: Calendar,
    builtin: Vec<Threshold>,
    moduli: BTreeMap<String, f64>,
}

impl Engine {
    /// An engine with the plant-side standards (efficient production, emission limits).
    pub fn plant(settings: &Settings) -> Result<Engine, EngineError> {
        Ok(Engine::empty(settings)?
            .with(super::efficiency_eval::EfficiencyEvaluator)
            .with(super::emissions_eval::EmissionsEvaluator))
    }

    /// An engine with every standard: the plant side and the network side (transmission
    /// losses, rational use of delivered heat, full availability of supply).
    pub fn standards(settings: &Settings) -> Result<Engine, EngineError> {
        let mut engine = Engine::empty(settings)?;
        engine.evaluators = standard_evaluators();
        Ok(engine)
    }

    /// An engine without evaluators (add them with [`Engine::with`]).
    pub fn empty(settings: &Settings) -> Result<Engine, EngineError> {
        if let Some(p) = settings.kpi.problems().first() {
            return Err(EngineError::Config(p.to_string()));
        }
        Ok(Engine {
            evaluators: Vec::new(),
            moduli: BTreeMap::new(),
            calendar: calendar_for(settings)?,
            builtin: if settings.kpi.builtin_thresholds {
                threshold::builtin_thresholds()
            } else {
                Vec::new()
            },
        })
    }

    /// Add an evaluator.
    pub fn with(mut self, e: impl Evaluator + 'static) -> Self {
        self.evaluators.push(Box::new(e));
        self
    }

    /// Use these register moduli (e.g. from [`template_moduli`]); `[kpi] register_moduli`
    /// entries of the settings take precedence over them.
    pub fn with_register_moduli(mut self, moduli: BTreeMap<String, f64>) -> Self {
        self.moduli = moduli;
        self
    }

    /// The period calculator (parse `--period` with it).
    pub fn calendar(&self) -> Calendar {
        self.calendar
    }

    /// Evaluate `period` for every asset (or only `asset`) without storing anything.
    pub fn evaluate(
        &self,
        settings: &Settings,
        store: &dyn Store,
        period: &Period,
        asset: Option<&str>,
        as_of: TimestampMs,
    ) -> Result<Evaluation, EngineError> {
        if let Some(id) = asset {
            let ids = asset_ids(settings);
            if !ids.iter().any(|k| k == id) {
                return Err(EngineError::UnknownAsset {
                    id: id.to_string(),
                    known: ids.join(", "),
                });
            }
        }
        let mut moduli = self.moduli.clone();
        moduli.extend(settings.kpi.register_moduli.clone());
        let ctx = EvalContext {
            settings,
            store,
            inputs: Inputs::new(
                store,
                self.calendar,
                &moduli,
                settings.kpi.boundary_search_minutes,
            ),
            calendar: self.calendar,
            as_of,
            asset,
            builtin: &self.builtin,
        };
        // The standards are independent of each other: each runs on its own thread (the
        // store hands every thread its own read connection), and their outputs are joined in
        // the order the evaluators were added, so the result does not depend on timing.
        let ctx = &ctx;
        let outputs: Vec<Result<Evaluation, EngineError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = self
                .evaluators
                .iter()
                .map(|e| {
                    scope.spawn(move || {
                        let t = std::time::Instant::now();
                        let ev = e.evaluate(ctx, period)?;
                        tracing::debug!(
                            evaluator = e.name(),
                            period = %period.label,
                            results = ev.results.len(),
                            events = ev.events.len(),
                            ms = t.elapsed().as_millis() as u64,
                            "evaluated"
                        );
                        Ok(ev)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        });
        let mut out = Evaluation::default();
        for (e, ev) in self.evaluators.iter().zip(outputs) {
            let mut ev = ev?;
            if let Some(standard) = programme_standard(e.name()) {
                for r in &mut ev.results {
                    r.detail("standard", standard);
                }
            }
            out.extend(ev);
        }
        for r in &mut out.results {
            r.as_of = as_of;
            r.detail("method", METHOD);
        }
        Ok(out)
    }

    /// Evaluate `period` and store the results (each a new revision, with a recalculation note
    /// when an earlier revision exists) and the events (replaced by id; events of a recomputed
    /// scope that were not produced again are kept, marked withdrawn).
    pub fn evaluate_and_store(
        &self,
        settings: &Settings,
        store: &dyn Store,
        period: &Period,
        asset: Option<&str>,
        as_of: TimestampMs,
    ) -> Result<Evaluation, EngineError> {
        let mut ev = self.evaluate(settings, store, period, asset, as_of)?;
        super::revision::note_recalculations(store, &mut ev.results)?;
        let records: Vec<_> = ev.results.iter().map(super::record::to_record).collect();
        store.put_results(&records)?;
        let events = super::revision::merge_events(store, &ev)?;
        store.put_events(&events)?;
        Ok(ev)
    }
}

/// Evaluate every standard over `period`, without storing anything. `as_of` is the current
/// time.
pub fn evaluate(
    settings: &Settings,
    store: &dyn Store,
    period: &Period,
    asset: Option<&str>,
) -> Result<Vec<KpiResult>, EngineError> {
    let engine = Engine::standards(settings)?;
    let now = chrono::Utc::now().timestamp_millis();
    Ok(engine
        .evaluate(settings, store, period, asset, now)?
        .results)
}

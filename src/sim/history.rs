//! Months of history, fast: the simulation stepped as quickly as the CPU allows, every device's
//! points written through the ingest path in large batches, and the ground truth beside them.

use super::SimError;
use super::engine::{SimSetup, Simulation};
use super::recorder::Recorder;
use super::sink::{Batch, ReadingSink};
use super::truth::Truth;
use crate::config::Settings;
use crate::config::modbus::Template;
use crate::model::time::{self, Window};
use crate::model::{Quality, SeriesKey, TimestampMs, Unit};
use chrono_tz::Tz;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

/// What history to write.
#[derive(Debug, Clone)]
pub struct HistoryOptions {
    /// First local month, `(year, month)`.
    pub from_month: (i32, u32),
    /// Number of months.
    pub months: u32,
    /// Stop after this many local days (quick looks and tests); the truth then covers the
    /// partial month.
    pub days: Option<u32>,
    /// Generate this many substations instead of the configured ones (benchmarks).
    pub substations: Option<usize>,
    /// Seed; defaults to `[simulator] seed`.
    pub seed: Option<u64>,
    /// Sample step, s; defaults to `[simulator] step_s`.
    pub step_s: Option<u32>,
    /// Where to write the ground truth as JSON.
    pub truth_path: Option<PathBuf>,
    /// Readings per `push`.
    pub batch_size: usize,
    /// Register maps; defaults to the built-in `dh-sim-*` templates.
    pub templates: Option<BTreeMap<String, Template>>,
}

impl HistoryOptions {
    /// One month from `year`-`month` with the configured seed, step and substations.
    pub fn month(year: i32, month: u32) -> Self {
        HistoryOptions {
            from_month: (year, month),
            months: 1,
            days: None,
            substations: None,
            seed: None,
            step_s: None,
            truth_path: None,
            batch_size: 50_000,
            templates: None,
        }
    }
}

/// What a history run did.
#[derive(Debug, Clone)]
pub struct HistoryReport {
    /// Readings written.
    pub readings: u64,
    /// Series written.
    pub series: usize,
    /// Devices simulated.
    pub devices: usize,
    /// Substations simulated.
    pub substations: usize,
    /// Steps simulated (excluding the pre-roll).
    pub steps: u64,
    /// First instant, UTC ms.
    pub from_ms: TimestampMs,
    /// End (exclusive), UTC ms.
    pub to_ms: TimestampMs,
    /// Readings written without a value (NaN, quality bad): sentinels, and every point of a
    /// device that did not answer, exactly as the Modbus agent hands them to ingest (which
    /// counts and rejects them).
    pub no_value: u64,
    /// Wall time, s.
    pub wall_s: f64,
    /// Of which spent in the sink, s.
    pub sink_s: f64,
    /// The ground truth.
    pub truth: Truth,
}

impl HistoryReport {
    /// Readings per wall second, sink included.
    pub fn readings_per_s(&self) -> f64 {
        self.readings as f64 / self.wall_s.max(1e-9)
    }
    /// Readings per second of generation alone (sink time excluded).
    pub fn generated_per_s(&self) -> f64 {
        self.readings as f64 / (self.wall_s - self.sink_s).max(1e-9)
    }
}

fn range_of(tz: Tz, (year, month): (i32, u32), months: u32) -> Result<Window, SimError> {
    let bad = || SimError::Config(format!("history month {year}-{month:02} is not a month"));
    let first = time::month(tz, year, month).ok_or_else(bad)?;
    let total = (month - 1) + months.max(1) - 1;
    let last = time::month(tz, year + (total / 12) as i32, total % 12 + 1).ok_or_else(bad)?;
    Ok(Window::new(first.start, last.end))
}

/// Write `opts.months` months of history of the utility in `settings` into `sink`, and the
/// ground truth to `opts.truth_path`.
pub fn history(
    settings: &Settings,
    sink: &mut dyn ReadingSink,
    opts: &HistoryOptions,
) -> Result<HistoryReport, SimError> {
    let wall = Instant::now();
    let cfg = settings.simulator.clone().unwrap_or_default();
    let tz: Tz = settings.site.timezone.parse().map_err(|_| {
        SimError::Config(format!(
            "site.timezone `{}` is not an IANA time zone",
            settings.site.timezone
        ))
    })?;
    let mut range = range_of(tz, opts.from_month, opts.months)?;
    if let Some(days) = opts.days {
        let first = time::local_date(tz, range.start);
        let end = time::local_midnight(tz, first + chrono::Duration::days(i64::from(days.max(1))));
        range.end = range.end.min(end);
    }
    let builtin;
    let templates = match &opts.templates {
        Some(t) => t,
        None => {
            builtin = super::templates::builtin()?;
            &builtin
        }
    };
    let seed = opts.seed.unwrap_or(cfg.seed);
    let step_s = opts.step_s.unwrap_or(cfg.step_s);
    let setup = SimSetup {
        seed,
        step_s,
        start_ms: range.start,
        substations: opts.substations,
        synthesize: true,
        amr_meters: false,
        months: opts.months.max(1),
    };
    let mut sim = Simulation::new(settings, templates, &setup)?;
    let mut series = 0usize;
    for d in &sim.devices {
        for p in d.points.iter().filter(|p| p.supported) {
            series += 1;
            sink.set_rules(&p.series, p.rules());
        }
    }
    let mut rec = Recorder::new(&sim, range, seed, step_s);
    // A whole number of steps per batch: each slot then always holds the same series.
    let steps_per_batch = opts.batch_size.div_ceil(series.max(1)).max(1);
    let mut batch = Batch::new(steps_per_batch * series.max(1));
    let mut out = Out {
        readings: 0,
        no_value: 0,
        sink_s: 0.0,
    };
    let steps = ((range.end - range.start) / sim.step_ms) as u64;
    rec.observe(&sim);
    emit(&mut sim, &mut batch, sink, &mut out)?;
    for k in 1..=steps {
        sim.advance();
        rec.stepped(&sim);
        if k < steps {
            rec.observe(&sim);
            emit(&mut sim, &mut batch, sink, &mut out)?;
        }
    }
    let t = Instant::now();
    if !batch.is_empty() {
        sink.push(batch.readings())
            .map_err(|e| SimError::Sink(e.to_string()))?;
    }
    sink.flush().map_err(|e| SimError::Sink(e.to_string()))?;
    out.sink_s += t.elapsed().as_secs_f64();
    let truth = rec.finish(&sim);
    if let Some(path) = &opts.truth_path {
        write_truth(path, &truth)?;
    }
    Ok(HistoryReport {
        readings: out.readings,
        series,
        devices: sim.devices.len(),
        substations: sim.utility.substations.len(),
        steps,
        from_ms: range.start,
        to_ms: range.end,
        no_value: out.no_value,
        wall_s: wall.elapsed().as_secs_f64(),
        sink_s: out.sink_s,
        truth,
    })
}

struct Out {
    readings: u64,
    no_value: u64,
    sink_s: f64,
}

/// One reading: series, time, value, unit, quality.
type Row<'a> = (usize, &'a SeriesKey, TimestampMs, f64, Unit, Quality);

impl Out {
    fn push(
        &mut self,
        batch: &mut Batch,
        sink: &mut dyn ReadingSink,
        (id, series, ts, value, unit, quality): Row<'_>,
    ) -> Result<(), SimError> {
        batch.push(id, series, ts, value, unit, quality);
        self.readings += 1;
        if !value.is_finite() {
            self.no_value += 1;
        }
        if batch.is_full() {
            let t = Instant::now();
            sink.push(batch.readings())
                .map_err(|e| SimError::Sink(e.to_string()))?;
            self.sink_s += t.elapsed().as_secs_f64();
            batch.clear();
        }
        Ok(())
    }
}

/// Write what every answering device shows at `sim.ts`.
fn emit(
    sim: &mut Simulation,
    batch: &mut Batch,
    sink: &mut dyn ReadingSink,
    out: &mut Out,
) -> Result<(), SimError> {
    let ts = sim.ts;
    let mut id = 0usize;
    for d in &mut sim.devices {
        // A device that does not answer gives bad readings without a value, as the agent
        // reports a failed request.
        let answering = d.answering();
        if answering {
            d.observe_emitted();
        }
        for p in d.points.iter().filter(|p| p.supported) {
            let (value, quality) = match (answering, p.sentinel) {
                (false, _) => (f64::NAN, Quality::Bad),
                (true, true) => (f64::NAN, p.quality),
                (true, false) => (p.value, p.quality),
            };
            out.push(batch, sink, (id, &p.series, ts, value, p.def.unit, quality))?;
            id += 1;
        }
    }
    Ok(())
}

/// Write the ground truth as pretty JSON.
pub fn write_truth(path: &std::path::Path, truth: &Truth) -> Result<(), SimError> {
    let io = |source| SimError::Truth {
        path: path.display().to_string(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let json = serde_json::to_vec_pretty(truth).map_err(|e| io(std::io::Error::other(e)))?;
    std::fs::write(path, json).map_err(io)
}

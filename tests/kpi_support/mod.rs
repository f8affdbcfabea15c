//! Helpers shared by the end-to-end evaluator tests: the simulated utility's plant-side history
//! (units, source outlet meters, stacks — what the plant evaluators read) written through the
//! ingest path into a store, and the plant engine as the CLI builds it.
#![allow(dead_code)]

use heatkpi::config::{IngestConfig, Settings};
use heatkpi::ingest::Ingest;
use heatkpi::kpi::Engine;
use heatkpi::kpi::engine::template_moduli;
use heatkpi::model::SeriesKey;
use heatkpi::sim::{HistoryOptions, HistoryReport, Reading, ReadingSink, SeriesRules, SinkError};
use heatkpi::store::Store;
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

/// The assets the plant-side evaluators read: units, the sources' outlet meters and stacks.
pub fn plant_assets(settings: &Settings) -> BTreeSet<String> {
    settings
        .units
        .iter()
        .map(|u| u.id.clone())
        .chain(
            settings
                .sources
                .iter()
                .flat_map(|s| s.outlet_meters.iter().cloned()),
        )
        .chain(settings.stacks.iter().map(|s| s.id.clone()))
        .collect()
}

/// Passes on only the readings of `keep`'s assets (the substations, weather stations and the
/// make-up meter are simulated — the plant follows their demand — but not stored).
pub struct PlantOnly<S> {
    /// Where the kept readings go.
    pub inner: S,
    /// Asset ids kept.
    pub keep: BTreeSet<String>,
    /// Readings passed on.
    pub kept: u64,
    buf: Vec<Reading>,
}

impl<S> PlantOnly<S> {
    /// Keep the plant assets of `settings`.
    pub fn new(inner: S, settings: &Settings) -> Self {
        PlantOnly {
            inner,
            keep: plant_assets(settings),
            kept: 0,
            buf: Vec::new(),
        }
    }
}

impl<S: ReadingSink> ReadingSink for PlantOnly<S> {
    fn set_rules(&mut self, series: &SeriesKey, rules: SeriesRules) {
        if self.keep.contains(&series.asset) {
            self.inner.set_rules(series, rules);
        }
    }
    fn push(&mut self, readings: &[Reading]) -> Result<(), SinkError> {
        self.buf.clear();
        self.buf.extend(
            readings
                .iter()
                .filter(|r| self.keep.contains(&r.series.asset))
                .cloned(),
        );
        self.kept += self.buf.len() as u64;
        self.inner.push(&self.buf)
    }
    fn flush(&mut self) -> Result<(), SinkError> {
        self.inner.flush()
    }
}

/// History options for October 2026 and the first day of November: the evaluator reads the
/// counters at the month's end boundary (1 November 00:00), which a history ending on
/// 31 October 23:59 would not have. The truth's first month is October, whole.
pub fn october_plus_boundary(truth: Option<&Path>) -> HistoryOptions {
    let mut o = HistoryOptions::month(2026, 10);
    o.months = 2;
    o.days = Some(32);
    o.truth_path = truth.map(Path::to_path_buf);
    o
}

/// Write the plant-side history of `opts` through the ingest path into `store`.
pub fn simulate_plant(
    settings: &Settings,
    store: Arc<dyn Store>,
    opts: &HistoryOptions,
) -> (HistoryReport, u64) {
    let ingest = Ingest::new(store, &IngestConfig::default());
    let mut sink = PlantOnly::new(ingest, settings);
    let report = heatkpi::sim::history(settings, &mut sink, opts).expect("simulated history");
    let stats = sink.inner.stats();
    assert_eq!(
        stats.rejected_total(),
        0,
        "the plant's readings all land: {stats:?}"
    );
    (report, sink.kept)
}

/// The plant engine with the built-in templates' register moduli, as `heatkpi evaluate` builds
/// it.
pub fn plant_engine(settings: &Settings) -> Engine {
    let templates = heatkpi::sim::templates::builtin().expect("built-in templates");
    Engine::plant(settings)
        .expect("plant engine")
        .with_register_moduli(template_moduli(settings, &templates))
}

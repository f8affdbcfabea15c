//! Where history readings go: the ingest path, or a test sink.
//!
//! [`ReadingSink`] is the small trait the history writer needs. The ingest path implements it
//! (so history takes the one path every sample takes), and so do [`HashSink`] (a fingerprint of
//! everything written, for determinism checks and benchmarks) and [`VecSink`] (keeps
//! everything, for tests).

use crate::ingest::Ingest;
pub use crate::ingest::{Reading, SeriesRules};
use crate::model::{Quality, SeriesKey, TimestampMs, Unit};
use std::collections::HashMap;
use std::hash::Hasher;

/// An error from a sink.
pub type SinkError = Box<dyn std::error::Error + Send + Sync>;

/// Where the history writer sends readings.
pub trait ReadingSink {
    /// Declare a series' rules from its point definition, as a collector does: the register
    /// modulus of a counter and the point's plausibility limits, in canonical units.
    fn set_rules(&mut self, series: &SeriesKey, rules: SeriesRules);
    /// Take a batch of readings (time-ordered within each series).
    fn push(&mut self, readings: &[Reading]) -> Result<(), SinkError>;
    /// Make everything pushed durable.
    fn flush(&mut self) -> Result<(), SinkError>;
}

/// FNV-1a 64, stable across platforms and Rust versions (unlike `DefaultHasher`).
#[derive(Debug, Clone, Copy)]
pub struct Fnv64(u64);

impl Default for Fnv64 {
    fn default() -> Self {
        Fnv64(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv64 {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// Counts readings and fingerprints them (series, time, value bits, unit, quality).
#[derive(Debug, Clone, Default)]
pub struct HashSink {
    hasher: Fnv64,
    /// Readings taken.
    pub count: u64,
    /// Batches taken.
    pub batches: u64,
}

impl HashSink {
    /// The fingerprint of everything taken so far.
    pub fn hash(&self) -> u64 {
        self.hasher.finish()
    }
}

impl ReadingSink for HashSink {
    fn set_rules(&mut self, series: &SeriesKey, rules: SeriesRules) {
        self.hasher.write(series.asset.as_bytes());
        self.hasher
            .write_u64(rules.modulus.unwrap_or(0.0).to_bits());
    }
    fn push(&mut self, readings: &[Reading]) -> Result<(), SinkError> {
        for r in readings {
            self.hasher.write(r.series.asset.as_bytes());
            self.hasher.write(r.series.quantity.name().as_bytes());
            self.hasher.write_i64(r.ts);
            self.hasher.write_u64(r.value.to_bits());
            self.hasher.write(r.unit.symbol().as_bytes());
            self.hasher.write_u8(r.quality.code());
        }
        self.count += readings.len() as u64;
        self.batches += 1;
        Ok(())
    }
    fn flush(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

/// Keeps every reading (tests and small runs only).
#[derive(Debug, Clone, Default)]
pub struct VecSink {
    /// The readings, in the order pushed.
    pub readings: Vec<Reading>,
    /// Declared rules.
    pub rules: HashMap<SeriesKey, SeriesRules>,
}

impl ReadingSink for VecSink {
    fn set_rules(&mut self, series: &SeriesKey, rules: SeriesRules) {
        self.rules.insert(series.clone(), rules);
    }
    fn push(&mut self, readings: &[Reading]) -> Result<(), SinkError> {
        self.readings.extend_from_slice(readings);
        Ok(())
    }
    fn flush(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

impl ReadingSink for Ingest {
    fn set_rules(&mut self, series: &SeriesKey, rules: SeriesRules) {
        Ingest::set_rules(self, series.clone(), rules);
    }
    fn push(&mut self, readings: &[Reading]) -> Result<(), SinkError> {
        Ingest::push(self, readings).map_err(|e| Box::new(e) as SinkError)
    }
    fn flush(&mut self) -> Result<(), SinkError> {
        Ingest::flush(self).map_err(|e| Box::new(e) as SinkError)
    }
}

/// A reusable batch: readings are overwritten in place, so the asset strings keep their
/// buffers and a long history allocates nothing per sample once the batch has filled once.
/// Each slot remembers which series it holds (a caller's series number): when a batch is a
/// whole number of steps long, every slot gets the same series again and its key is not even
/// copied.
#[derive(Debug)]
pub struct Batch {
    buf: Vec<Reading>,
    ids: Vec<usize>,
    len: usize,
    cap: usize,
}

impl Batch {
    /// A batch that fills at `cap` readings.
    pub fn new(cap: usize) -> Self {
        let cap = cap.max(1);
        Batch {
            buf: Vec::with_capacity(cap),
            ids: Vec::with_capacity(cap),
            len: 0,
            cap,
        }
    }

    /// Add a reading of series number `id` (any number that is the same for the same key).
    pub fn push(
        &mut self,
        id: usize,
        series: &SeriesKey,
        ts: TimestampMs,
        value: f64,
        unit: Unit,
        quality: Quality,
    ) {
        if let Some(r) = self.buf.get_mut(self.len) {
            if self.ids[self.len] != id {
                r.series.asset.clone_from(&series.asset);
                r.series.quantity = series.quantity;
                self.ids[self.len] = id;
            }
            r.ts = ts;
            r.value = value;
            r.unit = unit;
            r.quality = quality;
        } else {
            self.ids.push(id);
            self.buf.push(Reading {
                series: series.clone(),
                ts,
                value,
                unit,
                quality,
            });
        }
        self.len += 1;
    }

    /// Whether the batch is full.
    pub fn is_full(&self) -> bool {
        self.len >= self.cap
    }

    /// The readings in the batch.
    pub fn readings(&self) -> &[Reading] {
        &self.buf[..self.len]
    }

    /// Empty the batch (keeping its buffers).
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Readings in the batch.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

//! Where history readings go: the ingest path, or a test sink.
//!
//! [`Reading`] has the shape of `crate::ingest::Reading` (a value in the unit the device declares,
//! converted by ingest). [`ReadingSink`] is the small trait the history writer needs; the ingest
//! path implements it, and so do [`HashSink`] (a fingerprint of everything written, for
//! determinism checks and benchmarks) and [`VecSink`] (keeps everything, for tests).

use crate::model::{Quality, SeriesKey, TimestampMs, Unit};
use std::collections::HashMap;
use std::hash::Hasher;

/// One reading as a collector produces it.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// Which series.
    pub series: SeriesKey,
    /// When, UTC ms.
    pub ts: TimestampMs,
    /// The value in `unit`.
    pub value: f64,
    /// The unit the device reports in.
    pub unit: Unit,
    /// Quality as the collector judged it (status bits, sentinels).
    pub quality: Quality,
}

/// An error from a sink.
pub type SinkError = Box<dyn std::error::Error + Send + Sync>;

/// Where the history writer sends readings.
pub trait ReadingSink {
    /// Declare the register modulus of a counter series, in the canonical unit of its quantity.
    fn set_modulus(&mut self, series: &SeriesKey, modulus: f64);
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
    fn set_modulus(&mut self, _series: &SeriesKey, modulus: f64) {
        self.hasher.write_u64(modulus.to_bits());
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
    /// Declared moduli.
    pub moduli: HashMap<SeriesKey, f64>,
}

impl ReadingSink for VecSink {
    fn set_modulus(&mut self, series: &SeriesKey, modulus: f64) {
        self.moduli.insert(series.clone(), modulus);
    }
    fn push(&mut self, readings: &[Reading]) -> Result<(), SinkError> {
        self.readings.extend_from_slice(readings);
        Ok(())
    }
    fn flush(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

/// A reusable batch: readings are overwritten in place, so the asset strings keep their
/// buffers and a long history allocates nothing per sample once the batch has filled once.
#[derive(Debug)]
pub struct Batch {
    buf: Vec<Reading>,
    len: usize,
    cap: usize,
}

impl Batch {
    /// A batch that fills at `cap` readings.
    pub fn new(cap: usize) -> Self {
        let cap = cap.max(1);
        Batch {
            buf: Vec::with_capacity(cap),
            len: 0,
            cap,
        }
    }

    /// Add a reading.
    pub fn push(
        &mut self,
        series: &SeriesKey,
        ts: TimestampMs,
        value: f64,
        unit: Unit,
        quality: Quality,
    ) {
        if let Some(r) = self.buf.get_mut(self.len) {
            r.series.asset.clone_from(&series.asset);
            r.series.quantity = series.quantity;
            r.ts = ts;
            r.value = value;
            r.unit = unit;
            r.quality = quality;
        } else {
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

//! The outbox's entry format: samples in a compact binary form (about 21 bytes per sample plus
//! each series key once), events and results as JSON (they are few).
//!
//! Layout of a sample entry, little-endian: `u32` series count, then per series `u16` length
//! and the UTF-8 key; `u32` sample count, then per sample `u32` series index, `i64` ts,
//! `f64` value, `u8` quality code. Decoding checks every length, so a damaged entry is an
//! error, never a panic.

use crate::model::{Quality, Sample, SeriesKey};
use crate::store::StoreError;
use crate::store::fasthash::FastBuild;
use std::collections::HashMap;

/// Encode samples.
pub fn encode_samples(samples: &[Sample]) -> Vec<u8> {
    let mut index: HashMap<&SeriesKey, u32, FastBuild> = HashMap::default();
    let mut keys: Vec<String> = Vec::new();
    let mut refs = Vec::with_capacity(samples.len());
    for s in samples {
        let next = keys.len() as u32;
        let i = *index.entry(&s.series).or_insert_with(|| {
            keys.push(s.series.to_string());
            next
        });
        refs.push(i);
    }
    let key_bytes: usize = keys.iter().map(|k| k.len() + 2).sum();
    let mut out = Vec::with_capacity(8 + key_bytes + samples.len() * 21);
    out.extend_from_slice(&(keys.len() as u32).to_le_bytes());
    for k in &keys {
        let b = k.as_bytes();
        // Series keys are an asset id and a quantity name: far below 64 KiB.
        let len = b.len().min(u16::MAX as usize);
        out.extend_from_slice(&(len as u16).to_le_bytes());
        out.extend_from_slice(&b[..len]);
    }
    out.extend_from_slice(&(samples.len() as u32).to_le_bytes());
    for (s, i) in samples.iter().zip(refs) {
        out.extend_from_slice(&i.to_le_bytes());
        out.extend_from_slice(&s.ts.to_le_bytes());
        out.extend_from_slice(&s.value.to_le_bytes());
        out.push(s.quality.code());
    }
    out
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], StoreError> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.buf.len());
        match end {
            Some(e) => {
                let s = &self.buf[self.pos..e];
                self.pos = e;
                Ok(s)
            }
            None => Err(StoreError::Data(format!(
                "outbox entry truncated at byte {} of {}",
                self.pos,
                self.buf.len()
            ))),
        }
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], StoreError> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }
    fn u16(&mut self) -> Result<u16, StoreError> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    fn u32(&mut self) -> Result<u32, StoreError> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    fn i64(&mut self) -> Result<i64, StoreError> {
        Ok(i64::from_le_bytes(self.array()?))
    }
    fn f64(&mut self) -> Result<f64, StoreError> {
        Ok(f64::from_le_bytes(self.array()?))
    }
    fn u8(&mut self) -> Result<u8, StoreError> {
        Ok(self.take(1)?[0])
    }
}

/// Decode samples written by [`encode_samples`].
pub fn decode_samples(buf: &[u8]) -> Result<Vec<Sample>, StoreError> {
    let mut r = Reader { buf, pos: 0 };
    let nkeys = r.u32()? as usize;
    // Each key needs at least its 2 length bytes: a count beyond that is damage.
    if nkeys > buf.len() / 2 {
        return Err(StoreError::Data(format!(
            "outbox entry claims {nkeys} series"
        )));
    }
    let mut keys = Vec::with_capacity(nkeys);
    for _ in 0..nkeys {
        let len = r.u16()? as usize;
        let text = std::str::from_utf8(r.take(len)?)
            .map_err(|e| StoreError::Data(format!("outbox series key: {e}")))?;
        let key: SeriesKey = text
            .parse()
            .map_err(|e| StoreError::Data(format!("outbox series key `{text}`: {e}")))?;
        keys.push(key);
    }
    let n = r.u32()? as usize;
    if n > buf.len() / 21 {
        return Err(StoreError::Data(format!("outbox entry claims {n} samples")));
    }
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let i = r.u32()? as usize;
        let series = keys
            .get(i)
            .cloned()
            .ok_or_else(|| StoreError::Data(format!("outbox sample names series {i}")))?;
        let ts = r.i64()?;
        let value = r.f64()?;
        let quality = Quality::from_code(r.u8()?);
        out.push(Sample {
            series,
            ts,
            value,
            quality,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Quantity;

    #[test]
    fn samples_round_trip_and_damage_is_an_error() {
        let a = SeriesKey::new("ss-1", Quantity::SupplyTemp);
        let b = SeriesKey::new("ss-2", Quantity::HeatEnergy);
        let samples = vec![
            Sample {
                series: a.clone(),
                ts: 1,
                value: 70.25,
                quality: Quality::Good,
            },
            Sample {
                series: b,
                ts: 2,
                value: 1e9 + 0.1,
                quality: Quality::Estimated,
            },
            Sample {
                series: a,
                ts: 3,
                value: -0.0,
                quality: Quality::Suspect,
            },
        ];
        let buf = encode_samples(&samples);
        assert_eq!(decode_samples(&buf).unwrap(), samples);
        for cut in [0, 3, 10, buf.len() - 1] {
            assert!(decode_samples(&buf[..cut]).is_err(), "cut at {cut}");
        }
        let mut bad = buf.clone();
        bad[0] = 0xff;
        assert!(decode_samples(&bad).is_err());
    }
}

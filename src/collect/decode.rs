//! The Modbus register codec: data types × byte/word orders, scale and offset, sentinels.
//!
//! Pure functions, no I/O. `decode_*` turns register words read from a device into values;
//! `encode_*` is the exact inverse, used by the simulator to fill its register images. Both
//! directions share one byte-order table, so a served value always decodes to itself.
//!
//! Byte orders name the bytes of a value from most to least significant as A, B, C, D (and on
//! to H for 64-bit values), written in the order they appear in the registers:
//!
//! | order | 16-bit | 32-bit words | 64-bit words | seen in |
//! |---|---|---|---|---|
//! | `ABCD` | AB | AB CD | AB CD EF GH | the Modbus standard (big-endian) |
//! | `CDAB` | AB | CD AB | GH EF CD AB | PLCs and meters that send the low word first |
//! | `BADC` | BA | BA DC | BA DC FE HG | gateways that swap the bytes of each word |
//! | `DCBA` | BA | DC BA | HG FE DC BA | little-endian devices |
//!
//! A single register has no word order, so for 16-bit values `CDAB` equals `ABCD` and `DCBA`
//! equals `BADC`. Strings carry two ASCII characters per register, first character in the high
//! byte (`ABCD`, `CDAB`) or in the low byte (`BADC`, `DCBA`); trailing NULs and spaces are cut.
//!
//! Engineering value = raw × `scale` + `offset`. A raw value listed in `sentinels` (or a NaN
//! float) means "no value": it decodes with `sentinel = true` and the caller stores it as bad.

use crate::config::modbus::{ByteOrder, DataType, PointDef, RegisterKind};

/// A raw register value before scaling.
#[derive(Debug, Clone, PartialEq)]
pub enum RawValue {
    /// A bit (coil, discrete input, or one bit of a register).
    Bit(bool),
    /// A signed integer (i16, i32, i64).
    Signed(i64),
    /// An unsigned integer (u16, u32, u64).
    Unsigned(u64),
    /// A float (f32 widened, f64).
    Float(f64),
    /// An ASCII string.
    Text(String),
}

impl RawValue {
    /// The numeric value (bits are 0 or 1); `None` for strings.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            RawValue::Bit(b) => Some(if *b { 1.0 } else { 0.0 }),
            RawValue::Signed(v) => Some(*v as f64),
            RawValue::Unsigned(v) => Some(*v as f64),
            RawValue::Float(v) => Some(*v),
            RawValue::Text(_) => None,
        }
    }
}

/// A decoded point.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// raw × scale + offset, in the point's declared unit (NaN for strings).
    pub value: f64,
    /// The raw value.
    pub raw: RawValue,
    /// Whether the raw value is one of the point's sentinels (or a NaN float): no valid value.
    pub sentinel: bool,
}

/// Why registers could not be decoded or a value could not be encoded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CodecError {
    /// Too few register words for the data type.
    #[error("{data_type:?} needs {need} register(s), got {got}")]
    Length {
        /// The data type.
        data_type: DataType,
        /// Words needed.
        need: usize,
        /// Words given.
        got: usize,
    },
    /// A bit index beyond 15.
    #[error("bit index {0} is outside a 16-bit register (use 0–15)")]
    BitIndex(u8),
    /// A string point without `length`.
    #[error("a string point needs `length` (registers, two characters each)")]
    StringLength,
    /// The value is outside the range of the data type after scaling.
    #[error("value {value} (raw {raw}) does not fit {data_type:?}")]
    OutOfRange {
        /// The engineering value.
        value: f64,
        /// The raw value it scales to.
        raw: f64,
        /// The data type.
        data_type: DataType,
    },
    /// NaN or infinite value for a type that cannot carry it and no sentinel to send instead.
    #[error("value {0} cannot be encoded and the point has no sentinel for \"no value\"")]
    NotFinite(f64),
    /// `scale` is 0, so no raw value gives the engineering value.
    #[error("scale 0 cannot be inverted")]
    ZeroScale,
    /// A numeric value for a string point or a string for a numeric one.
    #[error("raw value {raw:?} does not match data type {data_type:?}")]
    Mismatch {
        /// The raw value given.
        raw: RawValue,
        /// The data type.
        data_type: DataType,
    },
}

/// Registers one value of `point` takes (a string takes its `length`).
pub fn word_count(point: &PointDef) -> Result<usize, CodecError> {
    match point.data_type {
        DataType::String => point
            .length
            .filter(|n| *n > 0)
            .map(usize::from)
            .ok_or(CodecError::StringLength),
        dt => Ok(dt.words() as usize),
    }
}

fn byte_len(dt: DataType) -> usize {
    match dt {
        DataType::Bit | DataType::I16 | DataType::U16 | DataType::String => 2,
        DataType::I32 | DataType::U32 | DataType::F32 => 4,
        DataType::I64 | DataType::U64 | DataType::F64 => 8,
    }
}

fn swaps_bytes(order: ByteOrder) -> bool {
    matches!(order, ByteOrder::BADC | ByteOrder::DCBA)
}

fn reverses_words(order: ByteOrder) -> bool {
    matches!(order, ByteOrder::CDAB | ByteOrder::DCBA)
}

/// The `nbytes` low bytes of `bits` (big-endian) laid out as registers in `order`.
fn bits_to_words(bits: u64, nbytes: usize, order: ByteOrder, out: &mut [u16]) {
    let n = nbytes / 2;
    for i in 0..n {
        // Word i in big-endian order holds bytes 2i (high) and 2i+1 (low).
        let shift = 8 * (nbytes - 2 * i - 2);
        let mut w = ((bits >> shift) & 0xFFFF) as u16;
        if swaps_bytes(order) {
            w = w.swap_bytes();
        }
        let slot = if reverses_words(order) { n - 1 - i } else { i };
        out[slot] = w;
    }
}

/// The inverse of [`bits_to_words`].
fn words_to_bits(words: &[u16], nbytes: usize, order: ByteOrder) -> u64 {
    let n = nbytes / 2;
    let mut bits = 0u64;
    for i in 0..n {
        let slot = if reverses_words(order) { n - 1 - i } else { i };
        let mut w = words[slot];
        if swaps_bytes(order) {
            w = w.swap_bytes();
        }
        bits = (bits << 16) | u64::from(w);
    }
    bits
}

fn check_len(dt: DataType, need: usize, words: &[u16]) -> Result<(), CodecError> {
    if words.len() < need {
        return Err(CodecError::Length {
            data_type: dt,
            need,
            got: words.len(),
        });
    }
    Ok(())
}

/// Decode the raw value of `data_type` from `words`. `bit` selects the bit of a register for
/// `bit` points (0 when absent); for coils and discrete inputs pass the bit as word 0 or 1 with
/// `bit = None`. `string_len` is the register count of strings.
pub fn decode_raw(
    data_type: DataType,
    order: ByteOrder,
    bit: Option<u8>,
    string_len: Option<u16>,
    words: &[u16],
) -> Result<RawValue, CodecError> {
    let nbytes = byte_len(data_type);
    match data_type {
        DataType::Bit => {
            check_len(data_type, 1, words)?;
            let b = bit.unwrap_or(0);
            if b > 15 {
                return Err(CodecError::BitIndex(b));
            }
            Ok(RawValue::Bit((words[0] >> b) & 1 == 1))
        }
        DataType::String => {
            let n = string_len
                .filter(|n| *n > 0)
                .ok_or(CodecError::StringLength)? as usize;
            check_len(data_type, n, words)?;
            let mut s = String::with_capacity(2 * n);
            for &w in &words[..n] {
                let w = if swaps_bytes(order) {
                    w.swap_bytes()
                } else {
                    w
                };
                for c in [(w >> 8) as u8, (w & 0xFF) as u8] {
                    s.push(if c.is_ascii() { c as char } else { '?' });
                }
            }
            let trimmed = s.trim_end_matches(['\0', ' ']).len();
            s.truncate(trimmed);
            Ok(RawValue::Text(s))
        }
        numeric => {
            check_len(numeric, nbytes / 2, words)?;
            let bits = words_to_bits(words, nbytes, order);
            Ok(match numeric {
                DataType::I16 => RawValue::Signed(i64::from(bits as u16 as i16)),
                DataType::I32 => RawValue::Signed(i64::from(bits as u32 as i32)),
                DataType::I64 => RawValue::Signed(bits as i64),
                DataType::F32 => RawValue::Float(f64::from(f32::from_bits(bits as u32))),
                DataType::F64 => RawValue::Float(f64::from_bits(bits)),
                // U16, U32, U64: `bits` holds exactly `nbytes` bytes.
                _ => RawValue::Unsigned(bits),
            })
        }
    }
}

/// Encode a raw value of `data_type` into `out` (which must hold its registers); returns the
/// number of words written. A `bit` point writes a word with only its bit set (or clear): merge
/// several bit points of one register with `|`.
pub fn encode_raw(
    data_type: DataType,
    order: ByteOrder,
    bit: Option<u8>,
    string_len: Option<u16>,
    raw: &RawValue,
    out: &mut [u16],
) -> Result<usize, CodecError> {
    let nbytes = byte_len(data_type);
    let mismatch = || CodecError::Mismatch {
        raw: raw.clone(),
        data_type,
    };
    let out_of_range = |v: f64| CodecError::OutOfRange {
        value: v,
        raw: v,
        data_type,
    };
    match data_type {
        DataType::Bit => {
            check_len(data_type, 1, out)?;
            let b = bit.unwrap_or(0);
            if b > 15 {
                return Err(CodecError::BitIndex(b));
            }
            let on = raw.as_f64().ok_or_else(mismatch)? != 0.0;
            out[0] = if on { 1 << b } else { 0 };
            Ok(1)
        }
        DataType::String => {
            let RawValue::Text(s) = raw else {
                return Err(mismatch());
            };
            let n = string_len
                .filter(|n| *n > 0)
                .ok_or(CodecError::StringLength)? as usize;
            check_len(data_type, n, out)?;
            let bytes = s.as_bytes();
            for (i, w) in out[..n].iter_mut().enumerate() {
                let hi = bytes.get(2 * i).copied().unwrap_or(0);
                let lo = bytes.get(2 * i + 1).copied().unwrap_or(0);
                let word = (u16::from(hi) << 8) | u16::from(lo);
                *w = if swaps_bytes(order) {
                    word.swap_bytes()
                } else {
                    word
                };
            }
            Ok(n)
        }
        _ => {
            check_len(data_type, nbytes / 2, out)?;
            let bits: u64 =
                match (data_type, raw) {
                    (DataType::F32, r) => {
                        let v = r.as_f64().ok_or_else(mismatch)?;
                        if v.is_finite() && v.abs() > f64::from(f32::MAX) {
                            return Err(out_of_range(v));
                        }
                        u64::from((v as f32).to_bits())
                    }
                    (DataType::F64, r) => r.as_f64().ok_or_else(mismatch)?.to_bits(),
                    (_, RawValue::Signed(v)) => int_bits(data_type, i128::from(*v))
                        .ok_or_else(|| out_of_range(*v as f64))?,
                    (_, RawValue::Unsigned(v)) => int_bits(data_type, i128::from(*v))
                        .ok_or_else(|| out_of_range(*v as f64))?,
                    (_, RawValue::Bit(b)) => u64::from(*b),
                    (_, RawValue::Float(_) | RawValue::Text(_)) => return Err(mismatch()),
                };
            bits_to_words(bits, nbytes, order, out);
            Ok(nbytes / 2)
        }
    }
}

/// Two's-complement bits of `v` if it fits the integer type.
fn int_bits(dt: DataType, v: i128) -> Option<u64> {
    let (lo, hi, mask): (i128, i128, u64) = match dt {
        DataType::I16 => (i128::from(i16::MIN), i128::from(i16::MAX), 0xFFFF),
        DataType::U16 => (0, i128::from(u16::MAX), 0xFFFF),
        DataType::I32 => (i128::from(i32::MIN), i128::from(i32::MAX), 0xFFFF_FFFF),
        DataType::U32 => (0, i128::from(u32::MAX), 0xFFFF_FFFF),
        DataType::I64 => (i128::from(i64::MIN), i128::from(i64::MAX), u64::MAX),
        DataType::U64 => (0, i128::from(u64::MAX), u64::MAX),
        _ => return None,
    };
    (lo..=hi).contains(&v).then_some((v as u64) & mask)
}

fn bit_index(point: &PointDef) -> Option<u8> {
    // Coils and discrete inputs arrive as one bool each; the agent passes it as word 0/1.
    match point.register {
        RegisterKind::Coil | RegisterKind::Discrete => None,
        RegisterKind::Holding | RegisterKind::Input => point.bit,
    }
}

/// Decode `point` from its register words (starting at `point.address`).
pub fn decode_point(point: &PointDef, words: &[u16]) -> Result<Decoded, CodecError> {
    let raw = decode_raw(
        point.data_type,
        point.order,
        bit_index(point),
        point.length,
        words,
    )?;
    let Some(r) = raw.as_f64() else {
        return Ok(Decoded {
            value: f64::NAN,
            raw,
            sentinel: false,
        });
    };
    let sentinel = r.is_nan() || point.sentinels.contains(&r);
    Ok(Decoded {
        value: r * point.scale + point.offset,
        raw,
        sentinel,
    })
}

/// The raw value whose engineering value is `value`: (value − offset) / scale, rounded to the
/// nearest integer for integer types and wrapped into `[0, modulus)` when the point has a
/// modulus (a counter register keeps counting past its maximum). NaN encodes the point's first
/// sentinel, so a simulator can serve "no value" the way the device does.
pub fn raw_for_value(point: &PointDef, value: f64) -> Result<RawValue, CodecError> {
    let dt = point.data_type;
    if value.is_nan() {
        if let Some(&s) = point.sentinels.first() {
            return Ok(numeric_raw(dt, s));
        }
        if matches!(dt, DataType::F32 | DataType::F64) {
            return Ok(RawValue::Float(f64::NAN));
        }
        return Err(CodecError::NotFinite(value));
    }
    if !value.is_finite() {
        return Err(CodecError::NotFinite(value));
    }
    if point.scale == 0.0 {
        return Err(CodecError::ZeroScale);
    }
    let mut raw = (value - point.offset) / point.scale;
    match dt {
        DataType::F32 | DataType::F64 => Ok(RawValue::Float(raw)),
        DataType::Bit => Ok(RawValue::Bit(raw.round() != 0.0)),
        DataType::String => Err(CodecError::Mismatch {
            raw: RawValue::Float(value),
            data_type: dt,
        }),
        _ => {
            raw = raw.round();
            if let Some(m) = point.modulus.filter(|m| *m > 0.0) {
                raw = raw.rem_euclid(m);
            }
            let fits = match dt {
                DataType::I16 => (-32768.0..=32767.0).contains(&raw),
                DataType::U16 => (0.0..=65535.0).contains(&raw),
                DataType::I32 => (-2_147_483_648.0..=2_147_483_647.0).contains(&raw),
                DataType::U32 => (0.0..=4_294_967_295.0).contains(&raw),
                DataType::I64 => {
                    (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&raw)
                }
                _ => (0.0..1.844_674_407_370_955_2e19).contains(&raw),
            };
            if !fits {
                return Err(CodecError::OutOfRange {
                    value,
                    raw,
                    data_type: dt,
                });
            }
            Ok(numeric_raw(dt, raw))
        }
    }
}

fn numeric_raw(dt: DataType, raw: f64) -> RawValue {
    match dt {
        DataType::I16 | DataType::I32 | DataType::I64 => RawValue::Signed(raw as i64),
        DataType::U16 | DataType::U32 | DataType::U64 => RawValue::Unsigned(raw as u64),
        DataType::Bit => RawValue::Bit(raw != 0.0),
        DataType::F32 | DataType::F64 | DataType::String => RawValue::Float(raw),
    }
}

/// Encode the engineering `value` of `point` into `out`; returns the number of words written.
pub fn encode_point(point: &PointDef, value: f64, out: &mut [u16]) -> Result<usize, CodecError> {
    let raw = raw_for_value(point, value)?;
    encode_raw(
        point.data_type,
        point.order,
        bit_index(point),
        point.length,
        &raw,
        out,
    )
}

/// The value a device would show for `value`: encoded and decoded again, so it carries the
/// register's resolution (0.01 °C, whole kWh, f32 precision) and counter wrap-around.
pub fn quantize(point: &PointDef, value: f64) -> Result<Decoded, CodecError> {
    let mut buf = [0u16; 4];
    let n = encode_point(point, value, &mut buf)?;
    decode_point(point, &buf[..n])
}

/// The counter modulus of `point` in its declared unit (`modulus × scale`), for overflow
/// detection on decoded values.
pub fn modulus_in_unit(point: &PointDef) -> Option<f64> {
    point
        .modulus
        .filter(|m| *m > 0.0)
        .map(|m| m * point.scale.abs())
}

#[cfg(test)]
#[path = "decode_tests.rs"]
mod tests;

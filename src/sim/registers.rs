//! Register images: what a simulated device answers to reads, rebuilt from its points after
//! every step with the shared codec.

use super::devices::SimDevice;
use super::faults::Silence;
use crate::collect::decode;
use crate::config::modbus::{DataType, RegisterKind};
use tokio_modbus::ExceptionCode;

/// Largest register count of one read (Modbus application protocol: 125 registers, 2000 bits).
const MAX_WORDS: u16 = 125;
const MAX_BITS: u16 = 2000;

/// The four register tables of one device.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Image {
    /// Holding registers.
    pub holding: Vec<u16>,
    /// Input registers.
    pub input: Vec<u16>,
    /// Coils.
    pub coils: Vec<bool>,
    /// Discrete inputs.
    pub discretes: Vec<bool>,
    /// How the device misbehaves on the protocol now.
    pub silence: Option<Silence>,
}

impl Image {
    /// An empty image sized for `d`'s points.
    pub fn for_device(d: &SimDevice) -> Image {
        let mut img = Image::default();
        for p in &d.points {
            let end = usize::from(p.def.address) + decode::word_count(&p.def).unwrap_or(1);
            let t = match p.def.register {
                RegisterKind::Holding => &mut img.holding,
                RegisterKind::Input => &mut img.input,
                RegisterKind::Coil => {
                    img.coils.resize(img.coils.len().max(end), false);
                    continue;
                }
                RegisterKind::Discrete => {
                    img.discretes.resize(img.discretes.len().max(end), false);
                    continue;
                }
            };
            t.resize(t.len().max(end), 0);
        }
        img
    }

    /// Encode `d`'s shown values. A value the register cannot hold is served as the point's
    /// sentinel (or zero), as a device shows a display error.
    pub fn fill(&mut self, d: &SimDevice) {
        self.silence = match d.faults.silence {
            Some(s) => Some(s),
            None if d.faults.offline => Some(Silence::NoResponse),
            None => None,
        };
        // Bits of status words are merged, so clear the words that carry bit points first.
        for p in &d.points {
            if p.def.data_type == DataType::Bit
                && let Some(w) = self
                    .words_mut(p.def.register)
                    .and_then(|t| t.get_mut(usize::from(p.def.address)))
            {
                *w = 0;
            }
        }
        for p in &d.points {
            let value = if p.supported { p.value } else { f64::NAN };
            let mut buf = [0u16; 4];
            let n = decode::encode_point(&p.def, value, &mut buf)
                .or_else(|_| decode::encode_point(&p.def, f64::NAN, &mut buf))
                .unwrap_or_else(|_| {
                    buf = [0; 4];
                    decode::word_count(&p.def).unwrap_or(1).min(4)
                });
            let at = usize::from(p.def.address);
            match p.def.register {
                RegisterKind::Coil => {
                    if let Some(c) = self.coils.get_mut(at) {
                        *c = value.is_finite() && value != 0.0;
                    }
                }
                RegisterKind::Discrete => {
                    if let Some(c) = self.discretes.get_mut(at) {
                        *c = value.is_finite() && value != 0.0;
                    }
                }
                kind => {
                    let Some(t) = self.words_mut(kind) else {
                        continue;
                    };
                    if p.def.data_type == DataType::Bit {
                        if let Some(w) = t.get_mut(at) {
                            *w |= buf[0];
                        }
                    } else if let Some(dst) = t.get_mut(at..at + n) {
                        dst.copy_from_slice(&buf[..n]);
                    }
                }
            }
        }
    }

    fn words_mut(&mut self, kind: RegisterKind) -> Option<&mut Vec<u16>> {
        match kind {
            RegisterKind::Holding => Some(&mut self.holding),
            RegisterKind::Input => Some(&mut self.input),
            _ => None,
        }
    }

    /// Read `count` registers from `addr`: `IllegalDataValue` for a count outside 1–125,
    /// `IllegalDataAddress` outside the map (gaps inside the map read as 0, as most devices do).
    pub fn read_words(
        &self,
        kind: RegisterKind,
        addr: u16,
        count: u16,
    ) -> Result<Vec<u16>, ExceptionCode> {
        if count == 0 || count > MAX_WORDS {
            return Err(ExceptionCode::IllegalDataValue);
        }
        let t = match kind {
            RegisterKind::Holding => &self.holding,
            RegisterKind::Input => &self.input,
            _ => return Err(ExceptionCode::IllegalFunction),
        };
        let (a, n) = (usize::from(addr), usize::from(count));
        t.get(a..a + n)
            .map(<[u16]>::to_vec)
            .ok_or(ExceptionCode::IllegalDataAddress)
    }

    /// Read `count` coils or discrete inputs from `addr`.
    pub fn read_bits(
        &self,
        kind: RegisterKind,
        addr: u16,
        count: u16,
    ) -> Result<Vec<bool>, ExceptionCode> {
        if count == 0 || count > MAX_BITS {
            return Err(ExceptionCode::IllegalDataValue);
        }
        let t = match kind {
            RegisterKind::Coil => &self.coils,
            RegisterKind::Discrete => &self.discretes,
            _ => return Err(ExceptionCode::IllegalFunction),
        };
        let (a, n) = (usize::from(addr), usize::from(count));
        t.get(a..a + n)
            .map(<[bool]>::to_vec)
            .ok_or(ExceptionCode::IllegalDataAddress)
    }
}

//! The instruments: what each simulated device shows, point by point, in the units and with the
//! resolution of its register map.
//!
//! A device is a template instantiated for an asset (`[[modbus.device]]`), or a synthetic one for
//! a simulated asset without a configured device (history only). Each point reads the physics in
//! canonical units, converts to the point's declared unit and passes through the register codec
//! (`collect::decode::quantize`), so the history holds exactly what a Modbus poll would decode.
//!
//! Counters are modelled as the register a meter keeps: a reading that was years old when the
//! simulation began, counting up with the metered quantity, wrapping at the register modulus,
//! restarting on a reset, starting afresh on a replacement. Device faults act here: frozen
//! registers (stale), swapped temperature sensors (the energy register stops: Δθ < 0), and a
//! meter off line during its exchange (nothing registered).

use super::SimError;
use super::faults::DeviceFaults;
use super::rng::Rng;
use super::utility::{AssetRef, Utility};
use crate::collect::decode;
use crate::collect::modbus::point::{StatusEffect, status_effect};
use crate::config::modbus::{DataType, PointDef, Template};
use crate::config::{Limits, Settings};
use crate::ingest::SeriesRules;
use crate::model::counter::{Step, classify};
use crate::model::quantity::convert;
use crate::model::{Kind, Quality, Quantity, SeriesKey};
use std::collections::BTreeMap;

/// Heat-meter status bit: negative Δθ (supply colder than return), as meters flag it.
pub const STATUS_NEGATIVE_DT: u16 = 0x0010;

/// The register of a counter point.
#[derive(Debug, Clone, PartialEq)]
pub struct CounterState {
    /// Register content in raw units before truncation and wrap-around.
    pub acc_raw: f64,
    last_true: f64,
    /// Register modulus in raw units.
    pub modulus_raw: Option<f64>,
    /// Last value emitted to the history (point unit).
    pub last_emitted: Option<f64>,
    /// What a reader of the emitted values counts (point unit): increases and overflows, but
    /// not the boundary intervals of resets and replacements (`model::counter`).
    pub metered: f64,
}

/// One point of a device.
#[derive(Debug, Clone)]
pub struct SimPoint {
    /// The point definition from the template.
    pub def: PointDef,
    /// Series the point feeds.
    pub series: SeriesKey,
    /// canonical = `a` × value + `b`.
    a: f64,
    b: f64,
    /// Counter register, for counter quantities.
    pub counter: Option<CounterState>,
    /// Shown value in the point's unit (NaN: no value).
    pub value: f64,
    /// Whether the shown value is a sentinel ("no value").
    pub sentinel: bool,
    /// Quality a collector would give the value.
    pub quality: Quality,
    /// Whether the asset has this quantity at all.
    pub supported: bool,
    /// For status points: each mask with its effect, from the agent's `status_effect`.
    status_masks: Vec<(u16, StatusEffect)>,
}

impl SimPoint {
    /// Convert a canonical value to the point's unit.
    pub fn to_unit(&self, canonical: f64) -> f64 {
        (canonical - self.b) / self.a
    }

    /// A difference in the point's unit as a difference in canonical units.
    pub fn to_canonical(&self, delta: f64) -> f64 {
        delta * self.a
    }

    /// The ingest rules of the point's series, as a collector derives them from the point: the
    /// counter modulus and the point's plausibility limits, in canonical units.
    pub fn rules(&self) -> SeriesRules {
        let canonical = |v: f64| self.a * v + self.b;
        let limits = (self.def.min.is_some() || self.def.max.is_some()).then(|| Limits {
            min: self.def.min.map(canonical),
            max: self.def.max.map(canonical),
        });
        SeriesRules {
            modulus: decode::modulus_in_unit(&self.def).map(|m| m * self.a),
            limits,
        }
    }

    fn show_counter(&mut self) {
        let Some(c) = &self.counter else { return };
        let mut raw = c.acc_raw;
        if !matches!(self.def.data_type, DataType::F32 | DataType::F64) {
            raw = raw.floor();
        }
        if let Some(m) = c.modulus_raw {
            raw = raw.rem_euclid(m);
        }
        let v = raw * self.def.scale + self.def.offset;
        self.value = match self.def.data_type {
            DataType::F32 | DataType::F64 => {
                decode::quantize(&self.def, v).map_or(f64::NAN, |d| d.value)
            }
            _ => v,
        };
    }
}

/// One simulated device.
#[derive(Debug, Clone)]
pub struct SimDevice {
    /// Device id.
    pub id: String,
    /// Asset id.
    pub asset: String,
    /// The simulated asset.
    pub asset_ref: AssetRef,
    /// Template name.
    pub template: String,
    /// `host:port` it is served on (configured devices).
    pub address: String,
    /// Modbus unit id.
    pub unit_id: u8,
    /// Points.
    pub points: Vec<SimPoint>,
    /// Faults in force.
    pub faults: DeviceFaults,
    /// Counter wrap-arounds seen at the last update: (point index).
    pub wrapped: Vec<usize>,
    /// Meters exchanged so far (a new meter has a new serial number).
    pub replacements: u32,
}

/// The built-in template of the heat meter of the simulator's `i`-th substation (0-based):
/// every third one has a GJ meter from another maker.
pub fn substation_template(i: usize) -> &'static str {
    if i % 3 == 2 {
        "dh-sim-heat-meter-gj"
    } else {
        "dh-sim-heat-meter"
    }
}

fn template_for(u: &Utility, a: AssetRef) -> &'static str {
    match a {
        AssetRef::Substation(i) => substation_template(i),
        AssetRef::Outlet(_) => "dh-sim-heat-meter",
        AssetRef::Unit(i) if u.units[i].fuel.is_solid() => "dh-sim-boiler",
        AssetRef::Unit(_) => "dh-sim-engine",
        AssetRef::Stack(_) => "dh-sim-cems",
        AssetRef::Station(_) => "dh-sim-weather",
        AssetRef::Makeup(_) => "dh-sim-makeup",
    }
}

/// Build the devices: every configured device whose asset is simulated, plus one device
/// for each simulated asset that has none and for which `synthesize(id, asset)` is true, with
/// the built-in template for its kind. Devices are ordered configured first, then synthetic
/// by asset id. Synthetic devices have no address: they are not served over Modbus.
pub fn build(
    settings: &Settings,
    templates: &BTreeMap<String, Template>,
    u: &Utility,
    synthesize: &dyn Fn(&str, AssetRef) -> bool,
) -> Result<Vec<SimDevice>, SimError> {
    let mut out = Vec::new();
    for d in &settings.modbus.devices {
        let Some(&a) = u.assets.get(&d.asset) else {
            tracing::warn!(device = %d.id, asset = %d.asset, "not simulated: the simulator has no asset with this id");
            continue;
        };
        let t = templates
            .get(&d.template)
            .ok_or_else(|| SimError::Template {
                device: d.id.clone(),
                template: d.template.clone(),
            })?;
        out.push(device(
            &d.id,
            &d.asset,
            a,
            &d.template,
            t,
            u,
            (&d.address, d.unit_id),
        )?);
    }
    let mut missing: Vec<(&String, &AssetRef)> = u
        .assets
        .iter()
        .filter(|(id, a)| {
            !settings.modbus.devices.iter().any(|d| &d.asset == *id) && synthesize(id, **a)
        })
        .collect();
    missing.sort_by(|a, b| a.0.cmp(b.0));
    for (id, &a) in missing {
        let name = template_for(u, a);
        let t = templates.get(name).ok_or_else(|| SimError::Template {
            device: format!("{id}-sim"),
            template: name.to_string(),
        })?;
        out.push(device(&format!("{id}-sim"), id, a, name, t, u, ("", 0))?);
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn device(
    id: &str,
    asset: &str,
    a: AssetRef,
    template: &str,
    t: &Template,
    u: &Utility,
    (address, unit_id): (&str, u8),
) -> Result<SimDevice, SimError> {
    let mut points = Vec::new();
    for p in &t.points {
        let perr = |reason: String| SimError::Point {
            device: id.to_string(),
            point: p.name.clone(),
            reason,
        };
        let q = p.quantity;
        let (b, a1) = match (convert(q, p.unit, 0.0), convert(q, p.unit, 1.0)) {
            (Ok(b), Ok(a1)) => (b, a1),
            (Err(e), _) | (_, Err(e)) => return Err(perr(e.to_string())),
        };
        if p.data_type == DataType::String {
            return Err(perr("string points carry no simulated value".into()));
        }
        let supported = u.value(a, q).is_some();
        if !supported {
            tracing::warn!(device = id, point = %p.name, "asset has no simulated `{q}`; served as no value");
        }
        let counter = (q.kind() == Kind::Counter).then(|| CounterState {
            acc_raw: 0.0,
            last_true: 0.0,
            modulus_raw: p.modulus.filter(|m| *m > 0.0),
            last_emitted: None,
            metered: 0.0,
        });
        points.push(SimPoint {
            def: p.clone(),
            series: SeriesKey::new(asset, q),
            a: a1 - b,
            b,
            counter,
            value: f64::NAN,
            sentinel: true,
            quality: Quality::Bad,
            supported,
            status_masks: p
                .status_bits
                .values()
                .map(|&m| (m, status_effect(p, f64::from(m))))
                .collect(),
        });
    }
    Ok(SimDevice {
        id: id.to_string(),
        asset: asset.to_string(),
        asset_ref: a,
        template: template.to_string(),
        address: address.to_string(),
        unit_id,
        points,
        faults: DeviceFaults::default(),
        wrapped: Vec::new(),
        replacements: 0,
    })
}

impl SimDevice {
    /// Give every counter the reading of a meter that has counted for 0.5–6 years, then show
    /// the current values.
    pub fn start(&mut self, u: &Utility, rng: &mut Rng) {
        let years = rng.range(0.5, 6.0);
        for p in &mut self.points {
            let Some(c) = &mut p.counter else { continue };
            let q = p.def.quantity;
            c.last_true = u.value(self.asset_ref, q).unwrap_or(0.0);
            let initial = u.typical_rate(self.asset_ref, q) * 8760.0 * years;
            c.acc_raw = (initial / p.a / p.def.scale).floor();
            if let Some(m) = c.modulus_raw {
                c.acc_raw = c.acc_raw.rem_euclid(m);
            }
        }
        self.update(u, DeviceFaults::default());
    }

    /// Show the state of `u` under `faults`.
    pub fn update(&mut self, u: &Utility, faults: DeviceFaults) {
        self.faults = faults;
        self.wrapped.clear();
        let swap = |q: Quantity| match q {
            Quantity::SupplyTemp if faults.swapped => Quantity::ReturnTemp,
            Quantity::ReturnTemp if faults.swapped => Quantity::SupplyTemp,
            q => q,
        };
        let mut effect = StatusEffect::None;
        for (i, p) in self.points.iter_mut().enumerate() {
            if !p.supported {
                continue;
            }
            let q = p.def.quantity;
            let mut canonical = u.value(self.asset_ref, swap(q)).unwrap_or(f64::NAN);
            if faults.swapped && q == Quantity::HeatPower {
                // A meter integrating a negative Δθ shows no heating power.
                canonical = 0.0;
            }
            if let Some(c) = &mut p.counter {
                let delta = canonical - c.last_true;
                c.last_true = canonical;
                let registers = !(faults.offline || faults.swapped && q == Quantity::HeatEnergy);
                if registers && delta.is_finite() {
                    let before = c.acc_raw;
                    c.acc_raw += delta / p.a / p.def.scale;
                    if let Some(m) = c.modulus_raw
                        && (c.acc_raw / m).floor() > (before / m).floor()
                    {
                        self.wrapped.push(i);
                    }
                }
                if !faults.stale {
                    p.show_counter();
                    p.sentinel = false;
                }
                continue;
            }
            if faults.stale {
                continue;
            }
            let mut v = p.to_unit(canonical);
            if q == Quantity::DeviceStatus && faults.swapped {
                v = f64::from(v as u16 | STATUS_NEGATIVE_DT);
            }
            match decode::quantize(&p.def, v) {
                Ok(d) => {
                    p.value = d.value;
                    p.sentinel = d.sentinel;
                }
                Err(_) => {
                    p.value = f64::NAN;
                    p.sentinel = true;
                }
            }
            if !p.sentinel {
                let word = p.value as u16;
                for &(mask, e) in &p.status_masks {
                    if word & mask != 0 {
                        effect = effect.max(e);
                    }
                }
            }
        }
        // The agent's rule (collect::modbus::poll): status points are good, the device's other
        // points take the status word's effect, sentinels are bad.
        for p in &mut self.points {
            p.quality = if !p.supported || p.sentinel {
                Quality::Bad
            } else if !p.def.status_bits.is_empty() {
                Quality::Good
            } else {
                effect.quality()
            };
        }
    }

    /// Whether the device answers polls now.
    pub fn answering(&self) -> bool {
        self.faults.silence.is_none() && !self.faults.offline
    }

    /// Restart every counter register from zero (a meter reset).
    pub fn reset_counters(&mut self) {
        for p in &mut self.points {
            if let Some(c) = &mut p.counter {
                c.acc_raw = 0.0;
            }
            p.show_counter();
        }
    }

    /// A new meter on line: its energy register reads `energy_reading` (device unit) and the
    /// other counters start in the same proportion to it as the old meter's did.
    pub fn replace_meter(&mut self, energy_reading: f64) {
        self.replacements += 1;
        let old_energy = self
            .points
            .iter()
            .find(|p| p.def.quantity == Quantity::HeatEnergy)
            .and_then(|p| p.counter.as_ref().map(|c| (c.acc_raw, p.def.scale)));
        for p in &mut self.points {
            let Some(c) = &mut p.counter else { continue };
            c.acc_raw = match (p.def.quantity, old_energy) {
                (Quantity::HeatEnergy, _) | (_, None) => energy_reading / p.def.scale,
                (_, Some((e, scale_e))) if e > 0.0 => {
                    (c.acc_raw * (energy_reading / scale_e) / e).floor()
                }
                _ => energy_reading / p.def.scale,
            };
            p.show_counter();
        }
    }

    /// Account the values about to be emitted as a reader of the history would (see
    /// [`CounterState::metered`]).
    pub fn observe_emitted(&mut self) {
        for p in &mut self.points {
            let modulus = decode::modulus_in_unit(&p.def);
            let Some(c) = &mut p.counter else { continue };
            if !p.value.is_finite() {
                continue;
            }
            if let Some(prev) = c.last_emitted {
                match classify(prev, p.value, modulus) {
                    Step::Increase(d) | Step::Overflow(d) => c.metered += d,
                    Step::Reset | Step::Replacement => {}
                }
            }
            c.last_emitted = Some(p.value);
        }
    }

    /// The point feeding `q`, if any.
    pub fn point(&self, q: Quantity) -> Option<&SimPoint> {
        self.points.iter().find(|p| p.def.quantity == q)
    }
}

//! Accumulates the ground truth while a history runs: cumulative counters snapshotted at local
//! month boundaries, temperatures and CEMS values per sample, then [`Recorder::finish`] turns
//! them into [`Truth`].

use super::cems::{CemsMode, POLLUTANTS};
use super::engine::Simulation;
use super::truth::*;
use crate::model::time::{self, Every, Window};
use crate::model::{Quantity, TimestampMs};
use chrono_tz::Tz;
use std::collections::BTreeMap;

/// Cumulative values at one instant.
#[derive(Debug, Clone, Default)]
struct Snap {
    /// heat, fuel energy, fuel quantity, electricity per unit.
    units: Vec<[f64; 4]>,
    /// out, own use per source.
    sources: Vec<[f64; 2]>,
    /// heat in, delivered, pipe loss, leak loss, stored, make-up per network.
    networks: Vec<[f64; 6]>,
    /// energy, volume, unsupplied per substation.
    subs: Vec<[f64; 3]>,
    /// Metered heat (GJ) per device with a heat-energy counter.
    metered: Vec<Option<f64>>,
}

/// Temperature sums of a substation while it flows.
#[derive(Debug, Clone, Copy, Default)]
struct SubAcc {
    n: u32,
    sum_f: f64,
    sum_r: f64,
    sum_v: f64,
    sum_vr: f64,
    sum_vdt: f64,
}

/// One hour of a stack's CEMS.
#[derive(Debug, Clone, Copy, Default)]
struct HourAcc {
    steps: u32,
    valid: u32,
    load_sum: f64,
    conc_sum: [f64; 4],
}

/// The recorder.
#[derive(Debug)]
pub struct Recorder {
    tz: Tz,
    seed: u64,
    step_s: u32,
    range: Window,
    months: Vec<Window>,
    month: usize,
    snaps: Vec<Snap>,
    run_h: Vec<Vec<f64>>,
    subs: Vec<Vec<SubAcc>>,
    hours: Vec<Window>,
    hour: usize,
    stack_hours: Vec<Vec<HourAcc>>,
    wx_hours: Vec<(f64, u32)>,
}

fn snap(sim: &Simulation) -> Snap {
    let u = &sim.utility;
    Snap {
        units: u
            .units
            .iter()
            .map(|x| [x.heat_gj, x.fuel_gj, x.fuel_qty, x.el_mwh])
            .collect(),
        sources: u.sources.iter().map(|s| [s.out_gj, s.own_use_gj]).collect(),
        networks: u
            .networks
            .iter()
            .map(|n| {
                [
                    n.heat_in_gj,
                    n.delivered_gj,
                    n.loss_pipe_gj,
                    n.loss_leak_gj,
                    n.stored_gj(),
                    n.makeup_m3,
                ]
            })
            .collect(),
        subs: u
            .substations
            .iter()
            .map(|s| [s.energy_gj, s.volume_m3, s.unsupplied_gj])
            .collect(),
        metered: sim
            .devices
            .iter()
            .map(|d| {
                let p = d.point(Quantity::HeatEnergy)?;
                p.counter.as_ref().map(|c| p.to_canonical(c.metered))
            })
            .collect(),
    }
}

impl Recorder {
    /// A recorder for a run of `sim` over `range`.
    pub fn new(sim: &Simulation, range: Window, seed: u64, step_s: u32) -> Self {
        let tz = sim.utility.tz;
        // A partial month (a run of some days) is clipped to the run.
        let months: Vec<Window> = time::windows(tz, range, Every::Month)
            .into_iter()
            .map(|w| Window::new(w.start.max(range.start), w.end.min(range.end)))
            .collect();
        let hours = time::windows(tz, range, Every::Hours(1));
        let n_units = sim.utility.units.len();
        let n_subs = sim.utility.substations.len();
        Recorder {
            tz,
            seed,
            step_s,
            range,
            snaps: vec![snap(sim)],
            run_h: vec![vec![0.0; n_units]; months.len()],
            subs: vec![vec![SubAcc::default(); n_subs]; months.len()],
            months,
            month: 0,
            stack_hours: vec![vec![HourAcc::default(); hours.len()]; sim.utility.stacks.len()],
            wx_hours: vec![(0.0, 0); hours.len()],
            hours,
            hour: 0,
        }
    }

    /// Record the state about to be written at `sim.ts` (temperatures, CEMS).
    pub fn observe(&mut self, sim: &Simulation) {
        let ts = sim.ts;
        let u = &sim.utility;
        while self.hour + 1 < self.hours.len() && ts >= self.hours[self.hour].end {
            self.hour += 1;
        }
        let m = self.month.min(self.months.len().saturating_sub(1));
        let dt = u.dt_s;
        if let Some(acc) = self.subs.get_mut(m) {
            for (a, s) in acc.iter_mut().zip(&u.substations) {
                if s.flow_m3h > 0.0 {
                    let v = s.flow_m3h * dt / 3600.0;
                    a.n += 1;
                    a.sum_f += s.supply_c;
                    a.sum_r += s.return_c;
                    a.sum_v += v;
                    a.sum_vr += v * s.return_c;
                    a.sum_vdt += v * (s.supply_c - s.return_c);
                }
            }
        }
        for (hours, s) in self.stack_hours.iter_mut().zip(&u.stacks) {
            let h = &mut hours[self.hour];
            h.steps += 1;
            h.load_sum += s.load;
            if s.mode == CemsMode::Normal && s.operating {
                h.valid += 1;
                for (sum, c) in h.conc_sum.iter_mut().zip(s.conc_ref) {
                    *sum += c;
                }
            }
        }
        let station = u.networks.first().map_or(0, |n| n.station);
        if let Some(st) = u.stations.get(station) {
            let w = &mut self.wx_hours[self.hour];
            w.0 += st.value_c;
            w.1 += 1;
        }
    }

    /// Record a step that ended at `sim.ts`.
    pub fn stepped(&mut self, sim: &Simulation) {
        let from = sim.ts - sim.step_ms;
        let m = self
            .months
            .iter()
            .position(|w| w.contains(from))
            .unwrap_or(self.month);
        let dt_h = sim.utility.dt_s / 3600.0;
        for (h, unit) in self.run_h[m].iter_mut().zip(&sim.utility.units) {
            if unit.running() {
                *h += dt_h;
            }
        }
        if self.months.get(self.month).is_some_and(|w| sim.ts >= w.end) {
            self.snaps.push(snap(sim));
            self.month += 1;
        }
    }

    /// Turn what was recorded into the ground truth.
    pub fn finish(self, sim: &Simulation) -> Truth {
        let tz = self.tz;
        let fmt = |ts: TimestampMs| time::format_local(tz, ts);
        let u = &sim.utility;
        let (events, interruptions) = super::event_truth::events_truth(sim, tz, self.range.end);
        let mut months = Vec::new();
        for (m, w) in self.months.iter().enumerate() {
            let (Some(a), Some(b)) = (self.snaps.get(m), self.snaps.get(m + 1)) else {
                break;
            };
            months.push(self.month_truth(sim, m, *w, (a, b), &interruptions));
        }
        let counter_wraps = sim
            .wraps
            .iter()
            .map(|&(d, p, at)| WrapTruth {
                device: sim.devices[d].id.clone(),
                series: sim.devices[d].points[p].series.to_string(),
                at_ms: at,
                at: fmt(at),
            })
            .collect();
        let mut conventions = BTreeMap::new();
        for (k, v) in [
            (
                "energy",
                "true physical values in GJ; metered_* = sum of register increments between consecutive written readings (resets and replacements lose their boundary interval, overflows are unwrapped with the register modulus)",
            ),
            (
                "months",
                "local calendar months of the site time zone; a step's energy belongs to the month its interval starts in",
            ),
            (
                "transmission_loss_pct",
                "(heat_in - delivered - storage_change) / heat_in x 100 (domain.md 4.2)",
            ),
            (
                "efficiency",
                "sum of heat / sum of fuel energy (LHV) over the month (domain.md 2.4)",
            ),
            (
                "emissions",
                "hour valid if >= 75 % of its samples valid (analyser normal and firing); operating hour if mean load >= stack min_load_share; V_h = max(0, C_ref,h - CI share x ELV); day invalid with > 3 invalid hours; exceedance: valid day with mean V_h > daily_limit_factor x ELV (domain.md 3.4)",
            ),
            (
                "interruptions",
                "physical loss of supply [start, end); detection by supply temperature lags by up to ~2 h, by differential pressure it is immediate",
            ),
        ] {
            conventions.insert(k.to_string(), v.to_string());
        }
        Truth {
            generator: format!("heatkpi {} simulator", env!("CARGO_PKG_VERSION")),
            seed: self.seed,
            timezone: tz.name().to_string(),
            step_s: self.step_s,
            from: fmt(self.range.start),
            to: fmt(self.range.end),
            from_ms: self.range.start,
            to_ms: self.range.end,
            substations: u.substations.len(),
            conventions,
            months,
            events,
            interruptions,
            counter_wraps,
        }
    }

    fn month_truth(
        &self,
        sim: &Simulation,
        m: usize,
        w: Window,
        (a, b): (&Snap, &Snap),
        interruptions: &[InterruptionTruth],
    ) -> MonthTruth {
        let u = &sim.utility;
        let d = |x: f64, y: f64| y - x;
        let ratio = |n: f64, den: f64| (den > 0.0).then(|| n / den);
        let units: Vec<UnitTruth> = u
            .units
            .iter()
            .enumerate()
            .map(|(i, x)| {
                let v: [f64; 4] = std::array::from_fn(|k| d(a.units[i][k], b.units[i][k]));
                UnitTruth {
                    id: x.id.clone(),
                    source: u.sources[x.source].id.clone(),
                    heat_gj: v[0],
                    fuel_energy_gj: v[1],
                    fuel_quantity: v[2],
                    fuel_unit: if x.fuel.is_solid() { "t" } else { "Nm3" }.into(),
                    electricity_mwh: v[3],
                    efficiency: ratio(v[0], v[1]),
                    total_efficiency: (v[3] > 0.0)
                        .then(|| ratio(v[0] + 3.6 * v[3], v[1]))
                        .flatten(),
                    operating_hours: self.run_h[m][i],
                }
            })
            .collect();
        let meter_of = |asset: &str| {
            sim.devices
                .iter()
                .position(|dev| dev.asset == asset && dev.point(Quantity::HeatEnergy).is_some())
        };
        let metered = |dev: Option<usize>| {
            let i = dev?;
            Some(b.metered.get(i).copied().flatten()? - a.metered.get(i).copied().flatten()?)
        };
        let settings_outlet = |si: usize| {
            u.assets.iter().find_map(|(id, r)| {
                (*r == super::utility::AssetRef::Outlet(si)).then_some(id.clone())
            })
        };
        let sources: Vec<SourceTruth> = u
            .sources
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let out = d(a.sources[i][0], b.sources[i][0]);
                let own = d(a.sources[i][1], b.sources[i][1]);
                let fuel: f64 = s.units.iter().map(|&x| units[x].fuel_energy_gj).sum();
                let el: f64 = s.units.iter().map(|&x| units[x].electricity_mwh).sum();
                SourceTruth {
                    id: s.id.clone(),
                    heat_produced_gj: out + own,
                    own_use_gj: own,
                    heat_out_gj: out,
                    fuel_energy_gj: fuel,
                    electricity_mwh: el,
                    plant_efficiency: ratio(out, fuel),
                    metered_heat_out_gj: settings_outlet(i).and_then(|id| metered(meter_of(&id))),
                }
            })
            .collect();
        let subs: Vec<SubstationTruth> = u
            .substations
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let acc = self.subs[m][i];
                let n = f64::from(acc.n);
                let id = &u.substation_assets[i].id;
                SubstationTruth {
                    id: id.clone(),
                    branch: u.branches[s.branch].name.clone(),
                    delivered_gj: d(a.subs[i][0], b.subs[i][0]),
                    metered_gj: metered(meter_of(id)),
                    volume_m3: d(a.subs[i][1], b.subs[i][1]),
                    unsupplied_gj: d(a.subs[i][2], b.subs[i][2]),
                    mean_supply_c: (acc.n > 0).then(|| acc.sum_f / n),
                    mean_return_c: (acc.n > 0).then(|| acc.sum_r / n),
                    volume_weighted_return_c: ratio(acc.sum_vr, acc.sum_v),
                    volume_weighted_cooling_k: ratio(acc.sum_vdt, acc.sum_v),
                }
            })
            .collect();
        let networks: Vec<NetworkTruth> = u
            .networks
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let v: [f64; 6] = std::array::from_fn(|k| d(a.networks[i][k], b.networks[i][k]));
                let losses = v[2] + v[3];
                let m_in: Option<f64> = u
                    .sources
                    .iter()
                    .zip(&sources)
                    .filter(|(s, _)| s.network == i)
                    .map(|(_, t)| t.metered_heat_out_gj)
                    .sum();
                let m_out: Option<f64> = u
                    .substations
                    .iter()
                    .zip(&subs)
                    .filter(|(s, _)| s.network == i)
                    .map(|(_, t)| t.metered_gj)
                    .sum();
                NetworkTruth {
                    id: n.id.clone(),
                    heat_in_gj: v[0],
                    delivered_gj: v[1],
                    pipe_loss_gj: v[2],
                    leak_loss_gj: v[3],
                    losses_gj: losses,
                    storage_change_gj: v[4],
                    balance_residual_gj: v[0] - v[1] - losses - v[4],
                    transmission_loss_pct: ratio(100.0 * (v[0] - v[1] - v[4]), v[0]).unwrap_or(0.0),
                    loss_pct_without_storage: ratio(100.0 * (v[0] - v[1]), v[0]).unwrap_or(0.0),
                    makeup_water_m3: v[5],
                    metered_heat_in_gj: m_in,
                    metered_delivered_gj: m_out,
                    metered_loss_pct: match (m_in, m_out) {
                        (Some(i), Some(o)) => ratio(100.0 * (i - o), i),
                        _ => None,
                    },
                }
            })
            .collect();
        let stacks: Vec<StackTruth> = (0..u.stacks.len())
            .map(|s| self.stack_truth(sim, s, w))
            .collect();
        let weather = self.weather_truth(sim, w);
        let mut kpis = KpiTruth::default();
        for t in &units {
            if let Some(e) = t.efficiency {
                kpis.boiler_efficiency.insert(t.id.clone(), e);
            }
        }
        for t in &sources {
            if let Some(e) = t.plant_efficiency {
                kpis.plant_efficiency.insert(t.id.clone(), e);
            }
        }
        for t in &networks {
            kpis.transmission_loss_pct
                .insert(t.id.clone(), t.transmission_loss_pct);
        }
        for t in &stacks {
            kpis.emission_exceedance_days
                .extend(t.exceedance_days.iter().cloned());
            let invalid: BTreeMap<String, u32> = t
                .days
                .iter()
                .filter(|d| d.invalid_hours > 0)
                .map(|d| (d.date.clone(), d.invalid_hours))
                .collect();
            kpis.cems_invalid_hours.insert(t.id.clone(), invalid);
        }
        kpis.interruptions = interruptions
            .iter()
            .filter(|i| i.start_ms < w.end && i.end_ms > w.start)
            .cloned()
            .collect();
        MonthTruth {
            month: time::local_date(self.tz, w.start)
                .format("%Y-%m")
                .to_string(),
            start_ms: w.start,
            end_ms: w.end,
            hours: (w.len_ms() / 3_600_000) as u32,
            weather,
            units,
            sources,
            networks,
            substations: subs,
            stacks,
            kpis,
        }
    }

    fn weather_truth(&self, sim: &Simulation, w: Window) -> WeatherTruth {
        let u = &sim.utility;
        let station = u.networks.first().map_or(0, |n| n.station);
        let mut sum = 0.0;
        let mut n = 0u32;
        let mut hdd = 0.0;
        for day in time::windows(self.tz, w, Every::Day) {
            let (mut ds, mut dn) = (0.0, 0u32);
            for (h, acc) in self.hours.iter().zip(&self.wx_hours) {
                if day.contains(h.start) {
                    ds += acc.0;
                    dn += acc.1;
                }
            }
            if dn > 0 {
                let tm = ds / f64::from(dn);
                if tm <= sim.utility.physics.heating_limit_c {
                    hdd += sim.utility.physics.hdd_base_c - tm;
                }
            }
            sum += ds;
            n += dn;
        }
        WeatherTruth {
            station: u
                .stations
                .get(station)
                .map_or_else(String::new, |s| s.id.clone()),
            mean_outdoor_c: if n > 0 { sum / f64::from(n) } else { f64::NAN },
            hdd,
        }
    }

    fn stack_truth(&self, sim: &Simulation, si: usize, month: Window) -> StackTruth {
        let s = &sim.utility.stacks[si];
        let name = |i: usize| format!("{:?}", POLLUTANTS[i]).to_lowercase();
        // Validated hourly value per pollutant, or None for a non-operating or invalid hour.
        let hour_state = |h: &HourAcc| -> (bool, Option<[f64; 4]>) {
            if h.steps == 0 || h.load_sum / f64::from(h.steps) < s.min_load_share {
                return (false, None);
            }
            if f64::from(h.valid) < 0.75 * f64::from(h.steps) {
                return (true, None);
            }
            let v = std::array::from_fn(|i| {
                let c = h.conc_sum[i] / f64::from(h.valid);
                (c - s.ci_share[i] * s.limits[i].unwrap_or(0.0)).max(0.0)
            });
            (true, Some(v))
        };
        let mut days = Vec::new();
        let mut exceed = Vec::new();
        let mut invalid_days = Vec::new();
        let (mut op, mut valid, mut invalid) = (0u32, 0u32, 0u32);
        let mut month_sum = [0.0; 4];
        for day in time::windows(self.tz, month, Every::Day) {
            let mut d = StackDayTruth {
                date: time::local_date(self.tz, day.start).to_string(),
                hours: (day.len_ms() / 3_600_000) as u32,
                operating_hours: 0,
                invalid_hours: 0,
                invalid_day: false,
                validated_mean_mg_nm3: BTreeMap::new(),
            };
            let mut sum = [0.0; 4];
            let mut n = 0u32;
            for (w, h) in self.hours.iter().zip(&self.stack_hours[si]) {
                if !day.contains(w.start) {
                    continue;
                }
                match hour_state(h) {
                    (false, _) => {}
                    (true, None) => {
                        d.operating_hours += 1;
                        d.invalid_hours += 1;
                    }
                    (true, Some(v)) => {
                        d.operating_hours += 1;
                        n += 1;
                        for i in 0..4 {
                            sum[i] += v[i];
                            month_sum[i] += v[i];
                        }
                    }
                }
            }
            d.invalid_day = d.invalid_hours > 3;
            op += d.operating_hours;
            valid += n;
            invalid += d.invalid_hours;
            if d.invalid_day {
                invalid_days.push(d.date.clone());
            }
            for (i, (limit, total)) in s.limits.iter().zip(sum).enumerate() {
                let Some(limit) = limit else { continue };
                if n == 0 {
                    continue;
                }
                let mean = total / f64::from(n);
                d.validated_mean_mg_nm3.insert(name(i), mean);
                let daily = s.daily_limit_factor * limit;
                if !d.invalid_day && mean > daily {
                    exceed.push(ExceedanceTruth {
                        stack: s.id.clone(),
                        date: d.date.clone(),
                        pollutant: name(i),
                        validated_daily_mean_mg_nm3: mean,
                        daily_limit_mg_nm3: daily,
                    });
                }
            }
            days.push(d);
        }
        let in_month = || {
            self.hours
                .iter()
                .zip(&self.stack_hours[si])
                .filter(|(w, _)| month.contains(w.start))
                .map(|(w, h)| ((w.start, w.end), hour_state(h)))
        };
        let invalid_hour_runs = HourRunTruth::runs(
            self.tz,
            in_month().map(|(w, st)| (w, st == (true, None))),
            None,
        );
        let mut elv_exceedance_runs = Vec::new();
        for (i, limit) in s.limits.iter().enumerate() {
            let Some(limit) = *limit else { continue };
            let above = |st: (bool, Option<[f64; 4]>)| st.1.is_some_and(|v| v[i] > limit);
            elv_exceedance_runs.extend(HourRunTruth::runs(
                self.tz,
                in_month().map(|(w, st)| (w, above(st))),
                Some(&name(i)),
            ));
        }
        let mut limits = BTreeMap::new();
        let mut monthly = BTreeMap::new();
        for (i, (limit, total)) in s.limits.iter().zip(month_sum).enumerate() {
            if let Some(l) = limit {
                limits.insert(name(i), *l);
                if valid > 0 {
                    monthly.insert(name(i), total / f64::from(valid));
                }
            }
        }
        StackTruth {
            id: s.id.clone(),
            limits_mg_nm3: limits,
            operating_hours: op,
            valid_hours: valid,
            invalid_hours: invalid,
            validated_monthly_mean_mg_nm3: monthly,
            days,
            exceedance_days: exceed,
            invalid_days,
            invalid_hour_runs,
            elv_exceedance_runs,
        }
    }
}

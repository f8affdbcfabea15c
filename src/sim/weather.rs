//! Outdoor, ground and cold-water temperature of a Warsaw-like climate, and the simulation clock.
//!
//! Outdoor temperature = seasonal cycle + daily cycle + weather fronts + sensor-scale noise. The
//! seasonal cycle is a cosine with its minimum around 20 January (Warsaw: January ≈ −1 °C, July
//! ≈ +19 °C); fronts are an AR(1) process with a correlation time of ~2.5 days, wider in
//! winter, which gives the cold spells and thaws that drive district-heating load. The ground at
//! pipe depth follows the season with a lag of about a month and a smaller amplitude.

use super::rng::{Ar1, Rng, lag};
use crate::config::sim::PhysicsConfig;
use crate::model::TimestampMs;
use chrono::{Datelike, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use std::f64::consts::TAU;

const DAYS_PER_YEAR: f64 = 365.25;
/// Day of year (0-based) of the coldest day of the seasonal cycle.
const COLDEST_DOY: f64 = 19.0;

/// Where a step is in local civil time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Clock {
    /// The instant, UTC ms.
    pub ts: TimestampMs,
    /// Fractional local day of year, 0-based (1 January 12:00 = 0.5).
    pub day_of_year: f64,
    /// Fractional local hour of day, 0–24.
    pub hour: f64,
    /// Day of week, Monday = 0.
    pub weekday: u32,
}

impl Clock {
    /// The clock at `ts` in `tz`.
    pub fn at(tz: Tz, ts: TimestampMs) -> Clock {
        let utc = Utc
            .timestamp_millis_opt(ts)
            .single()
            .unwrap_or_else(|| Utc.timestamp_millis_opt(0).single().unwrap_or_default());
        let local = utc.with_timezone(&tz);
        let hour = f64::from(local.hour())
            + f64::from(local.minute()) / 60.0
            + f64::from(local.second()) / 3600.0;
        Clock {
            ts,
            day_of_year: f64::from(local.ordinal0()) + hour / 24.0,
            hour,
            weekday: local.weekday().num_days_from_monday(),
        }
    }

    /// Phase of the seasonal cycle: 0 on the coldest day, π half a year later.
    pub fn season_phase(&self) -> f64 {
        TAU * (self.day_of_year - COLDEST_DOY) / DAYS_PER_YEAR
    }
}

/// The temperatures of one step.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct WeatherNow {
    /// Outdoor air temperature at the reference station, °C.
    pub outdoor_c: f64,
    /// Outdoor temperature smoothed over ~3 h: what dispatchers feed the regulation table.
    pub setpoint_outdoor_c: f64,
    /// Outdoor temperature as buildings feel it through their thermal mass (~8 h lag).
    pub building_outdoor_c: f64,
    /// Undisturbed ground temperature at pipe depth, °C.
    pub ground_c: f64,
    /// Cold water temperature entering DHW heat exchangers and make-up, °C.
    pub cold_water_c: f64,
}

/// The weather process.
#[derive(Debug, Clone)]
pub struct Weather {
    rng: Rng,
    front: Ar1,
    noise: Ar1,
    annual_mean_c: f64,
    annual_amplitude_k: f64,
    now: Option<WeatherNow>,
}

/// Correlation time of weather fronts: a front passes in two to three days.
const FRONT_TAU_S: f64 = 2.5 * 86_400.0;
/// Short-term fluctuation (clouds, wind), K and s.
const NOISE_SD_K: f64 = 0.4;
const NOISE_TAU_S: f64 = 1_800.0;
/// Smoothing of the outdoor temperature used for the regulation table.
const SETPOINT_TAU_S: f64 = 3.0 * 3600.0;
/// Thermal lag of a typical multi-family building.
const BUILDING_TAU_S: f64 = 8.0 * 3600.0;

impl Weather {
    /// The weather for `seed`, stepped every `dt_s`.
    pub fn new(seed: u64, physics: &PhysicsConfig, dt_s: f64) -> Self {
        let mut rng = Rng::new(seed, 0x057E_A7E4);
        let front = Ar1::new(&mut rng, physics.front_sd_k, FRONT_TAU_S, dt_s);
        let noise = Ar1::new(&mut rng, NOISE_SD_K, NOISE_TAU_S, dt_s);
        Weather {
            rng,
            front,
            noise,
            annual_mean_c: physics.annual_mean_c,
            annual_amplitude_k: physics.annual_amplitude_k,
            now: None,
        }
    }

    /// The seasonal and daily mean outdoor temperature without fronts, °C.
    pub fn climate_c(&self, clock: &Clock) -> f64 {
        let season = clock.season_phase();
        let seasonal = self.annual_mean_c - self.annual_amplitude_k * season.cos();
        // Clear summer days swing more than overcast winter days: 2.5 K in January, 5 K in July.
        let daily_amp = 3.75 - 1.25 * season.cos();
        seasonal + daily_amp * (TAU * (clock.hour - 15.0) / 24.0).cos()
    }

    /// Advance to `clock` (one step of `dt_s`) and return the temperatures.
    pub fn step(&mut self, clock: &Clock, dt_s: f64) -> WeatherNow {
        let season = clock.season_phase();
        // Fronts are wider in winter (continental cold spells) than in summer.
        let front = self.front.step(&mut self.rng) * (1.0 + 0.25 * season.cos());
        let outdoor = self.climate_c(clock) + front + self.noise.step(&mut self.rng);
        let ground = self.annual_mean_c
            - 0.5
            - 0.55 * self.annual_amplitude_k * (season - TAU * 30.0 / DAYS_PER_YEAR).cos();
        let cold = self.annual_mean_c
            - 1.0
            - 0.4 * self.annual_amplitude_k * (season - TAU * 40.0 / DAYS_PER_YEAR).cos();
        let (sp, bld) = match self.now {
            Some(prev) => (
                lag(prev.setpoint_outdoor_c, outdoor, SETPOINT_TAU_S, dt_s),
                lag(prev.building_outdoor_c, outdoor, BUILDING_TAU_S, dt_s),
            ),
            None => (outdoor, outdoor),
        };
        let now = WeatherNow {
            outdoor_c: outdoor,
            setpoint_outdoor_c: sp,
            building_outdoor_c: bld,
            ground_c: ground,
            cold_water_c: cold,
        };
        self.now = Some(now);
        now
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Europe::Warsaw;

    fn monthly_mean(month: u32) -> f64 {
        // Mean over 20 Januaries/Julys of different seeds, hourly.
        let mut sum = 0.0;
        let mut n = 0.0;
        for seed in 0..20 {
            let mut w = Weather::new(seed, &PhysicsConfig::default(), 3600.0);
            let start = Warsaw
                .with_ymd_and_hms(2026, month, 1, 0, 0, 0)
                .unwrap()
                .timestamp_millis();
            for h in 0..31 * 24 {
                let c = Clock::at(Warsaw, start + h * 3_600_000);
                sum += w.step(&c, 3600.0).outdoor_c;
                n += 1.0;
            }
        }
        sum / n
    }

    #[test]
    fn warsaw_like_seasons() {
        let jan = monthly_mean(1);
        let jul = monthly_mean(7);
        assert!((-3.0..1.0).contains(&jan), "January mean {jan}");
        assert!((17.0..21.0).contains(&jul), "July mean {jul}");
    }

    #[test]
    fn clock_is_local() {
        // 2026-01-01T00:30Z is 01:30 in Warsaw (CET, UTC+1), a Thursday.
        let ts = Utc
            .with_ymd_and_hms(2026, 1, 1, 0, 30, 0)
            .unwrap()
            .timestamp_millis();
        let c = Clock::at(Warsaw, ts);
        assert!((c.hour - 1.5).abs() < 1e-9);
        assert_eq!(c.weekday, 3);
        assert!((c.day_of_year - 1.5 / 24.0).abs() < 1e-9);
    }
}

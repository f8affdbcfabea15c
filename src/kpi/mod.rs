//! The KPI evaluator (design.md §2): periods, thresholds, and the standards computed from the
//! store, with results and events written back to it.
//!
//! Layout, one concern per file:
//! - vocabulary: [`period`] (local-time periods), [`result`] (KPI result, status,
//!   irregularities), [`threshold`] (selection and the one comparator), [`record`] (store and
//!   JSON forms), [`render`] (the `evaluate` table);
//! - pure formulas, importing only `model` and the vocabulary above: [`efficiency`] (KPI 1),
//!   [`emissions`] and [`compliance`] (KPI 2); [`availability`] and [`availability_state`]
//!   (KPI 5);
//! - I/O: [`inputs`] (reads through the `Store` trait), the evaluators [`efficiency_eval`]
//!   (with the plant level in `efficiency_plant`) and [`emissions_eval`] (with the year-level
//!   rules in `emissions_year` and the events in `emissions_events`), and [`engine`] (runs
//!   evaluators, stores revisions — recalculation notes and event merging in `revision`) and
//!   [`live`] (live snapshot, closing periods, late-data recomputation) with [`live_loop`]
//!   (the loop to spawn, a cadence per group of evaluators);
//!   [`availability_eval`] (with the reads in `availability_read` and the events in
//!   `availability_events`).
//!
//! The network-side standards are further [`engine::Evaluator`]s: [`losses`] with
//! [`losses_eval`] (make-up water in `losses_makeup`) for KPI 3, [`usage`] with [`usage_eval`]
//! (consumption KPIs in `usage_consumption`) for KPI 4, sharing the reads of
//! `network_inputs` (outdoor temperature, manually read registers, hourly register steps).

pub mod availability;
pub mod availability_eval;
mod availability_events;
mod availability_read;
mod availability_requests;
pub mod availability_state;
mod availability_ytd;
pub mod compliance;
pub mod efficiency;
pub mod efficiency_eval;
mod efficiency_plant;
pub mod emissions;
pub mod emissions_eval;
mod emissions_events;
mod emissions_year;
pub mod engine;
pub mod inputs;
pub mod live;
pub mod live_loop;
pub mod losses;
pub mod losses_eval;
mod losses_makeup;
mod network_inputs;
pub mod period;
pub mod record;
pub mod render;
pub mod result;
mod revision;
pub mod threshold;
pub mod usage;
mod usage_consumption;
pub mod usage_eval;

#[cfg(test)]
mod engine_tests;
#[cfg(test)]
pub(crate) mod testkit;

pub use engine::{Engine, EngineError, Evaluation, Evaluator, evaluate};
pub use live::live_snapshot;
pub use live_loop::{LiveLoop, run_live};
pub use period::{Calendar, Period, PeriodKind};
pub use result::{Irregularity, IrregularityKind, KpiResult, Status};

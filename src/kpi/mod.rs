//! The KPI evaluator (design.md §2): periods, thresholds, the plant-side standards.
pub mod compliance;
pub mod efficiency;
pub mod emissions;
pub mod period;
pub mod result;
pub mod threshold;

//! heatkpi: technical KPI monitor for district-heating utilities.
//!
//! Agents collect meter, boiler and emission-analyser data over Modbus and MQTT; every sample
//! enters the store through one ingest path; the evaluator computes the five technical
//! standards of the Program Promocji Ciepła Systemowego against configured thresholds. See
//! `README.md` for operation and `model` for the shared vocabulary.

pub mod cli;
pub mod collect;
pub mod config;
pub mod import;
pub mod ingest;
pub mod kpi;
pub mod model;
pub mod open;
pub mod query;
pub mod sim;
pub mod store;

//! The Modbus collection agent: register maps (templates), request planning, polling.

pub mod plan;
pub mod point;
pub mod poll;

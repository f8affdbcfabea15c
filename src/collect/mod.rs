//! Collection from field devices: Modbus (TCP, RTU, RTU over TCP) and MQTT.
//!
//! `decode` is the register codec shared by the Modbus agent (which decodes what devices send)
//! and the simulator (which encodes what it serves), so both sides agree on every data type and
//! byte order by construction. Collectors know devices and points, never KPIs; everything they
//! read goes through `ingest` (design.md §1).

pub mod decode;
pub mod modbus;
pub mod mqtt;

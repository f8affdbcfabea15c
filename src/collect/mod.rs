//! Collection agents: Modbus (TCP, RTU, RTU over TCP) and MQTT. Collectors know devices and
//! points, never KPIs; everything they read goes through `ingest`.

pub mod modbus;
pub mod mqtt;

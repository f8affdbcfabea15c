//! Modbus collection configuration: device templates (register maps) and device instances.

use crate::model::{Quantity, Unit};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `[modbus]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModbusConfig {
    /// Directory of template files (`*.toml`), relative to the configuration file.
    #[serde(default = "default_templates_dir")]
    pub templates_dir: String,
    /// Device instances.
    #[serde(default, rename = "device")]
    pub devices: Vec<Device>,
}

impl Default for ModbusConfig {
    fn default() -> Self {
        ModbusConfig {
            templates_dir: default_templates_dir(),
            devices: Vec::new(),
        }
    }
}

fn default_templates_dir() -> String {
    "templates".into()
}

/// How a device is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    /// Modbus TCP.
    #[default]
    Tcp,
    /// Modbus RTU on a serial port.
    Rtu,
    /// Modbus RTU frames through a TCP serial gateway.
    RtuOverTcp,
}

/// One device: a template instantiated at an address for an asset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Device {
    /// Stable id, e.g. `ss-001-meter`.
    pub id: String,
    /// Template name (a file `<templates_dir>/<name>.toml`).
    pub template: String,
    /// Asset whose series the points feed.
    pub asset: String,
    /// Transport.
    #[serde(default)]
    pub transport: Transport,
    /// `host:port` for TCP and RTU-over-TCP, or a serial device path for RTU.
    pub address: String,
    /// Modbus unit (slave) id.
    #[serde(default = "default_unit_id")]
    pub unit_id: u8,
    /// Serial speed for RTU.
    #[serde(default)]
    pub baud: Option<u32>,
    /// Poll interval of fast points, ms.
    #[serde(default = "default_fast")]
    pub poll_ms: u64,
    /// Poll interval of slow points, ms.
    #[serde(default = "default_slow")]
    pub slow_poll_ms: u64,
    /// Request timeout, ms.
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
    /// Free tags written with every sample.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Largest gap of unused registers read to join two points into one request.
    #[serde(default = "default_max_hole")]
    pub max_hole: u16,
    /// Most registers in one request (the Modbus limit is 125).
    #[serde(default = "default_max_registers")]
    pub max_registers: u16,
    /// Most coils or discrete inputs in one request (the Modbus limit is 2000).
    #[serde(default = "default_max_bits")]
    pub max_bits: u16,
    /// Workaround: wait this long after connecting before the first request, ms.
    #[serde(default)]
    pub pause_after_connect_ms: u64,
    /// Workaround: wait this long between two requests, ms (slow serial devices).
    #[serde(default)]
    pub pause_between_requests_ms: u64,
    /// Workaround: read each point with its own request (devices that refuse block reads).
    #[serde(default)]
    pub one_point_per_request: bool,
    /// Workaround: close the connection after every poll (devices allowing one connection).
    #[serde(default)]
    pub close_after_poll: bool,
    /// Polls in a row that may fail before the device is flagged stale and an event raised.
    #[serde(default = "default_stale_after")]
    pub stale_after_polls: u32,
}

fn default_max_hole() -> u16 {
    10
}
fn default_max_registers() -> u16 {
    125
}
fn default_max_bits() -> u16 {
    2000
}
fn default_stale_after() -> u32 {
    3
}

fn default_unit_id() -> u8 {
    1
}
fn default_fast() -> u64 {
    10_000
}
fn default_slow() -> u64 {
    60_000
}
fn default_timeout() -> u64 {
    1_000
}

/// A register map, written once and shared by many devices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    /// Description, including the document the register map comes from.
    #[serde(default)]
    pub description: String,
    /// The points.
    #[serde(rename = "point")]
    pub points: Vec<PointDef>,
}

/// Modbus register table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegisterKind {
    /// Coils (function 1).
    Coil,
    /// Discrete inputs (function 2).
    Discrete,
    /// Input registers (function 4).
    Input,
    /// Holding registers (function 3).
    Holding,
}

/// How register words encode a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataType {
    /// One bit (coil, discrete input, or `bit` of a register).
    Bit,
    /// Signed 16-bit.
    I16,
    /// Unsigned 16-bit.
    U16,
    /// Signed 32-bit.
    I32,
    /// Unsigned 32-bit.
    U32,
    /// Signed 64-bit.
    I64,
    /// Unsigned 64-bit.
    U64,
    /// IEEE 754 single.
    F32,
    /// IEEE 754 double.
    F64,
    /// ASCII string of `length` registers.
    String,
}

impl DataType {
    /// Registers taken by one value (strings use the point's `length`).
    pub fn words(self) -> u16 {
        match self {
            DataType::Bit | DataType::I16 | DataType::U16 | DataType::String => 1,
            DataType::I32 | DataType::U32 | DataType::F32 => 2,
            DataType::I64 | DataType::U64 | DataType::F64 => 4,
        }
    }
}

/// Byte and word order of multi-register values, written with A as the most significant byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ByteOrder {
    /// Big-endian (Modbus standard).
    #[default]
    ABCD,
    /// Little-endian.
    DCBA,
    /// Bytes swapped in each word.
    BADC,
    /// Words swapped (common in PLCs).
    CDAB,
}

/// Fast or slow poll class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PollClass {
    /// Every `poll_ms`.
    #[default]
    Fast,
    /// Every `slow_poll_ms`.
    Slow,
}

/// One data point of a register map.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PointDef {
    /// Point name, unique in the template.
    pub name: String,
    /// Quantity the value is, or `device_status` for status words.
    pub quantity: Quantity,
    /// Unit the device reports in; ingest converts to the quantity's canonical unit.
    pub unit: Unit,
    /// Register table.
    pub register: RegisterKind,
    /// 0-based register address.
    pub address: u16,
    /// Data type.
    #[serde(rename = "type")]
    pub data_type: DataType,
    /// Byte/word order for multi-register types.
    #[serde(default)]
    pub order: ByteOrder,
    /// Registers of a string.
    #[serde(default)]
    pub length: Option<u16>,
    /// Bit index for `bit` points in a register.
    #[serde(default)]
    pub bit: Option<u8>,
    /// Multiplier applied to the raw value (value = raw × scale + offset).
    #[serde(default = "one_f")]
    pub scale: f64,
    /// Added after scaling.
    #[serde(default)]
    pub offset: f64,
    /// Raw values meaning "no value" (e.g. 65535); such readings are stored as `bad`.
    #[serde(default)]
    pub sentinels: Vec<f64>,
    /// Plausible range after scaling, in the declared unit; outside is `suspect`.
    #[serde(default)]
    pub min: Option<f64>,
    /// See `min`.
    #[serde(default)]
    pub max: Option<f64>,
    /// Register modulus of a counter (2^32 for a u32 register), for overflow detection.
    #[serde(default)]
    pub modulus: Option<f64>,
    /// Poll class.
    #[serde(default)]
    pub poll: PollClass,
    /// For status points: bit masks that set the quality of the other points of the device
    /// (`maintenance = 0x0001`, `calibration = 0x0002`, `bad = 0x0004`).
    #[serde(default)]
    pub status_bits: BTreeMap<String, u16>,
}

fn one_f() -> f64 {
    1.0
}

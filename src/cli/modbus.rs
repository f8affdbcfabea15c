//! `heatkpi modbus read`: read and decode once, for commissioning (like mbpoll, with heatkpi's
//! decoders, so what it prints is what the agent will store).

use super::{Failure, runtime_rt as runtime};
use crate::collect::modbus::point::PointValue;
use crate::config::modbus::{ByteOrder, DataType, Device, PointDef, RegisterKind, Transport};
use crate::model::{Quantity, Unit};
use clap::{Args, Subcommand};
use std::process::ExitCode;

/// Modbus tools.
#[derive(Debug, Subcommand)]
pub enum ModbusCommand {
    /// Read one value and print the raw registers and the decoded value.
    Read(ReadArgs),
}

/// `heatkpi modbus read`.
#[derive(Debug, Args)]
pub struct ReadArgs {
    /// `host:port` (TCP, RTU over TCP) or a serial device (RTU).
    #[arg(long)]
    address: String,
    /// Transport.
    #[arg(long, default_value = "tcp", value_parser = ["tcp", "rtu", "rtu-over-tcp"])]
    transport: String,
    /// Unit (slave) id.
    #[arg(long, default_value_t = 1)]
    unit: u8,
    /// Register table.
    #[arg(long, default_value = "holding", value_parser = ["holding", "input", "coil", "discrete"])]
    table: String,
    /// 0-based register address (holding register 40001 is 0).
    #[arg(long)]
    register: u16,
    /// Data type: bit, int16, uint16, int32, uint32, int64, uint64, float32, float64, string.
    #[arg(long = "type", default_value = "uint16")]
    data_type: String,
    /// Byte/word order of multi-register types: ABCD, DCBA, BADC, CDAB.
    #[arg(long, default_value = "ABCD")]
    order: String,
    /// Registers of a string.
    #[arg(long)]
    length: Option<u16>,
    /// Multiply the raw value by this.
    #[arg(long, default_value_t = 1.0)]
    scale: f64,
    /// Add this after scaling.
    #[arg(long, default_value_t = 0.0)]
    offset: f64,
    /// Serial speed (RTU).
    #[arg(long, default_value_t = 9600)]
    baud: u32,
    /// Timeout, ms.
    #[arg(long, default_value_t = 1000)]
    timeout_ms: u64,
}

fn data_type(s: &str) -> Result<DataType, Failure> {
    Ok(match s.to_ascii_lowercase().as_str() {
        "bit" | "bool" => DataType::Bit,
        "int16" | "i16" => DataType::I16,
        "uint16" | "u16" => DataType::U16,
        "int32" | "i32" => DataType::I32,
        "uint32" | "u32" => DataType::U32,
        "int64" | "i64" => DataType::I64,
        "uint64" | "u64" => DataType::U64,
        "float32" | "f32" => DataType::F32,
        "float64" | "f64" => DataType::F64,
        "string" => DataType::String,
        _ => {
            return Err(Failure::Input(format!(
                "--type {s}: write bit, int16, uint16, int32, uint32, int64, uint64, float32, float64 or string"
            )));
        }
    })
}

pub(super) fn run(cmd: ModbusCommand) -> Result<ExitCode, Failure> {
    let ModbusCommand::Read(a) = cmd;
    let order = match a.order.to_ascii_uppercase().as_str() {
        "ABCD" => ByteOrder::ABCD,
        "DCBA" => ByteOrder::DCBA,
        "BADC" => ByteOrder::BADC,
        "CDAB" => ByteOrder::CDAB,
        o => {
            return Err(Failure::Input(format!(
                "--order {o}: write ABCD, DCBA, BADC or CDAB"
            )));
        }
    };
    let register = match a.table.as_str() {
        "input" => RegisterKind::Input,
        "coil" => RegisterKind::Coil,
        "discrete" => RegisterKind::Discrete,
        _ => RegisterKind::Holding,
    };
    let transport = match a.transport.as_str() {
        "rtu" => Transport::Rtu,
        "rtu-over-tcp" => Transport::RtuOverTcp,
        _ => Transport::Tcp,
    };
    let dt = data_type(&a.data_type)?;
    if dt == DataType::String && a.length.is_none() {
        return Err(Failure::Input(
            "--type string needs --length (registers)".into(),
        ));
    }
    let point = PointDef {
        name: "value".into(),
        quantity: Quantity::DeviceStatus,
        unit: Unit::Flags,
        register,
        address: a.register,
        data_type: dt,
        order,
        length: a.length,
        bit: None,
        scale: a.scale,
        offset: a.offset,
        sentinels: vec![],
        min: None,
        max: None,
        modulus: None,
        poll: Default::default(),
        status_bits: Default::default(),
    };
    let device: Device = toml::from_str(&format!(
        "id = \"cli\"\ntemplate = \"cli\"\nasset = \"cli\"\naddress = {:?}\nunit_id = {}\nbaud = {}\ntimeout_ms = {}",
        a.address, a.unit, a.baud, a.timeout_ms
    ))
    .map_err(|e| Failure::Input(e.to_string()))?;
    let device = Device {
        transport,
        ..device
    };
    let rt = runtime()?;
    let (raw, value) = rt
        .block_on(crate::collect::modbus::poll::read_once(&device, &point))
        .map_err(|e| {
            Failure::Runtime(format!(
                "{} unit {} {:?} {}: {e}",
                a.address, a.unit, register, a.register
            ))
        })?;
    println!("raw: {raw}");
    match value {
        PointValue::Number(v) => println!("value: {v}"),
        PointValue::Sentinel => println!("value: (sentinel)"),
        PointValue::Text(t) => println!("value: {t:?}"),
    }
    Ok(ExitCode::SUCCESS)
}

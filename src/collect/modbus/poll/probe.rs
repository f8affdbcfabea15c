//! One connection to one device outside the agent's schedule: `heatkpi modbus read` for
//! commissioning, and the request-rate benchmark. It goes through the agent's own connect and
//! read path (timeouts, error kinds, short-response check), so what it shows is what the agent
//! gets.

use super::{Link, PollError, Raw, StatusBoard};
use crate::collect::modbus::plan::{ReadRequest, point_len};
use crate::collect::modbus::point::{PointValue, decode_point};
use crate::config::modbus::{Device, PointDef};
use std::time::Duration;

/// An open connection to one device.
pub struct Probe {
    link: Link,
    unit: u8,
    timeout: Duration,
}

impl Probe {
    /// Connect to `device` (its transport, address, unit id, baud and timeout).
    pub async fn connect(device: &Device) -> Result<Probe, PollError> {
        let mut link = Link {
            transport: device.transport,
            address: device.address.clone(),
            baud: device.baud.unwrap_or(9600),
            devices: Vec::new(),
            ctx: None,
            ingest: None,
            board: StatusBoard::default(),
        };
        let timeout = Duration::from_millis(device.timeout_ms.max(1));
        link.connect(device.unit_id, timeout).await?;
        Ok(Probe {
            link,
            unit: device.unit_id,
            timeout,
        })
    }

    /// One request. After a timeout or transport error the connection is dropped, as in the
    /// agent, and the next call fails with "not connected": open a new probe then.
    pub async fn read(&mut self, req: &ReadRequest) -> Result<Raw, PollError> {
        let r = self.link.read(self.unit, req, self.timeout).await;
        if r.as_ref().err().is_some_and(PollError::poisons_connection) {
            self.link.ctx = None;
        }
        r
    }
}

/// Read and decode one point once (commissioning: `heatkpi modbus read`).
pub async fn read_once(device: &Device, point: &PointDef) -> Result<(Raw, PointValue), PollError> {
    let mut probe = Probe::connect(device).await?;
    let req = ReadRequest {
        register: point.register,
        class: point.poll,
        start: point.address,
        count: point_len(point),
        points: vec![0],
    };
    let raw = probe.read(&req).await?;
    let value = decode_point(point, raw.slice(&req, point)).map_err(PollError::Decode)?;
    Ok((raw, value))
}

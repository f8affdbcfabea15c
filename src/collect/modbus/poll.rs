//! Polling: one task per link (a TCP device, a serial bus, or an RTU-over-TCP gateway). A link
//! polls its devices strictly in sequence; every request has a timeout (the client has none of
//! its own); after a timeout or transport error the connection is dropped and re-opened, since a
//! late reply would otherwise be read as the answer to the next request (tokio-modbus #324).
//! A failing device backs off exponentially on its own, so a dead slave never stalls the other
//! devices on its bus, and devices on other links are not affected at all.
//!
//! A failed poll is never silent: its points get `bad` readings (gap markers), the error is
//! counted by kind, and after `stale_after_polls` failures in a row a `device_unreachable`
//! event opens, closed when the device answers again.

use super::lateness::Lateness;
use super::plan::{PlanOptions, ReadRequest, is_bit_table, plan};
use super::point::{PointValue, StatusEffect, decode_point, status_effect};
use crate::config::modbus::{Device, PollClass, RegisterKind, Template, Transport};
use crate::ingest::Reading;
use crate::ingest::pipeline::IngestHandle;
use crate::model::{Quality, SeriesKey, TimestampMs};
use crate::store::EventRecord;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_modbus::client::{Context, Reader};
use tokio_modbus::prelude::*;

mod probe;
pub use probe::{Probe, read_once};

/// How a request failed; kept apart all the way to logs and metrics.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PollError {
    /// No answer within the timeout.
    #[error("timeout after {0} ms")]
    Timeout(u64),
    /// The device answered with a Modbus exception.
    #[error("exception {0}")]
    Exception(String),
    /// Connection refused, reset or closed; or a mismatched reply.
    #[error("transport: {0}")]
    Transport(String),
    /// The reply could not be decoded (short response, garbage).
    #[error("decode: {0}")]
    Decode(String),
}

impl PollError {
    /// Metric label of the error kind.
    pub fn kind(&self) -> &'static str {
        match self {
            PollError::Timeout(_) => "timeout",
            PollError::Exception(_) => "exception",
            PollError::Transport(_) => "transport",
            PollError::Decode(_) => "decode",
        }
    }

    /// Whether the connection must be dropped afterwards.
    fn poisons_connection(&self) -> bool {
        matches!(self, PollError::Timeout(_) | PollError::Transport(_))
    }
}

/// What the operator sees of one device.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct DeviceStatus {
    /// Device id.
    pub id: String,
    /// Last successful poll (UTC ms).
    pub last_success: Option<TimestampMs>,
    /// Failed polls in a row.
    pub failures_in_row: u32,
    /// Whether the device is flagged stale (unreachable for `stale_after_polls` polls).
    pub stale: bool,
    /// Last error, if the last poll failed.
    pub last_error: Option<String>,
    /// Polls done.
    pub polls: u64,
    /// Points read.
    pub points: u64,
    /// Errors by kind: timeout, exception, transport, decode.
    pub errors: std::collections::BTreeMap<String, u64>,
    /// How late polls started against their schedule (the first poll after start excluded).
    pub poll_lateness: Lateness,
}

/// Shared status of every device, for the CLI summary and the web page.
pub type StatusBoard = Arc<Mutex<Vec<DeviceStatus>>>;

/// One device on a link, with its plan and back-off state.
struct DevicePoller {
    device: Device,
    template: Arc<Template>,
    requests: Vec<ReadRequest>,
    next_fast: Instant,
    next_slow: Instant,
    backoff_until: Option<Instant>,
    backoff: Duration,
    board_index: usize,
    open_event: Option<(String, TimestampMs)>,
    /// Whether the device has been polled since start (the first poll has no schedule to miss).
    polled: bool,
    /// Lateness of the poll under way, handed to the status board with its results.
    lateness: Option<Duration>,
}

/// A connection shared by the devices behind it.
pub struct Link {
    transport: Transport,
    address: String,
    baud: u32,
    devices: Vec<DevicePoller>,
    ctx: Option<Context>,
    ingest: Option<IngestHandle>,
    board: StatusBoard,
}

fn now_ms() -> TimestampMs {
    chrono::Utc::now().timestamp_millis()
}

const MAX_BACKOFF: Duration = Duration::from_secs(60);

impl Link {
    /// Group devices into links: each TCP device is a link of its own; RTU devices on the same
    /// serial port, and RTU-over-TCP devices behind the same gateway, share one.
    ///
    /// First polls are spread evenly over the first interval (at most one second), device by
    /// device, so a thousand devices with the same interval do not all poll at the same instant
    /// every second: that burst would make the last ones late and load gateways unevenly.
    pub fn build(
        devices: &[Device],
        templates: &std::collections::BTreeMap<String, Template>,
        ingest: IngestHandle,
        board: StatusBoard,
    ) -> Vec<Link> {
        let mut links: Vec<Link> = Vec::new();
        let start = Instant::now();
        let n = devices.len().max(1) as u32;
        for (k, d) in devices.iter().enumerate() {
            let Some(t) = templates.get(&d.template) else {
                tracing::error!(device = %d.id, template = %d.template, "template not loaded; device skipped (run check-config)");
                continue;
            };
            let opts = PlanOptions {
                max_hole: d.max_hole,
                max_registers: d.max_registers,
                max_bits: d.max_bits,
                one_point_per_request: d.one_point_per_request,
            };
            let board_index = {
                let mut b = board.lock().unwrap_or_else(|e| e.into_inner());
                b.push(DeviceStatus {
                    id: d.id.clone(),
                    ..Default::default()
                });
                b.len() - 1
            };
            let poller = DevicePoller {
                requests: plan(&t.points, opts),
                template: Arc::new(t.clone()),
                device: d.clone(),
                next_fast: start + stagger(d.poll_ms, k as u32, n),
                next_slow: start + stagger(d.slow_poll_ms, k as u32, n),
                backoff_until: None,
                backoff: Duration::from_secs(1),
                board_index,
                open_event: None,
                polled: false,
                lateness: None,
            };
            let shared = d.transport != Transport::Tcp;
            match links
                .iter_mut()
                .find(|l| shared && l.transport == d.transport && l.address == d.address)
            {
                Some(l) => l.devices.push(poller),
                None => links.push(Link {
                    transport: d.transport,
                    address: d.address.clone(),
                    baud: d.baud.unwrap_or(9600),
                    devices: vec![poller],
                    ctx: None,
                    ingest: Some(ingest.clone()),
                    board: board.clone(),
                }),
            }
        }
        links
    }

    /// Poll forever (until the task is dropped).
    pub async fn run(mut self) {
        loop {
            let now = Instant::now();
            let mut next_wake = now + Duration::from_secs(3600);
            for i in 0..self.devices.len() {
                let (due_fast, due_slow, backing_off) = {
                    let d = &self.devices[i];
                    (
                        d.next_fast <= now,
                        d.next_slow <= now,
                        d.backoff_until.is_some_and(|t| t > now),
                    )
                };
                if due_fast || due_slow {
                    self.poll_device(i, due_fast, due_slow, backing_off).await;
                }
                let d = &mut self.devices[i];
                next_wake = next_wake.min(d.next_fast).min(d.next_slow);
            }
            tokio::time::sleep_until(tokio::time::Instant::from_std(next_wake)).await;
        }
    }

    async fn connect(&mut self, unit: u8, timeout: Duration) -> Result<(), PollError> {
        if self.ctx.is_some() {
            return Ok(());
        }
        let slave = Slave(unit);
        let fut = async {
            match self.transport {
                Transport::Tcp | Transport::RtuOverTcp => {
                    let addr = tokio::net::lookup_host(&self.address)
                        .await
                        .map_err(|e| PollError::Transport(format!("{}: {e}", self.address)))?
                        .next()
                        .ok_or_else(|| {
                            PollError::Transport(format!("{}: no address", self.address))
                        })?;
                    if self.transport == Transport::Tcp {
                        tcp::connect_slave(addr, slave)
                            .await
                            .map_err(|e| PollError::Transport(format!("connect {addr}: {e}")))
                    } else {
                        let stream = tokio::net::TcpStream::connect(addr)
                            .await
                            .map_err(|e| PollError::Transport(format!("connect {addr}: {e}")))?;
                        Ok(rtu::attach_slave(stream, slave))
                    }
                }
                Transport::Rtu => {
                    let builder = tokio_serial::new(&self.address, self.baud);
                    let port = tokio_serial::SerialStream::open(&builder)
                        .map_err(|e| PollError::Transport(format!("open {}: {e}", self.address)))?;
                    Ok(rtu::attach_slave(port, slave))
                }
            }
        };
        let ctx = tokio::time::timeout(timeout, fut)
            .await
            .map_err(|_| PollError::Timeout(timeout.as_millis() as u64))??;
        self.ctx = Some(ctx);
        Ok(())
    }

    async fn read(
        &mut self,
        unit: u8,
        req: &ReadRequest,
        timeout: Duration,
    ) -> Result<Raw, PollError> {
        let ctx = self
            .ctx
            .as_mut()
            .ok_or_else(|| PollError::Transport("not connected".into()))?;
        ctx.set_slave(Slave(unit));
        let to_ms = timeout.as_millis() as u64;
        macro_rules! call {
            ($f:ident, $wrap:expr) => {
                match tokio::time::timeout(timeout, ctx.$f(req.start, req.count)).await {
                    Err(_) => Err(PollError::Timeout(to_ms)),
                    Ok(Err(e)) => Err(PollError::Transport(e.to_string())),
                    Ok(Ok(Err(exc))) => Err(PollError::Exception(format!("{exc:?}"))),
                    Ok(Ok(Ok(v))) => Ok($wrap(v)),
                }
            };
        }
        let raw = match req.register {
            RegisterKind::Coil => call!(read_coils, Raw::Bits),
            RegisterKind::Discrete => call!(read_discrete_inputs, Raw::Bits),
            RegisterKind::Holding => call!(read_holding_registers, Raw::Words),
            RegisterKind::Input => call!(read_input_registers, Raw::Words),
        }?;
        let got = match &raw {
            Raw::Bits(b) => b.len(),
            Raw::Words(w) => w.len(),
        };
        if got < req.count as usize {
            return Err(PollError::Decode(format!(
                "short response: {got} of {} {} at {}",
                req.count,
                if is_bit_table(req.register) {
                    "bits"
                } else {
                    "registers"
                },
                req.start
            )));
        }
        Ok(raw)
    }

    async fn poll_device(&mut self, i: usize, due_fast: bool, due_slow: bool, backing_off: bool) {
        let (unit, timeout, fast, slow, pause_connect, pause_between, close_after) = {
            let d = &self.devices[i].device;
            (
                d.unit_id,
                Duration::from_millis(d.timeout_ms.max(1)),
                Duration::from_millis(d.poll_ms.max(1)),
                Duration::from_millis(d.slow_poll_ms.max(1)),
                Duration::from_millis(d.pause_after_connect_ms),
                Duration::from_millis(d.pause_between_requests_ms),
                d.close_after_poll,
            )
        };
        {
            // Keep the cadence: the next poll is one interval after the scheduled one, not after
            // this poll finished, so slow answers do not drift the schedule.
            let now = Instant::now();
            let d = &mut self.devices[i];
            let scheduled = match (due_fast, due_slow) {
                (true, true) => d.next_fast.min(d.next_slow),
                (true, false) => d.next_fast,
                _ => d.next_slow,
            };
            d.lateness = d.polled.then(|| now.saturating_duration_since(scheduled));
            d.polled = true;
            if due_fast {
                d.next_fast = next_tick(d.next_fast, fast, now);
            }
            if due_slow {
                d.next_slow = next_tick(d.next_slow, slow, now);
            }
        }
        let ts = now_ms();
        let wanted: Vec<usize> = self.devices[i]
            .requests
            .iter()
            .enumerate()
            .filter(|(_, r)| match r.class {
                PollClass::Fast => due_fast,
                PollClass::Slow => due_slow,
            })
            .map(|(k, _)| k)
            .collect();
        let mut results: Vec<(usize, Result<Raw, PollError>)> = Vec::new();
        if backing_off {
            for k in wanted {
                results.push((
                    k,
                    Err(PollError::Transport("backing off after errors".into())),
                ));
            }
        } else {
            let was_connected = self.ctx.is_some();
            match self.connect(unit, timeout).await {
                Err(e) => {
                    for k in wanted {
                        results.push((k, Err(e.clone())));
                    }
                }
                Ok(()) => {
                    if !was_connected && !pause_connect.is_zero() {
                        tokio::time::sleep(pause_connect).await;
                    }
                    for (n, k) in wanted.into_iter().enumerate() {
                        if n > 0 && !pause_between.is_zero() {
                            tokio::time::sleep(pause_between).await;
                        }
                        let req = self.devices[i].requests[k].clone();
                        let started = Instant::now();
                        let r = self.read(unit, &req, timeout).await;
                        metrics::histogram!("heatkpi_modbus_request_seconds", "device" => self.devices[i].device.id.clone())
                            .record(started.elapsed().as_secs_f64());
                        let poisoned = r.as_ref().err().is_some_and(PollError::poisons_connection);
                        results.push((k, r));
                        if poisoned {
                            self.ctx = None;
                            break;
                        }
                    }
                    if close_after && let Some(mut c) = self.ctx.take() {
                        let _ = c.disconnect().await;
                    }
                }
            }
        }
        self.deliver(i, ts, results).await;
    }

    async fn deliver(
        &mut self,
        i: usize,
        ts: TimestampMs,
        results: Vec<(usize, Result<Raw, PollError>)>,
    ) {
        let d = &mut self.devices[i];
        let id = d.device.id.clone();
        let points = &d.template.points;
        // Status words first: their bits set the quality of the device's other points.
        let mut effect = StatusEffect::None;
        for (k, r) in &results {
            if let Ok(raw) = r {
                for &pi in &d.requests[*k].points {
                    let p = &points[pi];
                    if !p.status_bits.is_empty()
                        && let Ok(PointValue::Number(v)) =
                            decode_point(p, raw.slice(&d.requests[*k], p))
                    {
                        effect = effect.max(status_effect(p, v));
                    }
                }
            }
        }
        let mut readings = Vec::new();
        let mut errors: Vec<PollError> = Vec::new();
        let mut ok_points = 0u64;
        for (k, r) in &results {
            let req = &d.requests[*k];
            match r {
                Ok(raw) => {
                    for &pi in &req.points {
                        let p = &points[pi];
                        let series = SeriesKey::new(d.device.asset.clone(), p.quantity);
                        let (value, quality) = match decode_point(p, raw.slice(req, p)) {
                            Ok(PointValue::Number(v)) => (
                                v,
                                if p.status_bits.is_empty() {
                                    effect.quality()
                                } else {
                                    Quality::Good
                                },
                            ),
                            Ok(PointValue::Sentinel) => (f64::NAN, Quality::Bad),
                            Ok(PointValue::Text(_)) => continue, // strings (serial numbers) are not samples
                            Err(e) => {
                                errors.push(PollError::Decode(format!(
                                    "{} at {:?} {}: {e}",
                                    p.name, p.register, p.address
                                )));
                                (f64::NAN, Quality::Bad)
                            }
                        };
                        ok_points += 1;
                        readings.push(Reading {
                            series,
                            ts,
                            value,
                            unit: p.unit,
                            quality,
                        });
                    }
                }
                Err(e) => {
                    errors.push(e.clone());
                    for &pi in &req.points {
                        let p = &points[pi];
                        if p.data_type == crate::config::modbus::DataType::String {
                            continue;
                        }
                        readings.push(Reading {
                            series: SeriesKey::new(d.device.asset.clone(), p.quantity),
                            ts,
                            value: f64::NAN,
                            unit: p.unit,
                            quality: Quality::Bad,
                        });
                    }
                }
            }
        }
        let failed = results.iter().any(|(_, r)| r.is_err());
        for e in &errors {
            metrics::counter!("heatkpi_modbus_errors_total", "device" => id.clone(), "kind" => e.kind()).increment(1);
        }
        metrics::counter!("heatkpi_modbus_points_total", "device" => id.clone())
            .increment(ok_points);
        let stale_after = d.device.stale_after_polls.max(1);
        let mut event = None;
        {
            let mut board = self.board.lock().unwrap_or_else(|e| e.into_inner());
            let st = &mut board[d.board_index];
            st.polls += 1;
            st.points += ok_points;
            if let Some(late) = d.lateness.take() {
                st.poll_lateness.record(late);
            }
            for e in &errors {
                *st.errors.entry(e.kind().to_string()).or_default() += 1;
            }
            if failed {
                st.failures_in_row += 1;
                st.last_error = errors.first().map(|e| e.to_string());
                let backing_off = matches!(errors.first(), Some(PollError::Transport(m)) if m.starts_with("backing off"));
                if !backing_off {
                    tracing::warn!(device = %id, address = %d.device.address, unit = d.device.unit_id,
                        failures = st.failures_in_row, "poll failed: {}", st.last_error.as_deref().unwrap_or(""));
                    d.backoff_until = Some(Instant::now() + d.backoff);
                    d.backoff = (d.backoff * 2).min(MAX_BACKOFF);
                }
                if st.failures_in_row >= stale_after && !st.stale {
                    st.stale = true;
                    let since = st.last_success.unwrap_or(ts);
                    let eid = format!("device_unreachable:{id}:{since}");
                    d.open_event = Some((eid.clone(), since));
                    event = Some(EventRecord {
                        id: eid,
                        kind: "device_unreachable".into(),
                        subject: d.device.asset.clone(),
                        start: since,
                        end: None,
                        body: serde_json::json!({
                            "device": id, "address": d.device.address, "unit_id": d.device.unit_id,
                            "error": st.last_error, "standard": "data completeness (domain §0.4)",
                            "explanation": "the device stopped answering; its readings are bad-quality gaps until it answers again",
                        }),
                    });
                }
            } else {
                st.failures_in_row = 0;
                st.last_error = None;
                st.last_success = Some(ts);
                d.backoff = Duration::from_secs(1);
                d.backoff_until = None;
                if st.stale {
                    st.stale = false;
                    if let Some((eid, since)) = d.open_event.take() {
                        tracing::info!(device = %id, "device answers again");
                        event = Some(EventRecord {
                            id: eid,
                            kind: "device_unreachable".into(),
                            subject: d.device.asset.clone(),
                            start: since,
                            end: Some(ts),
                            body: serde_json::json!({"device": id, "address": d.device.address, "unit_id": d.device.unit_id,
                                "standard": "data completeness (domain §0.4)",
                                "explanation": "the device did not answer during this interval"}),
                        });
                    }
                }
            }
            metrics::gauge!("heatkpi_modbus_stale", "device" => id.clone()).set(if st.stale {
                1.0
            } else {
                0.0
            });
        }
        let Some(ingest) = &self.ingest else { return };
        if let Some(e) = event {
            let _ = ingest.send_event(e);
        }
        if !readings.is_empty() && ingest.send(readings).await.is_err() {
            tracing::error!(device = %id, "ingest pipeline closed; readings of this poll are lost");
        }
    }
}

impl std::fmt::Display for Raw {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Raw::Bits(b) => {
                let s: Vec<&str> = b.iter().map(|x| if *x { "1" } else { "0" }).collect();
                write!(f, "{}", s.join(" "))
            }
            Raw::Words(w) => {
                let s: Vec<String> = w.iter().map(|x| format!("0x{x:04X}")).collect();
                write!(f, "{}", s.join(" "))
            }
        }
    }
}

/// Offset of the `k`-th of `n` devices' first poll: an even share of its interval, capped at
/// one second so that slowly polled devices still answer soon after start, and rounded down
/// to 10 ms slots: devices sharing a slot poll on one timer wake-up, so a thousand devices
/// wake the runtime 100 times a second rather than 1,000.
fn stagger(interval_ms: u64, k: u32, n: u32) -> Duration {
    const SLOT_MS: u64 = 10;
    let ms = interval_ms.clamp(1, 1000) * u64::from(k) / u64::from(n.max(1));
    Duration::from_millis(ms / SLOT_MS * SLOT_MS)
}

/// The next schedule tick after `now`, skipping missed ticks instead of bursting.
fn next_tick(prev: Instant, every: Duration, now: Instant) -> Instant {
    let mut next = prev + every;
    if next <= now {
        let behind = now.duration_since(prev).as_nanos() / every.as_nanos().max(1);
        next = prev + every * (behind as u32 + 1);
    }
    next
}

/// Raw reply of one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Raw {
    /// Coils or discrete inputs.
    Bits(Vec<bool>),
    /// Registers.
    Words(Vec<u16>),
}

/// The part of a reply that belongs to one point.
#[derive(Debug, Clone, Copy)]
pub enum RawSlice<'a> {
    /// Bits.
    Bits(&'a [bool]),
    /// Registers.
    Words(&'a [u16]),
}

impl Raw {
    fn slice<'a>(&'a self, req: &ReadRequest, p: &crate::config::modbus::PointDef) -> RawSlice<'a> {
        let off = (p.address - req.start) as usize;
        let len = super::plan::point_len(p) as usize;
        match self {
            Raw::Bits(b) => RawSlice::Bits(b.get(off..off + len).unwrap_or(&[])),
            Raw::Words(w) => RawSlice::Words(w.get(off..off + len).unwrap_or(&[])),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_polls_are_spread_over_at_most_a_second() {
        // 1 s interval, 1,000 devices: device k starts k ms after the first, rounded down to
        // 10 ms slots (devices 250–259 share the 250 ms slot; 999 is in the 990 ms one).
        assert_eq!(stagger(1000, 0, 1000), Duration::ZERO);
        assert_eq!(stagger(1000, 250, 1000), Duration::from_millis(250));
        assert_eq!(stagger(1000, 259, 1000), Duration::from_millis(250));
        assert_eq!(stagger(1000, 999, 1000), Duration::from_millis(990));
        // 200 ms interval, 4 devices: 0, 50, 100, 150 ms.
        assert_eq!(stagger(200, 3, 4), Duration::from_millis(150));
        // 60 s interval: spread over the first second only (3rd of 4: 750 ms, not 45 s).
        assert_eq!(stagger(60_000, 3, 4), Duration::from_millis(750));
        // 3 devices at 1 s: 333.3 ms → 330 ms, 666.7 ms → 660 ms.
        assert_eq!(stagger(1000, 2, 3), Duration::from_millis(660));
    }

    #[test]
    fn ticks_keep_cadence_and_skip_missed() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        assert_eq!(next_tick(t0, s, t0 + Duration::from_millis(300)), t0 + s);
        // 3.5 s late: next tick is the 4th, not a burst of the missed ones
        assert_eq!(
            next_tick(t0, s, t0 + Duration::from_millis(3500)),
            t0 + s * 4
        );
    }
}

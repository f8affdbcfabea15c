//! The simulated utility served over Modbus TCP (tokio-modbus `tcp-server`).
//!
//! One listener per distinct device address (or one for all, `ServeOptions::listen`), each
//! answering many unit ids like a gateway: a read for an unknown unit id gets exception 0x0B
//! (gateway target device failed to respond). A device in a `no_response` fault gets no answer
//! at all, so the client times out; an `exception` fault answers with its code. Images are
//! rebuilt after every simulation step; reads never wait for the simulation.
//!
//! With `[simulator.mqtt]`, the same steps feed the simulated AMR gateway ([`super::mqtt`]):
//! the selected substations' meters publish telegrams on the simulated clock. Meters that exist
//! only for the gateway (no `[[modbus.device]]`) are not served over Modbus.

use super::SimError;
use super::engine::{SimSetup, Simulation};
use super::event_truth::events_truth;
use super::faults::Silence;
use super::mqtt::{AmrMeter, AmrStats, Feed, Publisher};
use super::registers::Image;
use super::truth::EventTruth;
use crate::config::Settings;
use crate::config::modbus::{RegisterKind, Template};
use crate::model::{Quality, Quantity, TimestampMs, Unit};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_modbus::server::tcp::{Server, accept_tcp_connection};
use tokio_modbus::{ExceptionCode, Request, Response, SlaveRequest};

/// How to serve.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// Serve every device on this one address (by unit id), instead of each device's own
    /// `address`. Tests use `127.0.0.1:0`.
    pub listen: Option<SocketAddr>,
    /// Simulated seconds per wall second; defaults to `[simulator] speed`. 0 stops the clock
    /// (the simulation then moves only through [`SimHandle::advance`]).
    pub speed: Option<f64>,
    /// The simulated instant served first, UTC ms; defaults to `[simulator] start`, else now.
    pub start_ms: Option<TimestampMs>,
    /// Where the simulation begins, UTC ms; defaults to local midnight on the 1st of the start's
    /// month. The simulation runs quickly from here to `start_ms`, so registers and the month's
    /// scenario continue exactly what `history` writes for the same month, seed and step.
    /// Tests set it to `start_ms` to skip the run-up.
    pub anchor_ms: Option<TimestampMs>,
    /// Seed; defaults to `[simulator] seed`.
    pub seed: Option<u64>,
    /// Simulated seconds per step; defaults to `[simulator] step_s` (as history).
    pub step_s: Option<u32>,
}

/// Where a device is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Listener address.
    pub addr: SocketAddr,
    /// Unit id.
    pub unit_id: u8,
    /// Asset id.
    pub asset: String,
    /// Template name.
    pub template: String,
}

/// One point as the device shows it now.
#[derive(Debug, Clone, PartialEq)]
pub struct PointValue {
    /// Point name.
    pub name: String,
    /// Quantity.
    pub quantity: Quantity,
    /// Unit of `value`.
    pub unit: Unit,
    /// Shown value (NaN: no value).
    pub value: f64,
    /// Whether the register holds a sentinel.
    pub sentinel: bool,
    /// Quality a collector should assign.
    pub quality: Quality,
}

struct Shared {
    sim: Mutex<Simulation>,
    images: RwLock<Vec<Image>>,
    /// Per listener: unit id → device index.
    units: Vec<HashMap<u8, usize>>,
    /// The AMR gateway's side of the simulation, when `[simulator.mqtt]` is configured.
    amr: Option<Feed>,
}

impl Shared {
    /// One simulation step, and the telegrams due at its instant.
    fn step(&self, sim: &mut Simulation) {
        sim.advance();
        if let Some(amr) = &self.amr {
            amr.after_step(sim);
        }
    }

    fn refresh(&self, sim: &Simulation) {
        let mut images = self.images.write().unwrap_or_else(|p| p.into_inner());
        for (img, d) in images.iter_mut().zip(&sim.devices) {
            img.fill(d);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Simulation> {
        self.sim.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running simulated utility. Dropping it stops nothing; call [`SimHandle::shutdown`].
pub struct SimHandle {
    shared: Arc<Shared>,
    listeners: Vec<SocketAddr>,
    devices: BTreeMap<String, DeviceInfo>,
    tasks: Vec<JoinHandle<()>>,
    publisher: Option<Publisher>,
}

#[derive(Clone)]
struct Service {
    shared: Arc<Shared>,
    listener: usize,
}

impl tokio_modbus::server::Service for Service {
    type Request = SlaveRequest<'static>;
    type Response = Option<Response>;
    type Exception = ExceptionCode;
    type Future = std::future::Ready<Result<Option<Response>, ExceptionCode>>;

    fn call(&self, req: Self::Request) -> Self::Future {
        std::future::ready(self.answer(req))
    }
}

impl Service {
    fn answer(&self, req: SlaveRequest<'static>) -> Result<Option<Response>, ExceptionCode> {
        let units = &self.shared.units[self.listener];
        // A listener with a single device answers any unit id, as a plain TCP device does.
        let dev = match units.get(&req.slave) {
            Some(&d) => d,
            None if units.len() == 1 => *units
                .values()
                .next()
                .ok_or(ExceptionCode::GatewayTargetDevice)?,
            None => return Err(ExceptionCode::GatewayTargetDevice),
        };
        let images = self.shared.images.read().unwrap_or_else(|p| p.into_inner());
        let img = images.get(dev).ok_or(ExceptionCode::GatewayTargetDevice)?;
        match img.silence {
            Some(Silence::NoResponse) => return Ok(None),
            Some(Silence::Exception(code)) => return Err(ExceptionCode::new(code)),
            None => {}
        }
        let r = match req.request {
            Request::ReadHoldingRegisters(a, n) => {
                Response::ReadHoldingRegisters(img.read_words(RegisterKind::Holding, a, n)?)
            }
            Request::ReadInputRegisters(a, n) => {
                Response::ReadInputRegisters(img.read_words(RegisterKind::Input, a, n)?)
            }
            Request::ReadCoils(a, n) => {
                Response::ReadCoils(img.read_bits(RegisterKind::Coil, a, n)?)
            }
            Request::ReadDiscreteInputs(a, n) => {
                Response::ReadDiscreteInputs(img.read_bits(RegisterKind::Discrete, a, n)?)
            }
            // The simulated devices are read-only, like meters on a billing bus.
            _ => return Err(ExceptionCode::IllegalFunction),
        };
        Ok(Some(r))
    }
}

/// Start the simulated utility of `settings` and serve every configured device whose asset is
/// simulated over Modbus TCP, with register maps from `templates`; with `[simulator.mqtt]`,
/// also publish the selected substations' meter telegrams to its broker.
pub async fn serve(
    settings: &Settings,
    templates: &BTreeMap<String, Template>,
    opts: ServeOptions,
) -> Result<SimHandle, SimError> {
    let cfg = settings.simulator.clone().unwrap_or_default();
    let step_s = opts.step_s.unwrap_or(cfg.step_s);
    let step_ms = i64::from(step_s) * 1000;
    let tz: chrono_tz::Tz = settings.site.timezone.parse().map_err(|_| {
        SimError::Config(format!(
            "site.timezone `{}` is not an IANA time zone",
            settings.site.timezone
        ))
    })?;
    let start = match (opts.start_ms, &cfg.start) {
        (Some(t), _) => t,
        (None, Some(s)) => crate::model::time::parse_instant(tz, s)
            .map_err(|e| SimError::Config(format!("simulator.start: {e}")))?,
        (None, None) => chrono::Utc::now().timestamp_millis(),
    };
    let start = start - start.rem_euclid(step_ms.max(1));
    let anchor = opts.anchor_ms.unwrap_or_else(|| {
        let day = crate::model::time::local_date(tz, start);
        let first = chrono::Datelike::with_day(&day, 1).unwrap_or(day);
        crate::model::time::local_midnight(tz, first)
    });
    let setup = SimSetup {
        seed: opts.seed.unwrap_or(cfg.seed),
        step_s,
        start_ms: anchor.min(start),
        substations: None,
        synthesize: false,
        amr_meters: true,
        months: super::engine::SCENARIO_MONTHS,
    };
    let mut sim = Simulation::new(settings, templates, &setup)?;
    // Run up to the start as history would, so the first values served continue it.
    while sim.ts + step_ms <= start {
        sim.advance();
    }
    let (amr, publisher) = match &cfg.mqtt {
        Some(m) => {
            let (feed, publisher) = super::mqtt::start(m, &sim, setup.seed, step_ms)?;
            (Some(feed), Some(publisher))
        }
        None => (None, None),
    };
    // Meters made up for the AMR gateway have no address: they are not on Modbus.
    let served = |d: &&super::devices::SimDevice| !d.address.is_empty();
    if !sim.devices.iter().any(|d| served(&d)) && amr.is_none() {
        return Err(SimError::Config(
            "no [[modbus.device]] refers to a simulated asset; nothing to serve".into(),
        ));
    }
    // Group devices by listener address.
    let listen = opts.listen.map(|a| a.to_string()).or(cfg.listen.clone());
    let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
    for (i, d) in sim.devices.iter().enumerate().filter(|(_, d)| served(d)) {
        let addr = listen.clone().unwrap_or_else(|| d.address.clone());
        match groups.iter_mut().find(|g| g.0 == addr) {
            Some(g) => g.1.push(i),
            None => groups.push((addr, vec![i])),
        }
    }
    let mut listeners = Vec::new();
    let mut bound = Vec::new();
    let mut units = Vec::new();
    let mut devices = BTreeMap::new();
    for (addr, ids) in &groups {
        let l = TcpListener::bind(addr.as_str())
            .await
            .map_err(|source| SimError::Bind {
                addr: addr.clone(),
                source,
            })?;
        let local = l.local_addr().map_err(|source| SimError::Bind {
            addr: addr.clone(),
            source,
        })?;
        let mut map = HashMap::new();
        for &i in ids {
            let d = &sim.devices[i];
            if let Some(other) = map.insert(d.unit_id, i) {
                return Err(SimError::Config(format!(
                    "devices `{}` and `{}` share unit id {} on {addr}; give each its own unit_id",
                    sim.devices[other].id, d.id, d.unit_id
                )));
            }
            devices.insert(
                d.id.clone(),
                DeviceInfo {
                    addr: local,
                    unit_id: d.unit_id,
                    asset: d.asset.clone(),
                    template: d.template.clone(),
                },
            );
        }
        units.push(map);
        listeners.push(local);
        bound.push(l);
    }
    let images = sim.devices.iter().map(Image::for_device).collect();
    let shared = Arc::new(Shared {
        sim: Mutex::new(sim),
        images: RwLock::new(images),
        units,
        amr,
    });
    shared.refresh(&shared.lock());
    let mut tasks = Vec::new();
    for (i, l) in bound.into_iter().enumerate() {
        let svc = Service {
            shared: shared.clone(),
            listener: i,
        };
        let addr = listeners[i];
        tasks.push(tokio::spawn(async move {
            let server = Server::new(l);
            let new_service = move |_peer| Ok(Some(svc.clone()));
            let on_connected = move |stream, peer| {
                let new_service = new_service.clone();
                async move { accept_tcp_connection(stream, peer, new_service) }
            };
            if let Err(e) = server
                .serve(
                    &on_connected,
                    move |e| tracing::debug!(%addr, "modbus connection: {e}"),
                )
                .await
            {
                tracing::error!(%addr, "modbus listener stopped: {e}");
            }
        }));
    }
    let speed = opts.speed.unwrap_or(cfg.speed);
    if speed > 0.0 {
        tasks.push(tokio::spawn(run_clock(shared.clone(), speed, step_ms)));
    }
    tracing::info!(listeners = ?listeners, devices = devices.len(), speed, "simulated utility serving");
    Ok(SimHandle {
        shared,
        listeners,
        devices,
        tasks,
        publisher,
    })
}

/// Step the simulation in (accelerated) real time. Ticks at least every 50 ms of wall time and
/// takes as many steps as the speed asks for, so fast-forward does not depend on timer
/// resolution.
async fn run_clock(shared: Arc<Shared>, speed: f64, step_ms: i64) {
    let wall_per_step_ms = step_ms as f64 / speed;
    let tick_ms = wall_per_step_ms.clamp(50.0, 60_000.0);
    let mut interval = tokio::time::interval(Duration::from_secs_f64(tick_ms / 1000.0));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    interval.tick().await;
    let origin = tokio::time::Instant::now();
    let mut done: u64 = 0;
    loop {
        interval.tick().await;
        let due = (origin.elapsed().as_secs_f64() * 1000.0 / wall_per_step_ms) as u64;
        if due <= done {
            continue;
        }
        let mut sim = shared.lock();
        while done < due {
            shared.step(&mut sim);
            done += 1;
        }
        shared.refresh(&sim);
    }
}

impl SimHandle {
    /// The addresses being listened on.
    pub fn listen_addrs(&self) -> &[SocketAddr] {
        &self.listeners
    }

    /// Where device `id` is served.
    pub fn device(&self, id: &str) -> Option<&DeviceInfo> {
        self.devices.get(id)
    }

    /// Every served device by id.
    pub fn devices(&self) -> &BTreeMap<String, DeviceInfo> {
        &self.devices
    }

    /// The simulated instant the registers show.
    pub fn sim_time(&self) -> TimestampMs {
        self.shared.lock().ts
    }

    /// Move the simulation `steps` steps forward now (any speed; the only way at speed 0).
    pub fn advance(&self, steps: u32) {
        let mut sim = self.shared.lock();
        for _ in 0..steps {
            self.shared.step(&mut sim);
        }
        self.shared.refresh(&sim);
    }

    /// What device `id` shows now, point by point.
    pub fn device_values(&self, id: &str) -> Option<Vec<PointValue>> {
        let sim = self.shared.lock();
        let d = sim.devices.iter().find(|d| d.id == id)?;
        Some(
            d.points
                .iter()
                .map(|p| PointValue {
                    name: p.def.name.clone(),
                    quantity: p.def.quantity,
                    unit: p.def.unit,
                    value: p.value,
                    sentinel: p.sentinel,
                    quality: p.quality,
                })
                .collect(),
        )
    }

    /// The physical value of `q` of `asset` now, canonical unit (what the instrument should
    /// show when nothing is wrong with it; counters are totals since the simulation began).
    pub fn true_value(&self, asset: &str, q: Quantity) -> Option<f64> {
        let sim = self.shared.lock();
        let a = *sim.utility.assets.get(asset)?;
        sim.utility.value(a, q)
    }

    /// The scenario's events with their exact intervals, past and upcoming.
    pub fn events(&self) -> Vec<EventTruth> {
        let sim = self.shared.lock();
        events_truth(&sim, sim.utility.tz, TimestampMs::MAX).0
    }

    /// The meters reporting over AMR (`[simulator.mqtt]`), in substation order.
    pub fn amr_meters(&self) -> Vec<AmrMeter> {
        self.shared
            .amr
            .as_ref()
            .map(|f| f.meters().to_vec())
            .unwrap_or_default()
    }

    /// The AMR gateway's counts, when `[simulator.mqtt]` is configured.
    pub fn amr_stats(&self) -> Option<AmrStats> {
        self.shared.amr.as_ref().map(Feed::stats)
    }

    /// Stop the clock and the listeners; the AMR gateway sends what it has queued and
    /// disconnects. Returns the gateway's final counts.
    pub async fn shutdown(self) -> Option<AmrStats> {
        for t in &self.tasks {
            t.abort();
        }
        for t in self.tasks {
            let _ = t.await;
        }
        if let (Some(p), Some(feed)) = (self.publisher, &self.shared.amr) {
            p.finish(feed).await;
        }
        self.shared.amr.as_ref().map(Feed::stats)
    }
}

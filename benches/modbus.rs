//! Modbus agent figures.
//!
//! ```text
//! cargo bench --bench modbus            # both, about 100 s
//! cargo bench --bench modbus -- scale   # 1,000 devices × 20 registers at 1 s, 60 s measured
//! cargo bench --bench modbus -- rps     # requests/s on one connection, heatkpi vs libmodbus
//! ```
//!
//! **scale**: a Modbus TCP server in this process (10 gateways on 127.0.0.1, 100 unit ids each,
//! like TCP gateways in front of RS-485 meter buses) answers 1,000 devices whose template reads
//! 20 holding registers (14 points) every second. The agent runs as its own process,
//! `heatkpi agent` on a generated configuration with its SQLite store, so the server's CPU is
//! not counted: its CPU time and RSS come from `/proc/<pid>`, sampled over the measured window
//! after a warm-up. Poll jitter is reported twice: from the agent's own poll-lateness histogram
//! (start of each poll against its schedule, as printed in its summary line) and from the
//! server's side (the interval between consecutive requests of each device, minus 1 s).
//! `HEATKPI_BENCH_DEVICES` (default 1000) and `HEATKPI_BENCH_SECS` (default 60) change the size.
//!
//! **rps**: a small libmodbus server (`benches/modbus_server.c`, compiled here with `cc`) and two
//! clients reading 20 holding registers in a loop on one TCP connection, one request in flight:
//! heatkpi's read path (`Probe`, the agent's connect/read with its timeout and checks, on the
//! agent's multi-threaded runtime) and libmodbus (`benches/modbus_client.c`). The clients take
//! turns in rounds against the same server, so load from elsewhere hits both alike; the ratio
//! is the figure. Needs `libmodbus-dev` (`apt-get install -y libmodbus-dev`).
//! `HEATKPI_BENCH_RPS_SECS` (default 10) is each client's total time.

use heatkpi::collect::modbus::plan::ReadRequest;
use heatkpi::collect::modbus::poll::{Probe, Raw};
use heatkpi::config::modbus::{Device, PollClass, RegisterKind};
use std::collections::HashMap;
use std::future::Future;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_modbus::server::tcp::{Server, accept_tcp_connection};
use tokio_modbus::{ExceptionCode, Request, Response, SlaveRequest};

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let all = args.is_empty();
    println!("load average (1/5/15 min) at start: {}", load());
    if all || args.iter().any(|a| a == "rps") {
        rps();
    }
    if all || args.iter().any(|a| a == "scale") {
        scale();
    }
    println!("load average (1/5/15 min) at end: {}", load());
}

// ---------------------------------------------------------------------------------------------
// scale

/// 20 holding registers, 14 points, every register used: a heat meter's usual set plus a few.
const TEMPLATE: &str = r#"
description = "benchmark: 20 holding registers, 14 points"
[[point]]
name = "energy"
quantity = "heat_energy"
unit = "MWh"
register = "holding"
address = 0
type = "u32"
scale = 0.001
[[point]]
name = "volume"
quantity = "volume"
unit = "m3"
register = "holding"
address = 2
type = "u32"
scale = 0.01
[[point]]
name = "flow"
quantity = "flow"
unit = "m3/h"
register = "holding"
address = 4
type = "f32"
order = "CDAB"
[[point]]
name = "supply_temp"
quantity = "supply_temp"
unit = "degC"
register = "holding"
address = 6
type = "i16"
scale = 0.01
sentinels = [32767]
[[point]]
name = "return_temp"
quantity = "return_temp"
unit = "degC"
register = "holding"
address = 7
type = "i16"
scale = 0.01
sentinels = [32767]
[[point]]
name = "power"
quantity = "heat_power"
unit = "kW"
register = "holding"
address = 8
type = "f32"
order = "CDAB"
[[point]]
name = "diff_pressure"
quantity = "diff_pressure"
unit = "kPa"
register = "holding"
address = 10
type = "u16"
scale = 0.1
[[point]]
name = "status"
quantity = "device_status"
unit = "flags"
register = "holding"
address = 11
type = "u16"
status_bits = { maintenance = 0x0001, bad = 0x0004 }
[[point]]
name = "makeup"
quantity = "makeup_water"
unit = "m3"
register = "holding"
address = 12
type = "u32"
scale = 0.01
[[point]]
name = "outdoor"
quantity = "outdoor_temp"
unit = "degC"
register = "holding"
address = 14
type = "i16"
scale = 0.1
[[point]]
name = "electricity"
quantity = "electricity"
unit = "kWh"
register = "holding"
address = 15
type = "u32"
[[point]]
name = "o2"
quantity = "o2"
unit = "%"
register = "holding"
address = 17
type = "u16"
scale = 0.01
[[point]]
name = "h2o"
quantity = "h2o"
unit = "%"
register = "holding"
address = 18
type = "u16"
scale = 0.01
[[point]]
name = "co"
quantity = "co"
unit = "mg/Nm3"
register = "holding"
address = 19
type = "u16"
"#;

/// Plausible register values for the template above (the same for every device).
fn image() -> Vec<u16> {
    let f = |v: f32| {
        let b = v.to_bits();
        [(b & 0xFFFF) as u16, (b >> 16) as u16] // CDAB: low word first
    };
    let [flow_lo, flow_hi] = f(12.5);
    let [pow_lo, pow_hi] = f(540.0);
    vec![
        0x0001, 0x86A0, // 100,000 kWh
        0x0000, 0x2710, // 100.00 m³
        flow_lo, flow_hi, 8850, 5230, pow_lo, pow_hi, 1200, 0, // 120.0 kPa, status 0
        0, 5000, 0xFFC4, // −6.0 °C
        0, 7000, 620, 1100, 35,
    ]
}

/// Arrival of one request at the server: gateway, unit id, µs since the server started.
type Arrival = (u16, u8, u64);

#[derive(Clone)]
struct Gateway {
    index: u16,
    units: u8,
    image: Arc<Vec<u16>>,
    log: Arc<Mutex<Vec<Arrival>>>,
    t0: Instant,
}

impl tokio_modbus::server::Service for Gateway {
    type Request = SlaveRequest<'static>;
    type Response = Response;
    type Exception = ExceptionCode;
    type Future = Pin<Box<dyn Future<Output = Result<Response, ExceptionCode>> + Send>>;

    fn call(&self, req: Self::Request) -> Self::Future {
        let at = self.t0.elapsed().as_micros() as u64;
        let unit = req.slave;
        let reply = match req.request {
            _ if unit == 0 || unit > self.units => Err(ExceptionCode::GatewayTargetDevice),
            Request::ReadHoldingRegisters(addr, cnt)
                if (addr as usize + cnt as usize) <= self.image.len() =>
            {
                self.log.lock().unwrap().push((self.index, unit, at));
                Ok(Response::ReadHoldingRegisters(
                    self.image[addr as usize..(addr + cnt) as usize].to_vec(),
                ))
            }
            Request::ReadHoldingRegisters(..) => Err(ExceptionCode::IllegalDataAddress),
            _ => Err(ExceptionCode::IllegalFunction),
        };
        Box::pin(std::future::ready(reply))
    }
}

async fn gateway(g: Gateway) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Server::new(listener);
    tokio::spawn(async move {
        let new_service = move |_peer| Ok(Some(g.clone()));
        let on_connected = move |stream, peer| {
            let new_service = new_service.clone();
            async move { accept_tcp_connection(stream, peer, new_service) }
        };
        let _ = server.serve(&on_connected, |_err| {}).await;
    });
    addr
}

fn agent_config(dir: &Path, gateways: &[std::net::SocketAddr], devices: usize, per: usize) {
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    std::fs::write(dir.join("templates/bench20.toml"), TEMPLATE).unwrap();
    // A collection-only gateway PC: a small writer cache (see `[store] cache_mib`).
    let mut toml = String::from("[store]\npath = \"agent.db\"\ncache_mib = 16\n");
    for n in 0..devices {
        let (g, unit) = (n / per, n % per + 1);
        toml.push_str(&format!(
            "[[meter]]\nid = \"m{n:04}\"\nkind = \"heat\"\n\
             [[modbus.device]]\nid = \"d{n:04}\"\ntemplate = \"bench20\"\nasset = \"m{n:04}\"\n\
             address = \"{}\"\nunit_id = {unit}\npoll_ms = 1000\ntimeout_ms = 1000\n",
            gateways[g]
        ));
    }
    std::fs::write(dir.join("agent.toml"), toml).unwrap();
}

/// CPU seconds (user + system) of a process.
fn cpu_seconds(pid: u32, tick: f64) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may contain spaces) start at `state`, field 3;
    // utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let get = |i: usize| {
        f.get(i - 3)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (get(14) + get(15)) / tick
}

/// A `kB` field of /proc/<pid>/status, in MB.
fn status_mb(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

fn clock_tick() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn scale() {
    let devices = env_num("HEATKPI_BENCH_DEVICES", 1000) as usize;
    let secs = env_num("HEATKPI_BENCH_SECS", 60);
    let warm = 5u64;
    let per = 100usize;
    let n_gw = devices.div_ceil(per);
    println!(
        "\n== scale: {devices} devices × 20 holding registers (14 points) every 1 s, \
         {n_gw} gateways × up to {per} unit ids, {secs} s measured after {warm} s warm-up"
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let t0 = Instant::now();
    let log: Arc<Mutex<Vec<Arrival>>> = Arc::default();
    let image = Arc::new(image());
    let gateways: Vec<std::net::SocketAddr> = rt.block_on(async {
        let mut v = Vec::new();
        for i in 0..n_gw {
            v.push(
                gateway(Gateway {
                    index: i as u16,
                    units: per.min(devices - i * per) as u8,
                    image: image.clone(),
                    log: log.clone(),
                    t0,
                })
                .await,
            );
        }
        v
    });
    let dir = tempfile::tempdir().unwrap();
    agent_config(dir.path(), &gateways, devices, per);
    let run_for = warm + secs + 2;
    let mut agent = Command::new(env!("CARGO_BIN_EXE_heatkpi"))
        .arg("-c")
        .arg(dir.path().join("agent.toml"))
        .args([
            "agent",
            "--for",
            &format!("{run_for}s"),
            "--summary-every",
            "30s",
        ])
        .env("HEATKPI_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("heatkpi agent");
    let pid = agent.id();
    let tick = clock_tick();
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(warm));
    let (cpu0, w0) = (cpu_seconds(pid, tick), Instant::now());
    let rss_start = status_mb(pid, "VmRSS:");
    let window_from = t0.elapsed().as_micros() as u64;
    let mut rss_max: f64 = 0.0;
    while w0.elapsed() < Duration::from_secs(secs) {
        std::thread::sleep(Duration::from_millis(500));
        rss_max = rss_max.max(status_mb(pid, "VmRSS:"));
    }
    let (cpu1, wall) = (cpu_seconds(pid, tick), w0.elapsed().as_secs_f64());
    let window_to = t0.elapsed().as_micros() as u64;
    let rss_now = status_mb(pid, "VmRSS:");
    let hwm = status_mb(pid, "VmHWM:");
    let out = read_all(&mut agent);
    let status = agent.wait().expect("agent exit");
    let total = started.elapsed().as_secs_f64();
    drop(rt);

    // Server side: per device, consecutive request intervals inside the window.
    let mut by_device: HashMap<(u16, u8), Vec<u64>> = HashMap::new();
    for &(g, u, at) in log.lock().unwrap().iter() {
        if (window_from..window_to).contains(&at) {
            by_device.entry((g, u)).or_default().push(at);
        }
    }
    let requests: usize = by_device.values().map(Vec::len).sum();
    let mut dev_ms: Vec<f64> = Vec::new();
    for times in by_device.values_mut() {
        times.sort_unstable();
        for w in times.windows(2) {
            dev_ms.push(((w[1] - w[0]) as f64 / 1000.0 - 1000.0).abs());
        }
    }
    dev_ms.sort_by(f64::total_cmp);

    let summary = out
        .iter()
        .rev()
        .find(|l| l.starts_with("modbus:"))
        .cloned()
        .unwrap_or_default();
    let stopped = out
        .iter()
        .find(|l| l.starts_with("stopped:"))
        .cloned()
        .unwrap_or_default();
    let cpu = (cpu1 - cpu0) / wall * 100.0;
    println!("agent ({}s run, exit {status}): {summary}", total.round());
    println!("agent: {stopped}");
    println!(
        "agent CPU: {:.2} s in {wall:.1} s = {cpu:.1} % of one core (target ≤ 10 %)",
        cpu1 - cpu0
    );
    println!(
        "agent memory: RSS {rss_start:.1} MB after warm-up, {rss_now:.1} MB at the end, \
         {rss_max:.1} MB highest sampled, peak (VmHWM) {hwm:.1} MB (target ≤ 50 MB)"
    );
    println!(
        "server: {requests} requests from {} devices in the window = {:.1} polls/s per device",
        by_device.len(),
        requests as f64 / by_device.len().max(1) as f64 / wall
    );
    println!(
        "server-side interval deviation |Δt − 1 s|: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms \
         (target p99 ≤ 50 ms)",
        quantile(&dev_ms, 0.5),
        quantile(&dev_ms, 0.99),
        dev_ms.last().copied().unwrap_or(f64::NAN)
    );
}

fn read_all(child: &mut Child) -> Vec<String> {
    let Some(out) = child.stdout.take() else {
        return Vec::new();
    };
    BufReader::new(out).lines().map_while(Result::ok).collect()
}

// ---------------------------------------------------------------------------------------------
// rps

fn compile(src: &str, out: &Path) -> bool {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("benches")
        .join(src);
    let flags = Command::new("pkg-config")
        .args(["--cflags", "--libs", "libmodbus"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .unwrap_or_else(|| "-I/usr/include/modbus -lmodbus".into());
    let status = Command::new("cc")
        .args(["-O2", "-o"])
        .arg(out)
        .arg(&src)
        .args(flags.split_whitespace())
        .status();
    matches!(status, Ok(s) if s.success())
}

struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn rps() {
    let secs = env_num("HEATKPI_BENCH_RPS_SECS", 10) as f64;
    let rounds = 4;
    println!(
        "\n== rps: 20 holding registers per request, one TCP connection, libmodbus server; \
         {rounds} alternating rounds, {secs} s per client in total"
    );
    let bin = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("modbus-bench");
    std::fs::create_dir_all(&bin).unwrap();
    let (server_bin, client_bin) = (bin.join("modbus_server"), bin.join("modbus_client"));
    if !compile("modbus_server.c", &server_bin) || !compile("modbus_client.c", &client_bin) {
        println!(
            "rps skipped: cannot compile against libmodbus (apt-get install -y libmodbus-dev)"
        );
        return;
    }
    let mut server = Reaped(
        Command::new(&server_bin)
            .stdout(Stdio::piped())
            .spawn()
            .expect("modbus_server"),
    );
    let mut first = String::new();
    BufReader::new(server.0.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let port: u16 = first.trim().parse().expect("server port");
    let device: Device = toml::from_str(&format!(
        "id = \"bench\"\ntemplate = \"bench\"\nasset = \"bench\"\naddress = \"127.0.0.1:{port}\"\n\
         unit_id = 1\ntimeout_ms = 1000"
    ))
    .unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let slice = secs / rounds as f64;
    let (mut ours, mut ours_t, mut theirs, mut theirs_t) = (0u64, 0.0, 0u64, 0.0);
    for _ in 0..rounds {
        let out = Command::new(&client_bin)
            .args(["127.0.0.1", &port.to_string(), &slice.to_string(), "20"])
            .output()
            .expect("modbus_client");
        let text = String::from_utf8_lossy(&out.stdout);
        let f: Vec<&str> = text.split_whitespace().collect();
        assert!(
            out.status.success() && f.len() == 3,
            "libmodbus client failed: {text} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        theirs += f[0].parse::<u64>().unwrap();
        theirs_t += f[2].parse::<f64>().unwrap();
        let (n, t) = rt.block_on(heatkpi_loop(&device, slice));
        ours += n;
        ours_t += t;
    }
    let (a, b) = (ours as f64 / ours_t, theirs as f64 / theirs_t);
    println!(
        "heatkpi (Probe::read, tokio-modbus): {ours} requests in {ours_t:.1} s = {a:.0} req/s"
    );
    println!(
        "libmodbus 3.1.6 (modbus_read_registers): {theirs} requests in {theirs_t:.1} s = {b:.0} req/s"
    );
    println!("ratio heatkpi / libmodbus: {:.2}", a / b);
}

async fn heatkpi_loop(device: &Device, secs: f64) -> (u64, f64) {
    let req = ReadRequest {
        register: RegisterKind::Holding,
        class: PollClass::Fast,
        start: 0,
        count: 20,
        points: Vec::new(),
    };
    let mut probe = Probe::connect(device).await.expect("connect");
    let (start, mut n) = (Instant::now(), 0u64);
    let end = Duration::from_secs_f64(secs);
    while start.elapsed() < end {
        for _ in 0..256 {
            match probe.read(&req).await {
                Ok(Raw::Words(w)) if w.len() == 20 && w[19] == 19 => n += 1,
                other => panic!("unexpected reply: {other:?}"),
            }
        }
    }
    (n, start.elapsed().as_secs_f64())
}

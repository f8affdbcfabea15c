//! `heatkpi simulate` (the simulated utility: live over Modbus TCP, or months of history at
//! once) and `heatkpi demo` (simulator + collection + store + evaluation on `config/demo.toml`).
//!
//! With `[simulator.mqtt]`, the simulator's AMR gateway publishes the selected substations'
//! meters to that broker, and `demo` reads those meters over MQTT (a `wmbusmeters`
//! subscription on the same broker) instead of polling them over Modbus.

use super::demo_interruption::DemoInterruption;
use super::runtime::{Service, parse_duration, until_stopped};
use super::{Failure, load_config, open_store, runtime_rt};
use crate::config::Loaded;
use crate::config::mqtt::MqttConfig;
use crate::config::sim_mqtt::SimMqttConfig;
use crate::ingest::Ingest;
use crate::sim::{self, AmrMeter, AmrStats, HistoryOptions, ServeOptions};
use clap::Args;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// `heatkpi simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Write history of this local month (`2026-10`) into the store instead of serving live.
    #[arg(long)]
    history: Option<String>,
    /// Months of history.
    #[arg(long, default_value_t = 1)]
    months: u32,
    /// Only this many days of the first month (quick looks).
    #[arg(long)]
    days: Option<u32>,
    /// Generate this many substations instead of the configured ones.
    #[arg(long)]
    substations: Option<usize>,
    /// Random seed (default: `[simulator] seed`).
    #[arg(long)]
    seed: Option<u64>,
    /// Write the ground truth (JSON) here.
    #[arg(long)]
    truth: Option<PathBuf>,
    /// Live: simulated seconds per wall second (default: `[simulator] speed`).
    #[arg(long)]
    speed: Option<f64>,
    /// Live: stop after this long.
    #[arg(long = "for")]
    run_for: Option<String>,
}

/// `heatkpi demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Stop by itself after this long (e.g. 60s).
    #[arg(long = "for")]
    run_for: Option<String>,
    /// Simulated seconds per wall second; the default 60 makes a simulated hour pass in a
    /// minute, so the scenario's faults show up while you watch.
    #[arg(long, default_value_t = 60.0)]
    speed: f64,
    /// How often to print the live summary.
    #[arg(long, default_value = "10s")]
    summary_every: String,
    /// On a fresh store, first write the simulated history of this month up to today (a few
    /// seconds), so month-to-date KPIs have data at once.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    history: bool,
    /// Wall time after the start at which the simulator cuts a branch off, so an interruption
    /// opens and closes while you watch (`off`: no cut).
    #[arg(long, default_value = "3m")]
    interruption_at: String,
    /// Wall time the cut lasts.
    #[arg(long, default_value = "5m")]
    interruption_for: String,
    /// What the cut cuts off: a branch, a network or a substation (default: the first
    /// substation's branch).
    #[arg(long)]
    interruption_target: Option<String>,
}

/// Write this month's simulated history up to local midnight today through the ingest path.
fn backfill_month_to_date(
    loaded: &crate::config::Loaded,
    store: std::sync::Arc<dyn crate::store::Store>,
) -> Result<(), Failure> {
    use chrono::Datelike;
    let tz = loaded.settings.timezone();
    let today = chrono::Utc::now().with_timezone(&tz).date_naive();
    let days = today.day() - 1;
    if days == 0 {
        return Ok(());
    }
    let mut ingest = Ingest::new(store, &loaded.settings.ingest);
    let mut opts = HistoryOptions::month(today.year(), today.month());
    opts.days = Some(days);
    opts.templates = Some(loaded.templates.clone());
    println!(
        "writing the simulated history of {}-{:02} (first {days} days) ...",
        today.year(),
        today.month()
    );
    let report = sim::history(&loaded.settings, &mut ingest, &opts)?;
    println!(
        "  {} readings in {:.1} s through the ingest path",
        report.readings, report.wall_s
    );
    Ok(())
}

/// The `[mqtt]` section with a collector of the simulator's AMR telegrams added: the broker of
/// `[simulator.mqtt]` under `client_id`, and a `wmbusmeters` subscription on its topics.
/// Subscriptions of a single configured broker that do not name it are given its id, since
/// with two brokers each must say which it uses.
pub(super) fn with_gateway(
    mqtt: &MqttConfig,
    gateway: &SimMqttConfig,
    client_id: &str,
    expected_interval_s: Option<u64>,
) -> Result<MqttConfig, Failure> {
    let (broker, mut sub) = sim::mqtt::collector(gateway, client_id, expected_interval_s)?;
    let mut out = mqtt.clone();
    if !out.brokers.is_empty() {
        if let [only] = out.brokers.as_slice() {
            let id = only.id.clone();
            for s in &mut out.subscriptions {
                s.broker.get_or_insert_with(|| id.clone());
            }
        }
        sub.broker = Some(broker.id.clone());
    }
    out.brokers.push(broker);
    out.subscriptions.push(sub);
    Ok(out)
}

/// The demo's collection: the AMR meters read over MQTT from the gateway's broker and no
/// longer polled over Modbus; everything else as configured.
fn demo_collection(
    loaded: &Loaded,
    gateway: &SimMqttConfig,
    meters: &[AmrMeter],
    speed: f64,
) -> Result<Loaded, Failure> {
    let mut l = loaded.clone();
    l.settings
        .modbus
        .devices
        .retain(|d| !meters.iter().any(|m| m.asset == d.asset));
    // A data gap once three telegrams in a row are missing (wall-clock seconds).
    let expected = (speed > 0.0)
        .then(|| ((3.0 * f64::from(gateway.interval_s) / speed).ceil() as u64).max(10));
    let client_id = format!("heatkpi-demo-{}", crate::config::mqtt::hostname());
    l.settings.mqtt = with_gateway(&l.settings.mqtt, gateway, &client_id, expected)?;
    Ok(l)
}

/// The gateway's counts in one line; `stopped` for the last one.
fn amr_line(s: &AmrStats, stopped: bool) -> String {
    format!(
        "amr gateway: {}, {} meters, {} telegrams published, {} dropped (broker down {}, queue full {}), {} readings of silent meters",
        match (stopped, s.connected) {
            (true, _) => "stopped",
            (false, true) => "connected",
            (false, false) => "not connected",
        },
        s.meters,
        s.published,
        s.dropped(),
        s.dropped_broker_down,
        s.dropped_queue_full,
        s.silent
    )
}

fn print_gateway(gateway: &SimMqttConfig, stats: &AmrStats, speed: f64, indent: &str) {
    let every = if speed > 0.0 && speed != 1.0 {
        format!(
            " ({:.1} s at {speed}×)",
            f64::from(gateway.interval_s) / speed
        )
    } else {
        String::new()
    };
    println!(
        "{indent}AMR gateway: {} substation meters publish wmbusmeters telegrams to {}:{} on {}/<substation>, every {} simulated s{every}",
        stats.meters,
        gateway.host,
        gateway.broker().port(),
        gateway.topic_prefix,
        gateway.interval_s,
    );
}

fn month_arg(s: &str) -> Result<(i32, u32), Failure> {
    let bad = || {
        Failure::Input(format!(
            "--history {s}: write a month as YYYY-MM, e.g. 2026-10"
        ))
    };
    let (y, m) = s.split_once('-').ok_or_else(bad)?;
    let (y, m) = (
        y.parse::<i32>().map_err(|_| bad())?,
        m.parse::<u32>().map_err(|_| bad())?,
    );
    if !(1..=12).contains(&m) {
        return Err(bad());
    }
    Ok((y, m))
}

pub(super) fn simulate(config: &Path, a: SimulateArgs) -> Result<ExitCode, Failure> {
    let loaded = load_config(config)?;
    if let Some(month) = &a.history {
        let (year, m) = month_arg(month)?;
        let store = open_store(&loaded)?;
        let mut ingest = Ingest::new(store, &loaded.settings.ingest);
        let mut opts = HistoryOptions::month(year, m);
        opts.months = a.months.max(1);
        opts.days = a.days;
        opts.substations = a.substations;
        opts.seed = a.seed;
        opts.truth_path = a.truth.clone();
        opts.batch_size = loaded.settings.ingest.batch_size.max(1000);
        opts.templates = Some(loaded.templates.clone());
        let report = sim::history(&loaded.settings, &mut ingest, &opts)?;
        let stats = ingest.stats();
        println!(
            "history {month}: {} readings of {} series ({} devices, {} substations) in {:.1} s = {:.0} readings/s; stored {}, rejected {} ({} no-value markers of failed devices and sentinels)",
            report.readings,
            report.series,
            report.devices,
            report.substations,
            report.wall_s,
            report.readings_per_s(),
            stats.written,
            stats.rejected_total(),
            report.no_value
        );
        if let Some(t) = &a.truth {
            println!("ground truth: {}", t.display());
        }
        return Ok(ExitCode::SUCCESS);
    }
    let limit = a
        .run_for
        .as_deref()
        .map(parse_duration)
        .transpose()
        .map_err(Failure::Input)?;
    let rt = runtime_rt()?;
    rt.block_on(async {
        let opts = ServeOptions {
            speed: a.speed,
            seed: a.seed,
            ..Default::default()
        };
        let handle = sim::serve(&loaded.settings, &loaded.templates, opts).await?;
        for addr in handle.listen_addrs() {
            println!(
                "simulated utility: {} devices on Modbus TCP {addr}",
                handle.devices().len()
            );
        }
        let gateway = loaded
            .settings
            .simulator
            .as_ref()
            .and_then(|s| s.mqtt.as_ref());
        let speed = a
            .speed
            .unwrap_or_else(|| loaded.settings.simulator.as_ref().map_or(1.0, |s| s.speed));
        if let (Some(g), Some(st)) = (gateway, handle.amr_stats()) {
            print_gateway(g, &st, speed, "");
        }
        until_stopped(limit).await;
        if let Some(st) = handle.shutdown().await {
            println!("{}", amr_line(&st, true));
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Where the demo configuration is: the `--config` given, else `config/demo.toml` beside the
/// working directory or the source tree.
fn demo_config(config: &Path) -> PathBuf {
    if config != Path::new(super::DEFAULT_CONFIG) {
        return config.to_path_buf();
    }
    let here = PathBuf::from("config/demo.toml");
    if here.exists() {
        return here;
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config/demo.toml")
}

pub(super) fn demo(config: &Path, a: DemoArgs) -> Result<ExitCode, Failure> {
    let path = demo_config(config);
    let loaded = load_config(&path)?;
    let limit = a
        .run_for
        .as_deref()
        .map(parse_duration)
        .transpose()
        .map_err(Failure::Input)?;
    let every = parse_duration(&a.summary_every).map_err(Failure::Input)?;
    let store = open_store(&loaded)?;
    if a.history && store.list_series("*")?.is_empty() {
        backfill_month_to_date(&loaded, store.clone())?;
    }
    // The simulator starts now; the demo's cut is placed in its (faster) time.
    let start_ms = chrono::Utc::now().timestamp_millis();
    let step_ms = i64::from(loaded.settings.simulator.as_ref().map_or(60, |s| s.step_s)) * 1000;
    let cut = DemoInterruption::plan(
        &loaded.settings,
        a.interruption_target.as_deref(),
        &a.interruption_at,
        &a.interruption_for,
        a.speed,
        start_ms - start_ms.rem_euclid(step_ms.max(1)),
    )?;
    let mut simulated = loaded.clone();
    if let Some(c) = &cut {
        simulated
            .settings
            .simulator
            .get_or_insert_with(Default::default)
            .events
            .push(c.event());
    }
    let tz = loaded.settings.timezone();
    let rt = runtime_rt()?;
    rt.block_on(async {
        let opts = ServeOptions {
            speed: Some(a.speed),
            start_ms: Some(start_ms),
            ..Default::default()
        };
        let sim = sim::serve(&simulated.settings, &simulated.templates, opts).await?;
        let window = cut
            .as_ref()
            .map(|c| c.wall_window(chrono::Utc::now().timestamp_millis(), sim.sim_time()));
        let gateway = loaded.settings.simulator.as_ref().and_then(|s| s.mqtt.clone());
        let collect = match &gateway {
            Some(g) => demo_collection(&loaded, g, &sim.amr_meters(), a.speed)?,
            None => loaded.clone(),
        };
        let svc = Service::start(&collect, store.clone())?;
        let engine = super::evaluate::spawn_live(&loaded, store.clone());
        println!("heatkpi demo on {}", path.display());
        for addr in sim.listen_addrs() {
            println!(
                "  simulator: {} devices served over Modbus TCP at {addr}, {}× real time",
                sim.devices().len(),
                a.speed
            );
        }
        if let (Some(g), Some(st)) = (&gateway, sim.amr_stats()) {
            print_gateway(g, &st, a.speed, "  ");
        }
        println!(
            "  collection: {} Modbus devices polled over loopback into the ingest path",
            collect.settings.modbus.devices.len()
        );
        if let Some(g) = &gateway {
            println!(
                "  collection: {} meters read over MQTT from {}:{} (subscription `simulated-amr`, format wmbusmeters); raw telegrams: mosquitto_sub -h {} -p {} -t '{}/#' -v",
                sim.amr_meters().len(),
                g.host,
                g.broker().port(),
                g.host,
                g.broker().port(),
                g.topic_prefix
            );
        }
        println!("  store: {}", loaded.dir.join(&loaded.settings.store.path).display());
        println!(
            "  evaluation: live availability every {} s, the other standards every {} s (`heatkpi -c {} evaluate --period <month>` for a closed month)",
            loaded.settings.kpi.availability.live_every_s,
            loaded.settings.kpi.live.every_s,
            path.display()
        );
        if let (Some(c), Some(w)) = (&cut, window) {
            println!("{}", c.announce(w, tz, &path.display().to_string()));
        }
        println!(
            "  look: heatkpi -c {} query 'ss-01.*' --every 1h   |   heatkpi -c {} events --open",
            path.display(),
            path.display()
        );
        println!("  stop: Ctrl-C{}", limit.map(|d| format!(" (or it stops by itself after {d:?})")).unwrap_or_default());
        let summary = async {
            let mut tick = tokio::time::interval(every.max(Duration::from_millis(200)));
            tick.tick().await;
            loop {
                tick.tick().await;
                println!("{}", svc.summary());
                if let Some(st) = sim.amr_stats() {
                    println!("{}", amr_line(&st, false));
                }
                println!("{}", super::evaluate::live_summary(&loaded, &*store));
                if let (Some(c), Some(w)) = (&cut, window) {
                    let now = chrono::Utc::now().timestamp_millis();
                    println!("{}", c.status(w, now, tz, &*store));
                }
            }
        };
        tokio::select! {
            _ = until_stopped(limit) => {}
            _ = summary => {}
        }
        engine.abort();
        println!("{}", svc.summary());
        let stats = svc.stop().await?;
        if let Some(st) = sim.shutdown().await {
            println!("{}", amr_line(&st, true));
        }
        println!("{}", super::evaluate::live_summary(&loaded, &*store));
        if let (Some(c), Some(w)) = (&cut, window) {
            let now = chrono::Utc::now().timestamp_millis();
            println!("{}", c.status(w, now, tz, &*store));
        }
        println!("demo stopped: {} samples stored, {} rejected", stats.written, stats.rejected_total());
        Ok(ExitCode::SUCCESS)
    })
}

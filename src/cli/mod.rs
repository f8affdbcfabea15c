//! The command line (design.md §7): argument definitions and the wiring of each command.
//! Exit codes: 0 success, 1 runtime failure, 2 bad input or configuration.

mod data;
mod demo_interruption;
mod evaluate;
mod modbus;
mod mqtt;
mod planned;
pub mod runtime;
mod sim;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// The configuration file used when none is given (`demo` uses `config/demo.toml` instead).
pub const DEFAULT_CONFIG: &str = "heatkpi.toml";

/// Technical KPI monitor for district-heating utilities.
#[derive(Debug, Parser)]
#[command(name = "heatkpi", version, about, long_about = None)]
pub struct Cli {
    /// Configuration file.
    #[arg(
        short,
        long,
        global = true,
        env = "HEATKPI_CONFIG",
        default_value = "heatkpi.toml"
    )]
    pub config: PathBuf,
    /// More log output (-v debug, -vv trace); `HEATKPI_LOG` sets a filter directly.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate a configuration file and print every problem with file:line:column.
    CheckConfig {
        /// The file (defaults to --config).
        file: Option<PathBuf>,
    },
    /// Backfill CSV (`timestamp,series,value[,quality]`) or line-protocol files.
    Import(data::ImportArgs),
    /// Raw or aggregated values of a series or a glob of series.
    Query(data::QueryArgs),
    /// The simulated utility on config/demo.toml: simulator, collection over Modbus TCP,
    /// store and live evaluation, nothing to install.
    Demo(sim::DemoArgs),
    /// Serve the simulated utility over Modbus TCP, or write months of its history at once.
    Simulate(sim::SimulateArgs),
    /// Evaluate the KPIs of a period against their thresholds.
    Evaluate(evaluate::EvaluateArgs),
    /// List events: interruptions, exceedances, unreachable devices, counter resets, gaps.
    Events(evaluate::EventsArgs),
    /// Run everything the configuration enables (collection, store, evaluation).
    Run(RunArgs),
    /// Run collection only (for a gateway PC near the devices).
    Agent(RunArgs),
    /// Modbus commissioning tools.
    #[command(subcommand)]
    Modbus(modbus::ModbusCommand),
    /// MQTT commissioning tools.
    #[command(subcommand)]
    Mqtt(mqtt::MqttCommand),
    /// The planned-works register (planned interruptions, force majeure, customer requests).
    #[command(subcommand)]
    PlannedWorks(planned::PlannedCommand),
}

/// Options of long-running commands.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Stop by itself after this long (e.g. 60s, 10m); runs until SIGINT/SIGTERM otherwise.
    #[arg(long = "for")]
    pub run_for: Option<String>,
    /// How often to print the live summary.
    #[arg(long, default_value = "10s")]
    pub summary_every: String,
}

/// Set up `tracing` to stderr; `HEATKPI_LOG` (an env-filter) wins over `-v`.
pub fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("HEATKPI_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// A command's failure: bad input (exit 2) or a runtime failure (exit 1).
#[derive(Debug)]
pub enum Failure {
    /// Bad input or configuration: the message says what to change.
    Input(String),
    /// Something failed while running.
    Runtime(String),
}

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure::Runtime(e.to_string())
    }
}

/// Run a parsed command line.
pub fn main(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::CheckConfig { file } => {
            let path = file.unwrap_or(cli.config);
            return check_config(&path);
        }
        Command::Import(args) => data::import(&cli.config, args),
        Command::Query(args) => data::query(&cli.config, args),
        Command::Demo(args) => sim::demo(&cli.config, args),
        Command::Simulate(args) => sim::simulate(&cli.config, args),
        Command::Evaluate(args) => evaluate::evaluate(&cli.config, args),
        Command::Events(args) => evaluate::events(&cli.config, args),
        Command::Run(args) => serve(&cli.config, &args, true),
        Command::Agent(args) => serve(&cli.config, &args, false),
        Command::Modbus(cmd) => modbus::run(cmd),
        Command::Mqtt(cmd) => mqtt::run(&cli.config, cmd),
        Command::PlannedWorks(cmd) => planned::run(&cli.config, cmd),
    };
    match result {
        Ok(code) => code,
        Err(Failure::Input(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(2)
        }
        Err(Failure::Runtime(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(1)
        }
    }
}

fn check_config(path: &std::path::Path) -> ExitCode {
    let (mut problems, mut loaded) = crate::config::check_file(path);
    // Topic templates and payload mappings are compiled by the MQTT agent itself.
    if let Some(l) = &loaded
        && let Err(e) = crate::collect::mqtt::check(&l.settings.mqtt)
    {
        problems.push(crate::config::Problem {
            file: path.display().to_string(),
            line: 0,
            column: 0,
            key: "mqtt".into(),
            message: e.to_string(),
            hint: "fix the subscription named in the message".into(),
        });
        loaded = None;
    }
    // The planned-works register is a file of its own; its bad entries are listed too.
    if let Some(l) = &loaded {
        let reg = crate::config::kpi_availability::load_register(&l.settings);
        if !reg.problems.is_empty() {
            problems.extend(reg.problems);
            loaded = None;
        }
    }
    print!(
        "{}",
        crate::config::render(&path.display().to_string(), &problems, loaded.as_ref())
    );
    if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}

fn serve(config: &std::path::Path, args: &RunArgs, evaluate: bool) -> Result<ExitCode, Failure> {
    let limit = args
        .run_for
        .as_deref()
        .map(runtime::parse_duration)
        .transpose()
        .map_err(Failure::Input)?;
    let every = runtime::parse_duration(&args.summary_every).map_err(Failure::Input)?;
    let loaded = load_config(config)?;
    let store = open_store(&loaded)?;
    let rt = runtime_rt()?;
    rt.block_on(async {
        let svc = runtime::Service::start(&loaded, store.clone())?;
        let retention = tokio::spawn(runtime::retention_loop(
            store.clone(),
            loaded.settings.store.raw_retention_days,
        ));
        let engine = evaluate.then(|| self::evaluate::spawn_live(&loaded, store.clone()));
        println!(
            "heatkpi {}: {} Modbus devices, store {}",
            if evaluate { "running" } else { "agent running" },
            loaded.settings.modbus.devices.len(),
            loaded.dir.join(&loaded.settings.store.path).display()
        );
        let summary = async {
            let mut tick = tokio::time::interval(every.max(std::time::Duration::from_millis(200)));
            tick.tick().await;
            loop {
                tick.tick().await;
                println!("{}", svc.summary());
                if evaluate {
                    println!("{}", self::evaluate::live_summary(&loaded, &*store));
                }
            }
        };
        tokio::select! {
            _ = runtime::until_stopped(limit) => {}
            _ = summary => {}
        }
        retention.abort();
        if let Some(e) = engine {
            e.abort();
        }
        println!("{}", svc.summary());
        let stats = svc.stop().await?;
        println!(
            "stopped: {} samples written, {} rejected",
            stats.written,
            stats.rejected_total()
        );
        Ok(ExitCode::SUCCESS)
    })
}

/// Load the configuration or fail with every problem listed (exit 2).
pub(crate) fn load_config(path: &std::path::Path) -> Result<crate::config::Loaded, Failure> {
    crate::config::load(path).map_err(|e| {
        Failure::Input(format!(
            "{e}\n{}: configuration has problems; `heatkpi check-config {}` lists them",
            path.display(),
            path.display()
        ))
    })
}

/// A multi-threaded tokio runtime for commands that need one.
pub(crate) fn runtime_rt() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Runtime(format!("cannot start the async runtime: {e}")))
}

/// Open the configured store; a relative SQLite path is relative to the configuration file.
pub(crate) fn open_store(
    loaded: &crate::config::Loaded,
) -> Result<std::sync::Arc<dyn crate::store::Store>, Failure> {
    let cfg = &loaded.settings.store;
    match cfg.backend {
        crate::config::Backend::Sqlite => {
            let path = loaded.dir.join(&cfg.path);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| {
                    Failure::Runtime(format!("cannot create {}: {e}", parent.display()))
                })?;
            }
            let options = crate::store::sqlite::SqliteOptions {
                durable: cfg.synchronous == crate::config::Synchronous::Full,
                cache_mib: cfg.cache_mib,
                ..Default::default()
            };
            let store = crate::store::sqlite::SqliteStore::open_with(&path, options)?;
            Ok(std::sync::Arc::new(store))
        }
        // The outbox (when enabled) is what ingest writes to; dropped at exit, it leaves
        // anything not yet forwarded in its file for the next start.
        crate::config::Backend::Influx => Ok(crate::open::open_influx(loaded)?.store),
    }
}

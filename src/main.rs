//! The `heatkpi` command line: parses arguments and calls the library.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Technical KPI monitor for district-heating utilities.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check a configuration file, its environment overrides and its Modbus templates; print
    /// every problem. Exit code 0 when valid, 2 when not.
    CheckConfig {
        /// The configuration file.
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::CheckConfig { file } => {
            let (problems, loaded) = heatkpi::config::check_file(&file);
            let shown = file.display().to_string();
            print!(
                "{}",
                heatkpi::config::render(&shown, &problems, loaded.as_ref())
            );
            if problems.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            }
        }
    }
}

//! The `heatkpi` command: a thin entry that parses arguments and hands over to `heatkpi::cli`.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = heatkpi::cli::Cli::parse();
    heatkpi::cli::init_logging(cli.verbose);
    heatkpi::cli::main(cli)
}

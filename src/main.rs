use clap::Parser;

use portcullis::cli::Cli;
use portcullis::config::Config;

fn main() {
    let cli = Cli::parse();
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("portcullis: {e}");
            std::process::exit(2);
        }
    };
    portcullis::logging::init(&config.server.rust_log);
    portcullis::config::log_secret_key_source(&config.secret_key_source);
    if let Err(e) = portcullis::commands::run(cli.command, config) {
        eprintln!("portcullis: {e}");
        std::process::exit(1);
    }
}

//! The `wsinspect` binary: parses the command line and wires the library.

mod cli;
mod cli_view;

use std::process::ExitCode;

fn main() -> ExitCode {
    match cli::run() {
        Ok(code) => code,
        Err(err) => {
            if let Some(io) = err.downcast_ref::<std::io::Error>() {
                if io.kind() == std::io::ErrorKind::BrokenPipe {
                    return ExitCode::SUCCESS;
                }
            }
            eprintln!("wsinspect: error: {err:#}");
            ExitCode::from(2)
        }
    }
}

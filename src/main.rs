//! kapsel: one binary, three modes. `main` only reads argv and picks the mode, before any async
//! runtime or thread exists, because the hidden `init` mode must start single-threaded.

use std::process::ExitCode;

fn main() -> ExitCode {
    let mode = std::env::args().nth(1);
    match mode.as_deref() {
        Some(hidden @ ("shim" | "init")) => {
            eprintln!("kapsel: the {hidden} mode arrives with the container runtime");
            ExitCode::from(2)
        }
        _ => kapsel::daemon::main(kapsel::config::Cli::parse_args()),
    }
}

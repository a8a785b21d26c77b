//! kapsel: one binary, several modes. `main` only reads argv and picks the mode, before any async
//! runtime or thread exists: the hidden `shim`, `init`, `exec` and `userns-probe` modes must
//! start single-threaded.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("shim") => kapsel::runtime::shim::main(&args),
        Some("init") => kapsel::runtime::init::main(&args),
        Some("exec") => kapsel::runtime::init::join::main(&args),
        Some("userns-probe") => kapsel::runtime::userns::probe::main(&args),
        _ => kapsel::daemon::main(kapsel::config::Cli::parse_args()),
    }
}

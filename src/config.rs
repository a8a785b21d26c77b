//! Command-line flags and `KAPSEL_*` environment variables, shaped like dockerd's so that people
//! who run Docker find their way.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// The default data root, as `/var/lib/docker` is dockerd's.
pub const DEFAULT_DATA_ROOT: &str = "/var/lib/kapsel";

/// kapsel's command line.
#[derive(Debug, Parser)]
#[command(name = "kapsel", version, about = "A container daemon that speaks the Docker Engine API")]
pub struct Cli {
    /// What to run; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The daemon's flags, also accepted without the `serve` word.
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// The visible subcommands (the hidden `shim` and `init` modes are dispatched before clap runs).
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon (the default).
    Serve(ServeArgs),
    /// Print the OpenAPI document and exit.
    Openapi,
}

/// Flags of `kapsel serve`.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Where to listen: unix:///path or tcp://host:port; repeatable. Default: the socket under
    /// the data root and tcp://127.0.0.1:2375.
    #[arg(short = 'H', long = "host", env = "KAPSEL_HOST", value_delimiter = ',')]
    pub hosts: Vec<String>,
    /// Where images, containers and the database live.
    #[arg(long, env = "KAPSEL_DATA_ROOT", default_value = DEFAULT_DATA_ROOT)]
    pub data_root: PathBuf,
    /// The database; default: the SQLite file kapsel.db under the data root.
    #[arg(long, env = "KAPSEL_DATABASE_URL")]
    pub database_url: Option<String>,
    /// How many container operations (create, start, stop, remove) run at once.
    #[arg(long, env = "KAPSEL_WORKERS", default_value_t = 16)]
    pub workers: usize,
    /// How many more may wait for a worker before the API answers 503.
    #[arg(long, env = "KAPSEL_QUEUE_DEPTH", default_value_t = 256)]
    pub queue_depth: usize,
    /// Log filter: error, warn, info, debug, trace, or a tracing directive.
    #[arg(long, env = "KAPSEL_LOG_LEVEL", default_value = "info")]
    pub log_level: String,
}

impl Cli {
    /// Parses argv, exiting with clap's message on bad flags.
    pub fn parse_args() -> Cli {
        Cli::parse()
    }
}

/// One place to listen, parsed from a `-H` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listen {
    /// A unix socket path.
    Unix(PathBuf),
    /// A TCP address such as 127.0.0.1:2375.
    Tcp(String),
}

impl ServeArgs {
    /// The listeners to open: the `-H` values, or the defaults.
    pub fn listeners(&self) -> Result<Vec<Listen>, String> {
        if self.hosts.is_empty() {
            return Ok(vec![Listen::Unix(self.data_root.join("kapsel.sock")), Listen::Tcp("127.0.0.1:2375".into())]);
        }
        self.hosts.iter().map(|h| parse_host(h)).collect()
    }

    /// The database URL: the flag, or SQLite's file under the data root.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.data_root.join("kapsel.db").display()),
        }
    }
}

/// Parses one `-H` value the way dockerd does (`unix://`, `tcp://`, or a bare `host:port`).
pub fn parse_host(host: &str) -> Result<Listen, String> {
    if let Some(path) = host.strip_prefix("unix://") {
        if path.is_empty() {
            return Err(format!("invalid host {host:?}: empty socket path"));
        }
        return Ok(Listen::Unix(PathBuf::from(path)));
    }
    let addr = host.strip_prefix("tcp://").unwrap_or(host);
    if addr.contains("://") {
        return Err(format!("invalid host {host:?}: use unix:// or tcp://"));
    }
    let addr = if addr.starts_with(':') { format!("127.0.0.1{addr}") } else { addr.to_string() };
    if !addr.contains(':') {
        return Err(format!("invalid host {host:?}: a TCP address needs a port"));
    }
    Ok(Listen::Tcp(addr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_parse_like_dockerd() {
        assert_eq!(parse_host("unix:///run/k.sock"), Ok(Listen::Unix("/run/k.sock".into())));
        assert_eq!(parse_host("tcp://127.0.0.1:2375"), Ok(Listen::Tcp("127.0.0.1:2375".into())));
        assert_eq!(parse_host(":2376"), Ok(Listen::Tcp("127.0.0.1:2376".into())));
        assert!(parse_host("tcp://127.0.0.1").is_err());
        assert!(parse_host("ssh://x").is_err());
        assert!(parse_host("unix://").is_err());
    }

    #[test]
    fn defaults_listen_on_socket_and_loopback() {
        let cli = Cli::try_parse_from(["kapsel", "--data-root", "/d"]).unwrap();
        assert_eq!(
            cli.serve.listeners().unwrap(),
            vec![Listen::Unix("/d/kapsel.sock".into()), Listen::Tcp("127.0.0.1:2375".into())]
        );
        assert_eq!(cli.serve.database_url(), "sqlite:///d/kapsel.db");
    }

    #[test]
    fn serve_subcommand_takes_repeated_hosts() {
        let cli = Cli::try_parse_from(["kapsel", "serve", "-H", "unix:///a.sock", "-H", "tcp://127.0.0.1:1"]).unwrap();
        let Some(Command::Serve(args)) = cli.command else { panic!("not serve") };
        assert_eq!(args.hosts.len(), 2);
    }
}

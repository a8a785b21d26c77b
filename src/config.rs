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
    /// Manage tenants (admin): create, ls, inspect, rm.
    Tenant {
        /// Which daemon.
        #[command(flatten)]
        target: AdminTarget,
        /// What to do.
        #[command(subcommand)]
        action: TenantAction,
    },
    /// Manage tokens (admin): create, revoke.
    Token {
        /// Which daemon.
        #[command(flatten)]
        target: AdminTarget,
        /// What to do.
        #[command(subcommand)]
        action: TokenAction,
    },
}

/// Where the admin command line finds the daemon.
#[derive(Debug, Clone, clap::Args)]
pub struct AdminTarget {
    /// The daemon's address (unix:///path or tcp://host:port); default its socket under
    /// /var/lib/kapsel.
    #[arg(short = 'H', long = "host", env = "KAPSEL_ADMIN_HOST")]
    pub host: Option<String>,
    /// An admin token, for a TCP address (the unix socket needs none).
    #[arg(long, env = "KAPSEL_TOKEN")]
    pub token: Option<String>,
}

/// `kapsel tenant …`.
#[derive(Debug, Clone, Subcommand)]
pub enum TenantAction {
    /// Create a tenant.
    Create {
        /// Its name.
        name: String,
        /// Quotas as JSON, e.g. '{"max_containers":10,"memory_bytes":1073741824}'.
        #[arg(long)]
        quotas: Option<String>,
        /// Defaults as JSON, e.g. '{"memory_bytes":268435456,"pids_limit":256}'.
        #[arg(long)]
        defaults: Option<String>,
    },
    /// List tenants with their usage.
    Ls,
    /// Show one tenant.
    Inspect {
        /// Its name.
        name: String,
    },
    /// Change a tenant's quotas or defaults.
    Update {
        /// Its name.
        name: String,
        /// New quotas as JSON.
        #[arg(long)]
        quotas: Option<String>,
        /// New defaults as JSON.
        #[arg(long)]
        defaults: Option<String>,
    },
    /// Delete a tenant that owns nothing.
    Rm {
        /// Its name.
        name: String,
    },
}

/// `kapsel token …`.
#[derive(Debug, Clone, Subcommand)]
pub enum TokenAction {
    /// Issue a token for a tenant (printed once).
    Create {
        /// The tenant's name.
        tenant: String,
    },
    /// Revoke a token by id.
    Revoke {
        /// The token's id.
        id: String,
    },
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
    /// The default bridge network's Linux bridge (a second daemon on one host needs its own).
    #[arg(long, env = "KAPSEL_BRIDGE_NAME", default_value = crate::runtime::network::iptables::DEFAULT_BRIDGE,
          value_parser = parse_bridge_name)]
    pub bridge_name: String,
    /// The default bridge network's subnet (CIDR); default: the first of 172.17.0.0/16 …
    /// 172.31.0.0/16, then 10.x.0.0/16, that clashes with no route of the host.
    #[arg(long, env = "KAPSEL_BRIDGE_SUBNET", value_parser = parse_subnet)]
    pub bridge_subnet: Option<ipnet::Ipv4Net>,
    /// Serve TCP listeners without tokens, as the admin (only for loopback addresses).
    #[arg(long, env = "KAPSEL_INSECURE_NO_AUTH")]
    pub insecure_no_auth: bool,
    /// Requests per second each tenant may make unless its quotas say otherwise (0: unlimited).
    #[arg(long, env = "KAPSEL_TENANT_RATE_LIMIT", default_value_t = 100)]
    pub tenant_rate_limit: u32,
    /// Origins browsers may call the API from (repeatable; `*` for any).
    #[arg(long = "cors-origin", env = "KAPSEL_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,
    /// Extra request headers browsers may send (Authorization and Content-Type always may).
    #[arg(long = "cors-header", env = "KAPSEL_CORS_HEADERS", value_delimiter = ',')]
    pub cors_headers: Vec<String>,
    /// How tenants' containers see the image layers in their user namespace: through idmapped
    /// mounts where the kernel can (`auto`), or always through per-tenant shifted copies (`off`).
    #[arg(long, env = "KAPSEL_USERNS_IDMAP", value_enum, default_value_t = UsernsIdmap::Auto)]
    pub userns_idmap: UsernsIdmap,
    /// A registry that may be reached over plain HTTP or TLS without verification: host[:port]
    /// or a CIDR (repeatable). Registries on loopback always may, as with dockerd.
    #[arg(long = "insecure-registry", env = "KAPSEL_INSECURE_REGISTRIES", value_delimiter = ',')]
    pub insecure_registries: Vec<String>,
    /// A Docker Hub mirror (URL) tried before Docker Hub itself (repeatable).
    #[arg(long = "registry-mirror", env = "KAPSEL_REGISTRY_MIRRORS", value_delimiter = ',')]
    pub registry_mirrors: Vec<String>,
    /// Log filter: error, warn, info, debug, trace, or a tracing directive.
    #[arg(long, env = "KAPSEL_LOG_LEVEL", default_value = "info")]
    pub log_level: String,
    /// Serve the TCP listeners over TLS with --tlscert and --tlskey (a client certificate is
    /// optional, and checked against --tlscacert when given).
    #[arg(long, env = "KAPSEL_TLS")]
    pub tls: bool,
    /// Serve the TCP listeners over TLS and require client certificates signed by --tlscacert
    /// (implies --tls); a certificate's common name names a tenant, or kapsel-admin the admin.
    #[arg(long, env = "KAPSEL_TLS_VERIFY")]
    pub tlsverify: bool,
    /// The CA certificates (PEM) that client certificates must chain to.
    #[arg(long, env = "KAPSEL_TLS_CACERT", value_name = "PATH")]
    pub tlscacert: Option<PathBuf>,
    /// The server's certificate chain (PEM).
    #[arg(long, env = "KAPSEL_TLS_CERT", value_name = "PATH")]
    pub tlscert: Option<PathBuf>,
    /// The server's private key (PEM).
    #[arg(long, env = "KAPSEL_TLS_KEY", value_name = "PATH")]
    pub tlskey: Option<PathBuf>,
}

/// `--userns-idmap`: how tenants' containers see the image layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum UsernsIdmap {
    /// Idmapped mounts where the kernel can, else shifted copies.
    Auto,
    /// Always per-tenant shifted copies of the layers.
    Off,
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

    /// The networking flags for the engine.
    pub fn network_options(&self) -> crate::engine::networks::NetworkOptions {
        crate::engine::networks::NetworkOptions {
            bridge_name: self.bridge_name.clone(),
            bridge_subnet: self.bridge_subnet,
        }
    }

    /// The registry flags for the engine.
    pub fn registry_options(&self) -> crate::images::registry::RegistryOptions {
        crate::images::registry::RegistryOptions {
            insecure: self.insecure_registries.clone(),
            mirrors: self.registry_mirrors.clone(),
        }
    }

    /// The TLS of the TCP listeners: `None` for plain HTTP; an error for an incomplete set of
    /// flags (the files themselves are read by [`crate::api::tls::server_config`]).
    pub fn tls_options(&self) -> Result<Option<crate::api::tls::TlsOptions>, String> {
        if !self.tls && !self.tlsverify {
            let given = [("--tlscacert", &self.tlscacert), ("--tlscert", &self.tlscert), ("--tlskey", &self.tlskey)];
            return match given.iter().find(|(_, path)| path.is_some()) {
                Some((flag, _)) => Err(format!("{flag} is set but TLS is off: add --tls or --tlsverify")),
                None => Ok(None),
            };
        }
        let flag = if self.tlsverify { "--tlsverify" } else { "--tls" };
        let (Some(cert), Some(key)) = (&self.tlscert, &self.tlskey) else {
            return Err(format!("{flag} needs --tlscert and --tlskey: the server's certificate and key"));
        };
        if self.tlsverify && self.tlscacert.is_none() {
            return Err("--tlsverify needs --tlscacert: the CA that signs client certificates".into());
        }
        Ok(Some(crate::api::tls::TlsOptions {
            cert: cert.clone(),
            key: key.clone(),
            ca: self.tlscacert.clone(),
            verify: self.tlsverify,
        }))
    }

    /// The database URL: the flag, or SQLite's file under the data root.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.data_root.join("kapsel.db").display()),
        }
    }
}

/// Reads `--bridge-name`: a Linux interface name (at most 15 characters) that is not one of
/// the user networks' `kbr-…` bridges.
fn parse_bridge_name(text: &str) -> Result<String, String> {
    let valid = !text.is_empty()
        && text.len() <= 15
        && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        && !text.starts_with(crate::runtime::network::iptables::USER_BRIDGE_PREFIX);
    if valid {
        Ok(text.to_string())
    } else {
        Err(format!("{text:?} is not a usable bridge name (1-15 of [A-Za-z0-9._-])"))
    }
}

/// Reads `--bridge-subnet`: an IPv4 network in CIDR form, its host bits zero.
fn parse_subnet(text: &str) -> Result<ipnet::Ipv4Net, String> {
    let net: ipnet::Ipv4Net =
        text.parse().map_err(|_| format!("{text:?} is not an IPv4 CIDR such as 172.17.0.0/16"))?;
    if net != net.trunc() || net.prefix_len() > 30 {
        return Err(format!("{text:?} is not a usable subnet (host bits set, or smaller than /30)"));
    }
    Ok(net)
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
    fn tls_flags_must_come_as_a_set() {
        let parse = |flags: &[&str]| {
            let argv = ["kapsel", "serve"].iter().chain(flags).copied().collect::<Vec<_>>();
            let Some(Command::Serve(args)) = Cli::try_parse_from(argv).unwrap().command else { panic!("not serve") };
            args.tls_options()
        };
        assert_eq!(parse(&[]), Ok(None));
        let files = ["--tlscert", "/c.pem", "--tlskey", "/k.pem"];
        let tls = parse(&[&["--tls"], &files[..]].concat()).unwrap().unwrap();
        assert!(!tls.verify && tls.ca.is_none() && tls.cert == std::path::Path::new("/c.pem"));
        let verify = parse(&[&["--tlsverify", "--tlscacert", "/ca.pem"], &files[..]].concat()).unwrap().unwrap();
        assert!(verify.verify && verify.ca == Some(PathBuf::from("/ca.pem")));
        assert!(parse(&[&["--tlsverify"], &files[..]].concat()).unwrap_err().contains("--tlscacert"));
        assert!(parse(&["--tls", "--tlscert", "/c.pem"]).unwrap_err().contains("--tlskey"));
        assert!(parse(&files).unwrap_err().contains("TLS is off"));
    }

    #[test]
    fn serve_subcommand_takes_repeated_hosts() {
        let cli = Cli::try_parse_from(["kapsel", "serve", "-H", "unix:///a.sock", "-H", "tcp://127.0.0.1:1"]).unwrap();
        let Some(Command::Serve(args)) = cli.command else { panic!("not serve") };
        assert_eq!(args.hosts.len(), 2);
    }
}

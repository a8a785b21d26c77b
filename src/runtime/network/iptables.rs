//! kapsel's iptables rules, through the `iptables` CLI (iptables-nft or legacy, whichever the
//! host has). Every rule lives in chains kapsel owns, hooked once from the built-in chains, so
//! that rebuilding is one atomic `iptables-restore --noflush` of those chains and cleaning up
//! is unhooking, flushing and deleting them.
//!
//! - filter `FORWARD` → *forward*: isolation between bridges first, then per network: replies
//!   in, traffic within the bridge, traffic out (none for `--internal`), published ports in.
//! - nat `POSTROUTING` → *postrouting*: MASQUERADE for a subnet leaving by another interface.
//! - nat `PREROUTING` and `OUTPUT` (local destinations, not loopback) → *dnat*: published
//!   ports to the container. Loopback publishing goes through the userland proxy instead.

use std::io;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::Stdio;

use ipnet::Ipv4Net;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::Proto;

/// The default bridge's name; its daemon's chains carry no tag.
pub const DEFAULT_BRIDGE: &str = "kapsel0";
/// The name prefix of user-defined networks' bridges (`kbr-<short id>`).
pub const USER_BRIDGE_PREFIX: &str = "kbr-";

/// The names of one daemon's chains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chains {
    /// filter: hooked from FORWARD.
    pub forward: String,
    /// filter: drops traffic between different kapsel bridges.
    pub isolation: String,
    /// nat: hooked from POSTROUTING.
    pub postrouting: String,
    /// nat: hooked from PREROUTING and OUTPUT.
    pub dnat: String,
}

impl Chains {
    /// The chains of the daemon whose default bridge is `default_bridge`: `KAPSEL-FORWARD` and
    /// friends for the standard `kapsel0`, chains tagged with a hash of the bridge name for
    /// any other (so that daemons side by side, as in tests, never share a chain).
    pub fn for_daemon(default_bridge: &str) -> Chains {
        if default_bridge == DEFAULT_BRIDGE {
            return Chains {
                forward: "KAPSEL-FORWARD".into(),
                isolation: "KAPSEL-ISOLATION".into(),
                postrouting: "KAPSEL-POSTROUTING".into(),
                dnat: "KAPSEL-DNAT".into(),
            };
        }
        let tag = hex::encode(&Sha256::digest(default_bridge.as_bytes())[..3]).to_ascii_uppercase();
        Chains {
            forward: format!("KAPSEL-{tag}-FWD"),
            isolation: format!("KAPSEL-{tag}-ISO"),
            postrouting: format!("KAPSEL-{tag}-POST"),
            dnat: format!("KAPSEL-{tag}-DNAT"),
        }
    }

    /// The rules in built-in chains that jump to ours: (table, chain, rule).
    fn hooks(&self) -> Vec<(&'static str, &'static str, Vec<String>)> {
        let words = |s: &str| s.split_whitespace().map(str::to_string).collect::<Vec<_>>();
        vec![
            ("filter", "FORWARD", words(&format!("-j {}", self.forward))),
            ("nat", "PREROUTING", words(&format!("-m addrtype --dst-type LOCAL -j {}", self.dnat))),
            ("nat", "OUTPUT", words(&format!("! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j {}", self.dnat))),
            ("nat", "POSTROUTING", words(&format!("-j {}", self.postrouting))),
        ]
    }
}

/// One bridge network's part of the rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeRules {
    /// The Linux bridge.
    pub bridge: String,
    /// Its subnet.
    pub subnet: Ipv4Net,
    /// `--internal`: no traffic in or out of the bridge, no NAT.
    pub internal: bool,
}

/// One published port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortRule {
    /// The bridge the container is reached through.
    pub bridge: String,
    /// The host address published on; UNSPECIFIED for all of them.
    pub host_ip: Ipv4Addr,
    /// The host port.
    pub host_port: u16,
    /// tcp or udp.
    pub proto: Proto,
    /// The container's address on that bridge.
    pub container_ip: Ipv4Addr,
    /// The container's port.
    pub container_port: u16,
}

/// Everything the chains hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleSet {
    /// The daemon's default bridge (isolated from the user bridges).
    pub default_bridge: String,
    /// Every bridge network.
    pub networks: Vec<BridgeRules>,
    /// Every published port of a running container.
    pub ports: Vec<PortRule>,
}

/// The `iptables-restore --noflush` input that replaces the contents of kapsel's chains (and
/// creates them when missing), leaving every other chain alone.
pub fn render(chains: &Chains, rules: &RuleSet) -> String {
    let mut out = String::new();
    let mut line = |text: String| {
        out.push_str(&text);
        out.push('\n');
    };
    line("*filter".into());
    line(format!(":{} - [0:0]", chains.forward));
    line(format!(":{} - [0:0]", chains.isolation));
    line(format!("-A {} -j {}", chains.forward, chains.isolation));
    for net in &rules.networks {
        let (fwd, iso, b) = (&chains.forward, &chains.isolation, &net.bridge);
        line(format!("-A {iso} -i {b} -o {b} -j RETURN"));
        line(format!("-A {iso} -i {b} -o {USER_BRIDGE_PREFIX}+ -j DROP"));
        if *b != rules.default_bridge {
            line(format!("-A {iso} -i {b} -o {} -j DROP", rules.default_bridge));
        }
        line(format!("-A {fwd} -o {b} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"));
        line(format!("-A {fwd} -i {b} -o {b} -j ACCEPT"));
        if net.internal {
            line(format!("-A {fwd} -i {b} -j DROP"));
            line(format!("-A {fwd} -o {b} -j DROP"));
        } else {
            line(format!("-A {fwd} -i {b} ! -o {b} -j ACCEPT"));
            line(format!("-A {fwd} -o {b} -m conntrack --ctstate DNAT -j ACCEPT"));
            line(format!("-A {fwd} -o {b} -j DROP"));
        }
    }
    line("COMMIT".into());
    line("*nat".into());
    line(format!(":{} - [0:0]", chains.postrouting));
    line(format!(":{} - [0:0]", chains.dnat));
    for net in rules.networks.iter().filter(|n| !n.internal) {
        line(format!("-A {} -s {} ! -o {} -j MASQUERADE", chains.postrouting, net.subnet, net.bridge));
    }
    for port in rules.ports.iter().filter(|p| !p.host_ip.is_loopback()) {
        let destination =
            if port.host_ip.is_unspecified() { String::new() } else { format!(" -d {}/32", port.host_ip) };
        let proto = port.proto.as_str();
        line(format!(
            "-A {} ! -i {}{destination} -p {proto} -m {proto} --dport {} -j DNAT --to-destination {}:{}",
            chains.dnat, port.bridge, port.host_port, port.container_ip, port.container_port
        ));
    }
    line("COMMIT".into());
    out
}

/// Where a host tool is: on PATH, else in the sbin directories (PATH may lack them).
fn tool(name: &str) -> PathBuf {
    for dir in std::env::var("PATH").unwrap_or_default().split(':').chain(["/usr/sbin", "/sbin"]) {
        let path = PathBuf::from(dir).join(name);
        if path.is_file() {
            return path;
        }
    }
    PathBuf::from(name)
}

/// Runs `iptables ARGS`; the exit status's success, or the error text.
async fn iptables(args: &[String]) -> io::Result<std::result::Result<(), String>> {
    let output = tokio::process::Command::new(tool("iptables"))
        .arg("-w")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(missing)?;
    if output.status.success() {
        Ok(Ok(()))
    } else {
        Ok(Err(String::from_utf8_lossy(&output.stderr).trim().to_string()))
    }
}

fn missing(e: io::Error) -> io::Error {
    if e.kind() == io::ErrorKind::NotFound {
        io::Error::new(e.kind(), "iptables is not installed (bridge networks need it: apt-get install iptables)")
    } else {
        e
    }
}

/// Replaces the contents of kapsel's chains with `rules`, atomically per table, and makes
/// sure the built-in chains jump to them.
pub async fn apply(chains: &Chains, rules: &RuleSet) -> io::Result<()> {
    let text = render(chains, rules);
    let mut child = tokio::process::Command::new(tool("iptables-restore"))
        .args(["-w", "--noflush"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(missing)?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(text.as_bytes()).await?;
    }
    let output = child.wait_with_output().await?;
    if !output.status.success() {
        return Err(io::Error::other(format!(
            "iptables-restore failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    for (table, chain, rule) in chains.hooks() {
        let with = |op: &str, position: Option<&str>| {
            let mut args = vec!["-t".to_string(), table.to_string(), op.to_string(), chain.to_string()];
            args.extend(position.map(str::to_string));
            args.extend(rule.iter().cloned());
            args
        };
        if iptables(&with("-C", None)).await?.is_err() {
            iptables(&with("-I", Some("1")))
                .await?
                .map_err(|e| io::Error::other(format!("hooking {chain} in table {table}: {e}")))?;
        }
    }
    Ok(())
}

/// Unhooks, flushes and deletes kapsel's chains. Best effort: what is already gone is fine.
pub async fn remove(chains: &Chains) -> io::Result<()> {
    for (table, chain, rule) in chains.hooks() {
        let mut args = vec!["-t".to_string(), table.to_string(), "-D".to_string(), chain.to_string()];
        args.extend(rule);
        // A hook added twice (by hand, or by a crashed daemon) goes with its twin.
        for _ in 0..8 {
            if iptables(&args).await?.is_err() {
                break;
            }
        }
    }
    for (table, chain) in [
        ("filter", &chains.forward),
        ("filter", &chains.isolation),
        ("nat", &chains.postrouting),
        ("nat", &chains.dnat),
    ] {
        let _ = iptables(&["-t".into(), table.into(), "-F".into(), chain.clone()]).await?;
    }
    for (table, chain) in [
        ("filter", &chains.forward),
        ("filter", &chains.isolation),
        ("nat", &chains.postrouting),
        ("nat", &chains.dnat),
    ] {
        let _ = iptables(&["-t".into(), table.into(), "-X".into(), chain.clone()]).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_names_are_per_daemon() {
        assert_eq!(Chains::for_daemon("kapsel0").forward, "KAPSEL-FORWARD");
        let other = Chains::for_daemon("kt0001");
        assert!(other.forward.starts_with("KAPSEL-") && other.forward.ends_with("-FWD"));
        assert_ne!(other, Chains::for_daemon("kt0002"));
        assert!(other.postrouting.len() <= 28, "iptables chain names are at most 28 characters");
    }

    #[test]
    fn rules_render_for_iptables_restore() {
        let chains = Chains::for_daemon("kapsel0");
        let rules = RuleSet {
            default_bridge: "kapsel0".into(),
            networks: vec![
                BridgeRules { bridge: "kapsel0".into(), subnet: "172.17.0.0/16".parse().unwrap(), internal: false },
                BridgeRules { bridge: "kbr-0123".into(), subnet: "10.9.0.0/24".parse().unwrap(), internal: true },
            ],
            ports: vec![
                PortRule {
                    bridge: "kapsel0".into(),
                    host_ip: Ipv4Addr::UNSPECIFIED,
                    host_port: 8080,
                    proto: Proto::Tcp,
                    container_ip: "172.17.0.2".parse().unwrap(),
                    container_port: 80,
                },
                PortRule {
                    bridge: "kapsel0".into(),
                    host_ip: Ipv4Addr::LOCALHOST,
                    host_port: 9000,
                    proto: Proto::Udp,
                    container_ip: "172.17.0.2".parse().unwrap(),
                    container_port: 9000,
                },
            ],
        };
        let text = render(&chains, &rules);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "*filter");
        assert!(lines.contains(&":KAPSEL-FORWARD - [0:0]"));
        assert!(lines.contains(&"-A KAPSEL-FORWARD -j KAPSEL-ISOLATION"));
        assert!(lines.contains(&"-A KAPSEL-ISOLATION -i kbr-0123 -o kapsel0 -j DROP"));
        assert!(lines.contains(&"-A KAPSEL-FORWARD -i kapsel0 ! -o kapsel0 -j ACCEPT"));
        assert!(lines.contains(&"-A KAPSEL-FORWARD -i kbr-0123 -j DROP"));
        assert!(lines.contains(&"-A KAPSEL-POSTROUTING -s 172.17.0.0/16 ! -o kapsel0 -j MASQUERADE"));
        assert!(!text.contains("10.9.0.0/24 ! -o"), "an internal network has no NAT");
        assert!(lines.contains(
            &"-A KAPSEL-DNAT ! -i kapsel0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80"
        ));
        assert!(!text.contains("--dport 9000"), "loopback publishing is the proxy's");
        assert_eq!(text.matches("COMMIT").count(), 2);
    }
}

//! Networks with the real `docker` CLI: the default bridge, published
//! ports (`-p`, `-P`, `docker port`, the PORTS column), user-defined
//! networks with name resolution and isolation, `network connect` and
//! `disconnect`, Docker's refusals, and a daemon stop that leaves no link,
//! rule or mount behind.
//!
//! Each test runs its own daemon with a bridge name and subnet of its own
//! (see `common::Daemon`), and creates networks on subnets from
//! `common::test_subnet()`, so tests side by side never share a bridge, a
//! chain or an address. Traffic stays on loopback and on the bridges the
//! test made. busybox-static cannot resolve names itself (no NSS), so the
//! tests resolve with `nslookup` and connect to the address.

mod common;

use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;

use common::{Daemon, running_as_root, stderr_text, stdout_text, test_subnet, wait_until};

/// What the test image's httpd serves.
const PAGE: &str = "hello from the kapsel test image";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("find a free port").port()
}

/// `curl -s URL` from the host: (success, body).
fn curl(url: &str) -> (bool, String) {
    let out = Command::new("curl").args(["-s", "-m", "5", url]).output().expect("run curl");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Polls until `url` serves the test page (httpd needs a moment to listen).
fn assert_serves(d: &Daemon, url: &str) {
    let mut last = String::new();
    let ok = wait_until(Duration::from_secs(10), || {
        let (ok, body) = curl(url);
        last = body;
        ok && last.contains(PAGE)
    });
    assert!(ok, "{url} did not serve the test page: {last:?}\n--- daemon log ---\n{}", common::tail(&d.log(), 40));
}

/// A host command's stdout (it must succeed).
fn host(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd).args(args).output().unwrap_or_else(|e| panic!("run {cmd}: {e}"));
    assert!(out.status.success(), "{cmd} {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The address `nslookup NAME` finds from inside `container` (None when
/// it finds none).
fn lookup(d: &Daemon, container: &str, name: &str) -> Option<String> {
    let out = d.docker(&["exec", container, "nslookup", name]);
    if !out.status.success() {
        return None;
    }
    // The first "Address:" line is the server's; the answer follows "Name:".
    let text = stdout_text(&out);
    let answer = text.split("Name:").nth(1)?;
    answer.lines().find_map(|l| l.trim().strip_prefix("Address:").map(|a| a.trim().to_string()))
}

/// `sha256sum` of a string, in hex.
fn sha256_hex(text: &str) -> String {
    let out = Command::new("sh").args(["-c", "printf %s \"$1\" | sha256sum", "sh", text]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap().to_string()
}

/// A reply of [`api`].
struct Reply {
    status: u16,
    body: String,
}

impl Reply {
    fn text(&self) -> String {
        self.body.clone()
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// One API request over the daemon's unix socket (as the docker CLI
/// talks to it), with curl: the status and the body.
fn api(d: &Daemon, method: &str, path: &str, body: Option<&[u8]>) -> Reply {
    let socket = d.socket_path();
    let url = format!("http://localhost{path}");
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "-m", "60", "-o", "-", "-w", "\n%{http_code}", "-X", method, "--unix-socket"])
        .arg(&socket)
        .arg(&url);
    if let Some(body) = body {
        cmd.args(["-H", "Content-Type: application/json", "--data-binary", &String::from_utf8_lossy(body)]);
    }
    let out = cmd.output().expect("run curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", &text));
    Reply { status: status.trim().parse().unwrap_or(0), body: body.to_string() }
}

fn full_id(d: &Daemon, name: &str) -> String {
    d.inspect(name, "{{.Id}}")
}

fn network_id(d: &Daemon, name: &str) -> String {
    d.docker_ok(&["network", "inspect", "-f", "{{.Id}}", name]).trim().to_string()
}

#[test]
fn published_ports_answer_on_loopback_and_show_in_port_ps_and_inspect() {
    if !running_as_root() {
        return;
    }
    let d = Daemon::with_busybox();
    let port = free_port();
    let publish = format!("127.0.0.1:{port}:80");
    d.docker_ok(&["run", "-d", "--name", "web", "-p", &publish, "busybox", "httpd", "-f", "-p", "80", "-h", "/www"]);
    assert_serves(&d, &format!("http://127.0.0.1:{port}/"));

    assert_eq!(d.docker_ok(&["port", "web"]).trim(), format!("80/tcp -> 127.0.0.1:{port}"));
    let ports = d.docker_ok(&["ps", "--format", "{{.Ports}}", "--filter", "name=web"]);
    assert_eq!(ports.trim(), format!("127.0.0.1:{port}->80/tcp"));

    // The container sits on the default bridge, with an address in its subnet.
    let ip = d.inspect("web", "{{.NetworkSettings.IPAddress}}");
    let prefix = d.bridge_subnet().trim_end_matches("0/24");
    assert!(ip.starts_with(prefix), "address {ip} is not in {}", d.bridge_subnet());
    assert_eq!(d.inspect("web", "{{.NetworkSettings.Networks.bridge.IPAddress}}"), ip);
    assert_eq!(d.inspect("web", "{{.NetworkSettings.Gateway}}"), format!("{prefix}1"));
    assert_eq!(d.inspect("web", "{{.NetworkSettings.IPPrefixLen}}"), "24");
    let mac = d.inspect("web", "{{.NetworkSettings.MacAddress}}");
    assert!(mac.starts_with("02:42:"), "MAC {mac}");
    let inside = d.docker_ok(&["exec", "web", "ip", "-o", "-4", "addr", "show", "eth0"]);
    assert!(inside.contains(&format!("{ip}/24")), "eth0 inside: {inside}");
    let routes = d.docker_ok(&["exec", "web", "ip", "route"]);
    assert!(routes.contains(&format!("default via {prefix}1 dev eth0")), "routes inside: {routes}");
    let hosts = d.docker_ok(&["exec", "web", "cat", "/etc/hosts"]);
    assert!(hosts.contains(&format!("{ip}\t")), "/etc/hosts names the container's address: {hosts}");

    // A taken host port: Docker's message, the container stays created,
    // and nothing of it is left on the bridge.
    let links_before = host("ip", &["-o", "link", "show", "master", d.bridge_name()]).lines().count();
    let out = d.docker(&["run", "-d", "--name", "clash", "-p", &publish, "busybox", "httpd", "-f", "-p", "80"]);
    assert!(!out.status.success(), "a second container got port {port}");
    let err = stderr_text(&out);
    assert!(err.contains(&format!("Bind for 127.0.0.1:{port} failed: port is already allocated")), "{err}");
    assert_eq!(d.inspect("clash", "{{.State.Status}}"), "created");
    assert_eq!(d.inspect("clash", "{{.NetworkSettings.Networks.bridge.IPAddress}}"), "");
    let links_after = host("ip", &["-o", "link", "show", "master", d.bridge_name()]).lines().count();
    assert_eq!(links_before, links_after, "the failed start left a veth on the bridge");
    assert_serves(&d, &format!("http://127.0.0.1:{port}/"));

    // The port is free again once its container stops.
    d.docker_ok(&["stop", "-t", "1", "web"]);
    assert!(!curl(&format!("http://127.0.0.1:{port}/")).0, "the port still answers after stop");
    assert_eq!(d.inspect("web", "{{json .NetworkSettings.Ports}}"), "{}");
    d.docker_ok(&["start", "clash"]);
    d.docker_ok(&["rm", "-f", "web", "clash"]);
}

#[test]
fn publish_all_picks_a_free_port_that_docker_port_shows() {
    if !running_as_root() {
        return;
    }
    let mut d = Daemon::with_busybox();
    d.docker_ok(&[
        "run", "-d", "--name", "web", "-P", "--expose", "80", "busybox", "httpd", "-f", "-p", "80", "-h", "/www",
    ]);
    let shown = d.docker_ok(&["port", "web", "80/tcp"]);
    let port: u16 = shown
        .lines()
        .next()
        .and_then(|l| l.rsplit(':').next())
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("docker port printed {shown:?}"));
    assert!(shown.starts_with("0.0.0.0:"), "{shown}");
    assert_serves(&d, &format!("http://127.0.0.1:{port}/"));
    let summary = api(&d, "GET", "/containers/json", None).json();
    let ports = &summary[0]["Ports"][0];
    assert_eq!((ports["PrivatePort"].as_u64(), ports["PublicPort"].as_u64()), (Some(80), Some(port as u64)));
    assert_eq!(ports["IP"], "0.0.0.0");

    // The proxies and rules come back with a restarted daemon.
    d.restart();
    assert_serves(&d, &format!("http://127.0.0.1:{port}/"));
    d.docker_ok(&["rm", "-f", "web"]);
}

#[test]
fn a_default_bridge_container_reaches_published_ports_through_the_gateway() {
    if !running_as_root() {
        return;
    }
    let d = Daemon::with_busybox();
    let (open, local) = (free_port(), free_port());
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "-p",
        &format!("{open}:80"),
        "-p",
        &format!("127.0.0.1:{local}:80"),
        "busybox",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/www",
    ]);
    assert_serves(&d, &format!("http://127.0.0.1:{open}/"));
    assert_serves(&d, &format!("http://127.0.0.1:{local}/"));
    d.docker_ok(&["run", "-d", "--name", "client", "busybox", "sleep", "300"]);
    let gateway = d.inspect("client", "{{.NetworkSettings.Gateway}}");
    // Published on all addresses: reachable through the bridge's address,
    // as with dockerd; published on loopback only: not from a container.
    let page =
        d.docker_ok(&["exec", "client", "timeout", "5", "wget", "-q", "-O", "-", &format!("http://{gateway}:{open}/")]);
    assert!(page.contains(PAGE), "{page}");
    let out =
        d.docker(&["exec", "client", "timeout", "3", "wget", "-q", "-O", "-", &format!("http://{gateway}:{local}/")]);
    assert!(!out.status.success(), "a loopback-only port answered a container: {}", stdout_text(&out));
    // The default bridge has no embedded DNS: the host's resolvers stay.
    let resolv = d.docker_ok(&["exec", "client", "cat", "/etc/resolv.conf"]);
    assert!(!resolv.contains(&format!("nameserver {gateway}")), "{resolv}");
    d.docker_ok(&["rm", "-f", "web", "client"]);
}

#[test]
fn containers_on_a_user_network_reach_each_other_by_name_and_not_across_networks() {
    if !running_as_root() {
        return;
    }
    let d = Daemon::with_busybox();
    let (subnet, other_subnet) = (test_subnet(), test_subnet());
    let id = d.docker_ok(&["network", "create", "--subnet", &subnet, "--label", "team=a", "appnet"]);
    assert_eq!(id.trim().len(), 64, "network create printed {id:?}");
    d.docker_ok(&["network", "create", "--subnet", &other_subnet, "othernet"]);
    let listed = d.docker_ok(&["network", "ls", "--format", "{{.Name}} {{.Driver}} {{.Scope}}"]);
    for line in ["bridge bridge local", "host host local", "none null local", "appnet bridge local"] {
        assert!(listed.lines().any(|l| l == line), "network ls lacks {line:?}:\n{listed}");
    }
    let filtered = d.docker_ok(&["network", "ls", "-q", "--filter", "label=team=a"]);
    assert_eq!(filtered.trim(), &id.trim()[..12]);

    let httpd = ["busybox", "httpd", "-f", "-p", "80", "-h", "/www"];
    let mut args = vec!["run", "-d", "--name", "web", "--network", "appnet", "--network-alias", "www"];
    args.extend(httpd);
    d.docker_ok(&args);
    d.docker_ok(&["run", "-d", "--name", "client", "--network", "appnet", "busybox", "sleep", "300"]);
    d.docker_ok(&["run", "-d", "--name", "outsider", "--network", "othernet", "busybox", "sleep", "300"]);

    let web_ip = d.inspect("web", "{{.NetworkSettings.Networks.appnet.IPAddress}}");
    let prefix = subnet.trim_end_matches("0/24");
    assert!(web_ip.starts_with(prefix), "{web_ip} is not in {subnet}");
    assert_eq!(d.inspect("web", "{{json .NetworkSettings.Networks.appnet.Aliases}}"), "[\"www\"]");
    let dns_names = d.inspect("web", "{{json .NetworkSettings.Networks.appnet.DNSNames}}");
    assert!(dns_names.starts_with("[\"web\",\"www\","), "{dns_names}");
    assert_eq!(d.inspect("web", "{{.NetworkSettings.IPAddress}}"), "", "top-level fields are the default bridge's");
    let resolv = d.docker_ok(&["exec", "client", "cat", "/etc/resolv.conf"]);
    assert!(resolv.starts_with(&format!("nameserver {prefix}1\n")), "{resolv}");

    assert_eq!(lookup(&d, "client", "web").as_deref(), Some(web_ip.as_str()));
    assert_eq!(lookup(&d, "client", "www").as_deref(), Some(web_ip.as_str()));
    let page = d.docker_ok(&["exec", "client", "timeout", "5", "wget", "-q", "-O", "-", &format!("http://{web_ip}/")]);
    assert!(page.contains(PAGE), "{page}");

    // Another network neither resolves nor reaches them.
    assert_eq!(lookup(&d, "outsider", "web"), None);
    let out = d.docker(&["exec", "outsider", "timeout", "3", "wget", "-q", "-O", "-", &format!("http://{web_ip}/")]);
    assert!(!out.status.success(), "a container on another network reached web");

    let on_appnet = d.docker_ok(&["ps", "--filter", "network=appnet", "--format", "{{.Names}}"]);
    let mut on_appnet: Vec<&str> = on_appnet.split_whitespace().collect();
    on_appnet.sort();
    assert_eq!(on_appnet, ["client", "web"]);

    // network inspect lists the running containers.
    let members = d.docker_ok(&["network", "inspect", "-f", "{{range .Containers}}{{.Name}} {{end}}", "appnet"]);
    let mut names: Vec<&str> = members.split_whitespace().collect();
    names.sort();
    assert_eq!(names, ["client", "web"]);

    // connect: a second interface, at once, and a name on the other network.
    d.docker_ok(&["network", "connect", "--alias", "bridgehead", "othernet", "client"]);
    let eth1 = d.docker_ok(&["exec", "client", "ip", "-o", "-4", "addr", "show", "eth1"]);
    let other_prefix = other_subnet.trim_end_matches("0/24");
    assert!(eth1.contains(other_prefix), "eth1: {eth1}");
    let client_other = d.inspect("client", "{{.NetworkSettings.Networks.othernet.IPAddress}}");
    assert_eq!(lookup(&d, "outsider", "bridgehead").as_deref(), Some(client_other.as_str()));
    let out = d.docker(&["network", "connect", "othernet", "client"]);
    assert!(stderr_text(&out).contains("already exists in network othernet"), "{}", stderr_text(&out));
    d.docker_ok(&["network", "disconnect", "othernet", "client"]);
    let out = d.docker(&["exec", "client", "ip", "-o", "link", "show", "eth1"]);
    assert!(!out.status.success(), "eth1 is still there after disconnect");
    assert_eq!(lookup(&d, "outsider", "bridgehead"), None);

    // A network with running containers cannot go (403, dockerd's words).
    let out = d.docker(&["network", "rm", "appnet"]);
    assert!(!out.status.success());
    let err = stderr_text(&out);
    assert!(err.contains("error while removing network: network appnet has active endpoints"), "{err}");
    let reply = api(&d, "DELETE", "/networks/appnet", None);
    assert_eq!(reply.status, 403, "{}", reply.text());

    // Stopped containers do not hold a network.
    d.docker_ok(&["rm", "-f", "web", "client", "outsider"]);
    d.docker_ok(&["network", "rm", "appnet"]);
    let pruned = d.docker_ok(&["network", "prune", "-f"]);
    assert!(pruned.contains("othernet"), "{pruned}");
    let left = d.docker_ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert_eq!(left.split_whitespace().collect::<Vec<_>>(), ["bridge", "host", "none"]);
}

#[test]
fn internal_networks_have_no_way_out() {
    if !running_as_root() {
        return;
    }
    let d = Daemon::with_busybox();
    let subnet = test_subnet();
    d.docker_ok(&["network", "create", "--internal", "--subnet", &subnet, "closed"]);
    assert_eq!(d.docker_ok(&["network", "inspect", "-f", "{{.Internal}}", "closed"]).trim(), "true");
    d.docker_ok(&["run", "-d", "--name", "alpha", "--network", "closed", "busybox", "sleep", "300"]);
    d.docker_ok(&["run", "-d", "--name", "beta", "--network", "closed", "busybox", "sleep", "300"]);
    let routes = d.docker_ok(&["exec", "alpha", "ip", "route"]);
    assert!(!routes.contains("default"), "an internal network gave a default route: {routes}");
    let beta_ip = lookup(&d, "alpha", "beta").expect("beta resolves on the internal network");
    d.docker_ok(&["exec", "alpha", "ping", "-c", "1", "-W", "3", &beta_ip]);
    d.docker_ok(&["rm", "-f", "alpha", "beta"]);
    d.docker_ok(&["network", "rm", "closed"]);
}

#[test]
fn bad_network_requests_get_dockers_answers() {
    if !running_as_root() {
        return;
    }
    let d = Daemon::with_busybox();
    let subnet = test_subnet();
    d.docker_ok(&["network", "create", "--subnet", &subnet, "appnet"]);

    let create = |body: String| api(&d, "POST", "/networks/create", Some(body.as_bytes()));
    let overlapping = subnet.replace(".0/24", ".128/25");
    let reply = create(format!(r#"{{"Name":"overlap","IPAM":{{"Config":[{{"Subnet":"{overlapping}"}}]}}}}"#));
    assert_eq!(reply.status, 403, "{}", reply.text());
    assert!(reply.text().contains("Pool overlaps with other one on this address space"), "{}", reply.text());
    let out = d.docker(&["network", "create", "--subnet", &subnet, "twin"]);
    assert!(stderr_text(&out).contains("Pool overlaps with other one on this address space"));

    let reply = create(r#"{"Name":"appnet"}"#.into());
    assert_eq!(reply.status, 409, "{}", reply.text());
    assert!(reply.text().contains("network with name appnet already exists"), "{}", reply.text());
    let reply = create(r#"{"Name":"bridge"}"#.into());
    assert_eq!(reply.status, 403, "{}", reply.text());
    assert!(reply.text().contains("operation is not permitted on predefined bridge network"), "{}", reply.text());
    let reply = create(r#"{"Name":"x","IPAM":{"Config":[{"Subnet":"10.9.0.1/24"}]}}"#.into());
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert!(reply.text().contains("invalid subnet 10.9.0.1/24: it should be 10.9.0.0/24"), "{}", reply.text());

    let reply = api(&d, "GET", "/networks/nosuchnet", None);
    assert_eq!(reply.status, 404);
    assert_eq!(reply.json()["message"], "network nosuchnet not found");
    let out = d.docker(&["network", "rm", "nosuchnet"]);
    assert!(stderr_text(&out).contains("network nosuchnet not found"), "{}", stderr_text(&out));
    let reply = api(&d, "DELETE", "/networks/bridge", None);
    assert_eq!(reply.status, 403);
    assert_eq!(reply.json()["message"], "bridge is a pre-defined network and cannot be removed");

    // As with dockerd, an unknown network fails the start, not the create.
    let out = d.docker(&["run", "--name", "lost", "--network", "nosuchnet", "busybox", "true"]);
    d.assert_exit("docker run --network nosuchnet", &out, 125);
    assert!(stderr_text(&out).contains("network nosuchnet not found"), "{}", stderr_text(&out));
    assert!(!stderr_text(&out).contains("Unable to find image"), "{}", stderr_text(&out));
    let reply = api(&d, "POST", "/containers/lost/start", None);
    assert_eq!(reply.status, 404, "{}", reply.text());
    // The CLI refuses an alias on the default bridge itself; the API does too.
    let body = br#"{"Image":"busybox","Cmd":["true"],"HostConfig":{"NetworkMode":"bridge"},
        "NetworkingConfig":{"EndpointsConfig":{"bridge":{"Aliases":["x"]}}}}"#;
    let reply = api(&d, "POST", "/containers/create", Some(body));
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert!(reply.text().contains("network-scoped alias is supported only for containers in user defined networks"));
    d.docker_ok(&["rm", "-f", "lost"]);
    d.docker_ok(&["network", "rm", "appnet"]);
}

#[test]
fn removing_everything_and_stopping_leaves_no_link_rule_or_mount() {
    if !running_as_root() {
        return;
    }
    let mut d = Daemon::with_busybox();
    let netns_before = host("ip", &["netns", "list"]);
    let subnet = test_subnet();
    d.docker_ok(&["network", "create", "--subnet", &subnet, "appnet"]);
    let network = network_id(&d, "appnet");
    let bridge_net = network_id(&d, "bridge");
    let port = free_port();
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "alpha",
        "-p",
        &format!("{port}:80"),
        "busybox",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/www",
    ]);
    d.docker_ok(&["run", "-d", "--name", "beta", "--network", "appnet", "busybox", "sleep", "300"]);
    d.docker_ok(&["network", "connect", "appnet", "alpha"]);
    assert_serves(&d, &format!("http://127.0.0.1:{port}/"));
    let (a, b) = (full_id(&d, "alpha"), full_id(&d, "beta"));
    let user_bridge = format!("kbr-{}", &network[..11]);
    let veths: Vec<String> = [(&a, &bridge_net), (&a, &network), (&b, &network)]
        .iter()
        .map(|(c, n)| format!("veth{}", &sha256_hex(&format!("{c}/{n}"))[..7]))
        .collect();
    let links = host("ip", &["-o", "link"]);
    for name in veths.iter().chain([&user_bridge, &d.bridge_name().to_string()]) {
        assert!(links.contains(&format!(" {name}")), "{name} is missing while containers run:\n{links}");
    }
    let tag = sha256_hex(d.bridge_name())[..6].to_ascii_uppercase();
    let nat = host("iptables", &["-t", "nat", "-S"]);
    assert!(nat.contains(&format!("--dport {port} -j DNAT")), "no DNAT rule for {port}:\n{nat}");

    d.docker_ok(&["rm", "-f", "alpha", "beta"]);
    d.docker_ok(&["network", "prune", "-f"]);
    let links = host("ip", &["-o", "link"]);
    for name in veths.iter().chain([&user_bridge]) {
        assert!(!links.contains(&format!(" {name}")), "{name} outlived its container or network:\n{links}");
    }
    d.stop();

    let links = host("ip", &["-o", "link"]);
    assert!(!links.contains(&format!(" {}:", d.bridge_name())), "the default bridge outlived the daemon:\n{links}");
    for table in ["filter", "nat"] {
        let rules = host("iptables", &["-t", table, "-S"]);
        for needle in
            [format!("KAPSEL-{tag}-"), d.bridge_name().to_string(), subnet.clone(), d.bridge_subnet().to_string()]
        {
            assert!(!rules.contains(&needle), "table {table} still mentions {needle}:\n{rules}");
        }
    }
    assert_eq!(host("ip", &["netns", "list"]), netns_before);
    let data_root = d.data_root().display().to_string();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(&data_root), "mounts under the data root outlived the daemon");
}

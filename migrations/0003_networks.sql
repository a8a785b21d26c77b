-- Docker's network model. Networks are kept here (not rebuilt from the host) so that their ids,
-- subnets and labels survive a daemon restart, and addresses are handed out here so that two
-- containers never get one address, also across restarts: the UNIQUE (network_id, ip) of
-- network_attachments is what guarantees it.

-- A network: the predefined bridge, host and none (made by the daemon, never removed; listed for
-- every tenant) and the user's bridge networks, each with a Linux bridge of its own.
CREATE TABLE networks (
    tenant_id  TEXT NOT NULL REFERENCES tenants(id),
    id         TEXT PRIMARY KEY,            -- 64 hex
    name       TEXT NOT NULL,
    driver     TEXT NOT NULL,               -- bridge, host, null
    bridge     TEXT NOT NULL DEFAULT '',    -- the Linux bridge (bridge driver)
    subnet     TEXT NOT NULL DEFAULT '',    -- CIDR, e.g. 172.18.0.0/16
    gateway    TEXT NOT NULL DEFAULT '',    -- the bridge's address, e.g. 172.18.0.1
    internal   INTEGER NOT NULL DEFAULT 0,  -- no NAT, no traffic out of the bridge
    attachable INTEGER NOT NULL DEFAULT 0,
    predefined INTEGER NOT NULL DEFAULT 0,
    labels     TEXT NOT NULL DEFAULT '{}',  -- JSON object
    options    TEXT NOT NULL DEFAULT '{}',  -- JSON object (driver options, as given)
    created_at TEXT NOT NULL,
    UNIQUE (tenant_id, name)
);

-- A container's membership of a network: made at create (--network) or by `network connect`,
-- gone with the container or the network. While the container runs, the endpoint columns hold
-- its live endpoint (address, MAC, interfaces); they are cleared when it stops, which releases
-- the address, as dockerd releases it.
CREATE TABLE network_attachments (
    network_id   TEXT NOT NULL REFERENCES networks(id) ON DELETE CASCADE,
    container_id TEXT NOT NULL REFERENCES containers(id) ON DELETE CASCADE,
    position     INTEGER NOT NULL,            -- attachment order; the first carries the default route
    aliases      TEXT NOT NULL DEFAULT '[]',  -- JSON array (--network-alias)
    requested_ip TEXT NOT NULL DEFAULT '',    -- --ip
    endpoint_id  TEXT,
    ip           TEXT,
    mac          TEXT,
    ifname       TEXT,                        -- inside the container: eth0, eth1…
    host_ifname  TEXT,                        -- the host end of the veth pair
    PRIMARY KEY (network_id, container_id),
    UNIQUE (network_id, ip)
);
CREATE INDEX network_attachments_by_container ON network_attachments(container_id);

-- The host ports a running container holds (ephemeral ones are only known once bound), so that
-- inspect, ps and a restarted daemon see the same ports. Cleared when the container stops.
CREATE TABLE published_ports (
    container_id   TEXT NOT NULL REFERENCES containers(id) ON DELETE CASCADE,
    proto          TEXT NOT NULL,      -- tcp, udp
    container_port INTEGER NOT NULL,
    host_ip        TEXT NOT NULL,      -- 0.0.0.0 for all addresses
    host_port      INTEGER NOT NULL,
    PRIMARY KEY (container_id, proto, container_port, host_ip, host_port)
);

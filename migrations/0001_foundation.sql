-- The foundation schema: tenants, the image store, containers and events.
-- Every object row carries a tenant id, so that tenancy (tokens, quotas) can arrive later without
-- a data migration; until then everything belongs to the 'default' tenant.

CREATE TABLE tenants (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);
INSERT INTO tenants (id, name, created_at) VALUES ('default', 'default', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));

-- Layers are shared by every image and tenant that uses them: one row and one extracted directory
-- per diff-id, removed only when no image references it any more.
CREATE TABLE layers (
    diff_id    TEXT PRIMARY KEY,
    size       INTEGER NOT NULL,  -- bytes of file content once extracted
    tar_size   INTEGER NOT NULL,  -- bytes of the uncompressed tar kept for `docker save`
    created_at TEXT NOT NULL
);

-- An image is its config (exact bytes: their sha256 is the image id). The same image imported
-- by two tenants is two rows over the same layers.
CREATE TABLE images (
    tenant_id  TEXT NOT NULL REFERENCES tenants(id),
    id         TEXT NOT NULL,         -- sha256:<hex> of config
    config     BLOB NOT NULL,
    size       INTEGER NOT NULL,      -- sum of its layers' sizes
    created    TEXT,                  -- the config's "created" (RFC 3339), for listing and filters
    added_at   TEXT NOT NULL,         -- when it entered this daemon
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE image_layers (
    tenant_id  TEXT NOT NULL,
    image_id   TEXT NOT NULL,
    position   INTEGER NOT NULL,
    diff_id    TEXT NOT NULL REFERENCES layers(diff_id),
    PRIMARY KEY (tenant_id, image_id, position),
    FOREIGN KEY (tenant_id, image_id) REFERENCES images(tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX image_layers_by_diff_id ON image_layers(diff_id);

-- Tags name images per tenant: repository is the full normalized name (docker.io/library/busybox).
CREATE TABLE tags (
    tenant_id  TEXT NOT NULL,
    repository TEXT NOT NULL,
    tag        TEXT NOT NULL,
    image_id   TEXT NOT NULL,
    tagged_at  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, repository, tag),
    FOREIGN KEY (tenant_id, image_id) REFERENCES images(tenant_id, id)
);
CREATE INDEX tags_by_image ON tags(tenant_id, image_id);

-- Containers: the definition as created (Config and HostConfig JSON) and the state the runtime
-- reports. Names are unique per tenant.
CREATE TABLE containers (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    image_id    TEXT NOT NULL,
    image_ref   TEXT NOT NULL,        -- the image as the user named it
    config      TEXT NOT NULL,        -- Docker Config JSON
    host_config TEXT NOT NULL,        -- Docker HostConfig JSON
    status      TEXT NOT NULL DEFAULT 'created',
    pid         INTEGER NOT NULL DEFAULT 0,
    exit_code   INTEGER NOT NULL DEFAULT 0,
    oom_killed  INTEGER NOT NULL DEFAULT 0,
    error       TEXT NOT NULL DEFAULT '',
    started_at  TEXT,
    finished_at TEXT,
    restart_count INTEGER NOT NULL DEFAULT 0,
    created_at  TEXT NOT NULL,
    UNIQUE (tenant_id, name),
    FOREIGN KEY (tenant_id, image_id) REFERENCES images(tenant_id, id)
);

-- Events, kept so that `docker events --since` works across a daemon restart.
CREATE TABLE events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id  TEXT NOT NULL,
    time_nano  INTEGER NOT NULL,
    type       TEXT NOT NULL,
    action     TEXT NOT NULL,
    actor_id   TEXT NOT NULL,
    attributes TEXT NOT NULL          -- JSON object
);
CREATE INDEX events_by_time ON events(time_nano);

-- Daemon-wide settings; engine_id is the daemon's identity in /info.
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT INTO settings (key, value) VALUES ('engine_id', lower(hex(randomblob(16))));

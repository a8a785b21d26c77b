-- Volumes (`docker volume`, `-v name:/path`, anonymous volumes) and which containers use them.
-- A volume is a row here plus a directory `<data-root>/volumes/<name>/_data` (its `mountpoint`,
-- kept in the row so that where tenants' volumes live can change without a data migration).
-- Labels and driver options are JSON objects, as the API sends them; anonymous volumes carry
-- Docker's `com.docker.volume.anonymous` label, which prune reads.
CREATE TABLE volumes (
    tenant_id  TEXT NOT NULL REFERENCES tenants(id),
    name       TEXT NOT NULL,
    driver     TEXT NOT NULL,
    mountpoint TEXT NOT NULL,
    labels     TEXT NOT NULL,         -- JSON object
    options    TEXT NOT NULL,         -- JSON object: the local driver's type, device, o
    created_at TEXT NOT NULL,         -- RFC 3339, seconds
    PRIMARY KEY (tenant_id, name)
);

-- The volumes each container mounts, decided at create: a volume with a row here is in use and
-- cannot be removed (the foreign key makes that hold even against a racing remove). The rows
-- go with the container; `anonymous` marks the volumes made for it (no name given), which
-- `docker rm -v` removes too.
CREATE TABLE container_volumes (
    container_id TEXT NOT NULL REFERENCES containers(id) ON DELETE CASCADE,
    tenant_id    TEXT NOT NULL,
    volume_name  TEXT NOT NULL,
    destination  TEXT NOT NULL,
    read_only    INTEGER NOT NULL,
    anonymous    INTEGER NOT NULL,
    mode         TEXT NOT NULL,       -- as inspect shows it: "z", "ro", "" …
    PRIMARY KEY (container_id, destination),
    FOREIGN KEY (tenant_id, volume_name) REFERENCES volumes(tenant_id, name)
);
CREATE INDEX container_volumes_by_volume ON container_volumes(tenant_id, volume_name);

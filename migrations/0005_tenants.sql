-- Tenancy: tenants get quotas, defaults and their own range of host uids (for user
-- namespaces); callers authenticate with bearer tokens, stored only as SHA-256 hashes; every
-- mutating call is recorded in an audit log the admin can read.

ALTER TABLE tenants ADD COLUMN quotas TEXT NOT NULL DEFAULT '{}';    -- JSON, absent fields unlimited
ALTER TABLE tenants ADD COLUMN defaults TEXT NOT NULL DEFAULT '{}';  -- JSON, absent fields no default
ALTER TABLE tenants ADD COLUMN uid_base INTEGER;                     -- first host uid/gid of its range
CREATE UNIQUE INDEX tenants_by_uid_base ON tenants(uid_base);

CREATE TABLE tokens (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    admin      INTEGER NOT NULL DEFAULT 0,  -- an admin token acts for the daemon's operator
    hash       TEXT NOT NULL UNIQUE,        -- sha256 hex of the token
    created_at TEXT NOT NULL,
    revoked_at TEXT
);

CREATE TABLE audit (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    time       TEXT NOT NULL,
    tenant_id  TEXT NOT NULL,
    principal  TEXT NOT NULL,               -- admin, or the tenant's name
    method     TEXT NOT NULL,
    path       TEXT NOT NULL,
    action     TEXT NOT NULL,               -- e.g. container.create
    object     TEXT NOT NULL,               -- the id or name the path names, when any
    status     INTEGER NOT NULL             -- the HTTP status of the answer
);
CREATE INDEX audit_by_time ON audit(time);

-- Registry digests: `repository@sha256:<manifest digest>` names of a tenant's images, recorded
-- when an image is pulled from or pushed to a registry (docker's RepoDigests). They go with the
-- image.

CREATE TABLE repo_digests (
    tenant_id  TEXT NOT NULL,
    repository TEXT NOT NULL,             -- the full normalized name (127.0.0.1:5000/busybox)
    digest     TEXT NOT NULL,             -- sha256:<hex> of the manifest (or index) as the registry serves it
    image_id   TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, repository, digest),
    FOREIGN KEY (tenant_id, image_id) REFERENCES images(tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX repo_digests_by_image ON repo_digests(tenant_id, image_id);

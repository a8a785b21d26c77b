-- Restart policies need to know whether the user stopped a container (an unless-stopped container
-- the user stopped stays down, even across a daemon restart), and health checks keep the last
-- probe results with the container so that inspect shows them after a restart.
ALTER TABLE containers ADD COLUMN manually_stopped INTEGER NOT NULL DEFAULT 0;
ALTER TABLE containers ADD COLUMN health TEXT;

-- Rollouts (api.Rollout): how a deployment reaches its device group, all at once (no waves,
-- state 'complete') or in waves. waves is the comma-separated cumulative percentages, '' for
-- none; wave the index of the wave reached, since wave_started_at (microseconds). wave_wait is
-- in seconds, max_failure in hundredths of a percent. previous_id is the group's deployment
-- when this one was made ('' for none). revision grows with every change, so that a change
-- is made only if nothing changed the rollout since it was read (replicas evaluate rollouts
-- concurrently).
ALTER TABLE deployments ADD COLUMN state TEXT NOT NULL DEFAULT 'complete';
ALTER TABLE deployments ADD COLUMN waves TEXT NOT NULL DEFAULT '';
ALTER TABLE deployments ADD COLUMN wave INTEGER NOT NULL DEFAULT 0;
ALTER TABLE deployments ADD COLUMN wave_started_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE deployments ADD COLUMN wave_wait BIGINT NOT NULL DEFAULT 0;
ALTER TABLE deployments ADD COLUMN max_failure INTEGER NOT NULL DEFAULT 0;
ALTER TABLE deployments ADD COLUMN min_devices INTEGER NOT NULL DEFAULT 0;
ALTER TABLE deployments ADD COLUMN rollback_on_halt BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE deployments ADD COLUMN previous_id TEXT NOT NULL DEFAULT '';
ALTER TABLE deployments ADD COLUMN reason TEXT NOT NULL DEFAULT '';
ALTER TABLE deployments ADD COLUMN changed_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE deployments ADD COLUMN revision BIGINT NOT NULL DEFAULT 0;

-- The periodic evaluation reads the rollouts under way across tenants.
CREATE INDEX deployments_state ON deployments (state);

-- Crashes of a deployment's images are counted per image.
CREATE INDEX events_image ON events (tenant_id, image_id, category);

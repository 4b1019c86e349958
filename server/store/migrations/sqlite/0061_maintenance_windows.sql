-- Maintenance windows (api.Window): a group's devices install application updates only inside
-- its window ('' for none), unless the deployment is urgent.
ALTER TABLE device_groups ADD COLUMN maintenance_window TEXT NOT NULL DEFAULT '';
ALTER TABLE deployments ADD COLUMN urgent INTEGER NOT NULL DEFAULT 0;

-- Who made each proxy key (`user:<email>`, `token:<id>`, `cli`, `local`): a member may revoke
-- and rotate only the keys it made; admins any key of their tenant.
ALTER TABLE proxy_keys ADD COLUMN created_by TEXT;

-- Teams: tenants and their projects, proxy keys, API tokens, users and their login sessions,
-- provider credentials, and the audit log. Secrets are never stored in clear: keys, tokens and
-- session cookies as SHA-256 hex (`hash`, they are 256-bit random values), passwords as Argon2id
-- PHC strings, provider credentials sealed with AES-256-GCM (`enc:v1:…`). `hint` is the first
-- characters and the last four of a key or token, for listings.
CREATE TABLE IF NOT EXISTS tenants (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    disabled_ms BIGINT,
    created_ms BIGINT NOT NULL
);
INSERT INTO tenants (id, name, created_ms) VALUES ('default', 'default', 0) ON CONFLICT (id) DO NOTHING;
CREATE TABLE IF NOT EXISTS projects (
    tenant TEXT NOT NULL,
    name TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant, name)
);
CREATE TABLE IF NOT EXISTS proxy_keys (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    name TEXT,
    project TEXT,
    agent TEXT,
    environment TEXT,
    allowed_models TEXT NOT NULL DEFAULT '[]',
    hash TEXT NOT NULL UNIQUE,
    hint TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    revoked_ms BIGINT,
    last_used_ms BIGINT
);
CREATE INDEX IF NOT EXISTS proxy_keys_tenant ON proxy_keys (tenant);
-- `tenant` NULL: an operator token, over every tenant.
CREATE TABLE IF NOT EXISTS api_tokens (
    id TEXT PRIMARY KEY,
    tenant TEXT,
    role TEXT NOT NULL,
    name TEXT,
    hash TEXT NOT NULL UNIQUE,
    hint TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    revoked_ms BIGINT,
    last_used_ms BIGINT
);
CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    tenant TEXT NOT NULL,
    role TEXT NOT NULL,
    password_hash TEXT,
    disabled_ms BIGINT,
    created_ms BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS login_sessions (
    hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS login_sessions_user ON login_sessions (user_id);
CREATE TABLE IF NOT EXISTS provider_credentials (
    tenant TEXT NOT NULL,
    provider TEXT NOT NULL,
    sealed TEXT NOT NULL,
    hint TEXT NOT NULL,
    updated_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant, provider)
);
-- Who did what: `before` and `after` are JSON without secrets; `tenant` NULL for operator work
-- on tenants themselves.
CREATE TABLE IF NOT EXISTS audit_log (
    id TEXT PRIMARY KEY,
    ts_ms BIGINT NOT NULL,
    tenant TEXT,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    before_json TEXT,
    after_json TEXT
);
CREATE INDEX IF NOT EXISTS audit_log_tenant_ts ON audit_log (tenant, ts_ms);

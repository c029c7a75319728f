-- kiro-sync schema, version 1. Shared by DuckDB and Postgres; ${json} is JSON on DuckDB and
-- JSONB on Postgres. Postgres-only extras (foreign keys with ON DELETE CASCADE, partial
-- indexes) live in 0001_initial.postgres.sql. Ids are TEXT: Kiro ids are opaque strings
-- ("project-123" as well as UUIDs). See docs/storage.md for every deviation from the seed.

-- Provider names an integration may use. The seed's CHECK (type IN (eight names)) becomes a
-- foreign key into this table: the eight are inserted here, and providers added as YAML are
-- registered at start (Store.register_provider_types), so the database still rejects a type
-- nobody installed.
CREATE TABLE provider_types (
    name TEXT PRIMARY KEY,
    builtin BOOLEAN NOT NULL DEFAULT false,
    registered_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

INSERT INTO provider_types (name, builtin) VALUES
    ('jira', true), ('github', true), ('slack', true), ('trello', true),
    ('asana', true), ('linear', true), ('notion', true), ('teams', true);

-- The seed's three tables ---------------------------------------------------------------

CREATE TABLE integrations (
    id TEXT PRIMARY KEY DEFAULT (gen_random_uuid()::TEXT),
    project_id TEXT NOT NULL,
    type TEXT NOT NULL REFERENCES provider_types (name),
    name TEXT NOT NULL,
    config ${json} NOT NULL DEFAULT '{}',
    credentials BYTEA,
    is_active BOOLEAN DEFAULT true,
    last_sync_at TIMESTAMPTZ,
    sync_status TEXT DEFAULT 'idle'
        CHECK (sync_status IN ('idle', 'syncing', 'success', 'error', 'partial')),
    error_message TEXT,
    webhook_url TEXT,
    created_by TEXT,
    created_at TIMESTAMPTZ DEFAULT now(),
    updated_at TIMESTAMPTZ DEFAULT now(),
    UNIQUE (project_id, type, name)
);

CREATE TABLE integration_sync_logs (
    id TEXT PRIMARY KEY DEFAULT (gen_random_uuid()::TEXT),
    integration_id TEXT,
    sync_type TEXT NOT NULL CHECK (sync_type IN ('import', 'export', 'bidirectional', 'webhook')),
    status TEXT NOT NULL CHECK (status IN ('success', 'error', 'partial')),
    items_processed INTEGER DEFAULT 0,
    items_created INTEGER DEFAULT 0,
    items_updated INTEGER DEFAULT 0,
    items_skipped INTEGER DEFAULT 0,
    errors TEXT[],
    started_at TIMESTAMPTZ DEFAULT now(),
    completed_at TIMESTAMPTZ,
    duration_ms INTEGER
);

CREATE INDEX integration_sync_logs_by_integration
    ON integration_sync_logs (integration_id, started_at);

-- delivery_id (the provider's delivery/event id, unique per integration when present),
-- error, attempts and the claim columns are kiro-sync's additions for durable processing.
CREATE TABLE webhook_logs (
    id TEXT PRIMARY KEY DEFAULT (gen_random_uuid()::TEXT),
    integration_id TEXT,
    event_type TEXT NOT NULL,
    payload ${json} NOT NULL,
    processed BOOLEAN DEFAULT false,
    processed_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ DEFAULT now(),
    delivery_id TEXT,
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    claimed_by TEXT,
    claimed_until TIMESTAMPTZ,
    UNIQUE (integration_id, delivery_id)
);

-- The Kiro side ----------------------------------------------------------------------------

CREATE TABLE projects (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL DEFAULT '',
    statuses TEXT[] NOT NULL DEFAULT ARRAY['To Do', 'In Progress', 'Done'],
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Emails are stored lower-cased and trimmed, so matching by email is exact.
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    email TEXT UNIQUE,
    name TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE project_members (
    project_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, user_id)
);

CREATE TABLE work_items (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    title TEXT NOT NULL,
    description TEXT,
    status TEXT NOT NULL DEFAULT 'To Do',
    priority TEXT CHECK (priority IN ('low', 'medium', 'high', 'urgent')),
    assignee_id TEXT,
    tags TEXT[] NOT NULL DEFAULT ARRAY[]::TEXT[],
    type TEXT,
    due_date TIMESTAMPTZ,
    completed_at TIMESTAMPTZ,
    parent_id TEXT,
    custom ${json} NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    deleted_at TIMESTAMPTZ,
    version INTEGER NOT NULL DEFAULT 1 CHECK (version >= 1)
);

CREATE TABLE comments (
    id TEXT PRIMARY KEY,
    work_item_id TEXT NOT NULL,
    body TEXT NOT NULL,
    author_id TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    deleted_at TIMESTAMPTZ
);

-- Sync bookkeeping -------------------------------------------------------------------------

CREATE TABLE external_links (
    integration_id TEXT NOT NULL,
    entity TEXT NOT NULL CHECK (entity IN ('work_item', 'comment', 'project', 'user')),
    kiro_id TEXT NOT NULL,
    external_id TEXT NOT NULL,
    external_key TEXT,
    external_url TEXT,
    remote_updated_at TIMESTAMPTZ,
    snapshot ${json} NOT NULL DEFAULT '{}',
    snapshot_hash TEXT,
    synced_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (integration_id, entity, external_id),
    UNIQUE (integration_id, entity, kiro_id)
);

CREATE TABLE sync_cursors (
    integration_id TEXT NOT NULL,
    stream TEXT NOT NULL CHECK (stream <> ''),
    partition TEXT NOT NULL DEFAULT '',
    value TEXT,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (integration_id, stream, partition)
);

CREATE TABLE sync_runs (
    id TEXT PRIMARY KEY,
    integration_id TEXT NOT NULL,
    trigger TEXT NOT NULL CHECK (trigger IN ('manual', 'schedule', 'webhook', 'api')),
    status TEXT NOT NULL
        CHECK (status IN ('running', 'success', 'partial', 'error', 'cancelled')),
    counters ${json} NOT NULL DEFAULT '{}',
    progress ${json} NOT NULL DEFAULT '{}',
    started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at TIMESTAMPTZ,
    error_class TEXT,
    error_message TEXT,
    node TEXT,
    lease_expires_at TIMESTAMPTZ
);

CREATE TABLE sync_conflicts (
    id TEXT PRIMARY KEY,
    integration_id TEXT NOT NULL,
    entity TEXT NOT NULL CHECK (entity IN ('work_item', 'comment', 'project', 'user')),
    kiro_id TEXT NOT NULL,
    external_id TEXT NOT NULL,
    field TEXT NOT NULL,
    kiro_value ${json},
    external_value ${json},
    base_value ${json},
    status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved')),
    resolution TEXT,
    resolved_value ${json},
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    resolved_at TIMESTAMPTZ
);

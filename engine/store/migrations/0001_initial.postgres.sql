-- Postgres-only part of version 1: the seed's foreign keys to integrations (ON DELETE
-- CASCADE) and the indexes DuckDB does without. DuckDB cannot change a unique column of a row
-- that a foreign key references (renaming an integration would fail), so there the store
-- deletes an integration's dependents itself (Store.delete_integration does it on both).

ALTER TABLE integration_sync_logs ADD FOREIGN KEY (integration_id)
    REFERENCES integrations (id) ON DELETE CASCADE;
ALTER TABLE webhook_logs ADD FOREIGN KEY (integration_id)
    REFERENCES integrations (id) ON DELETE CASCADE;
ALTER TABLE external_links ADD FOREIGN KEY (integration_id)
    REFERENCES integrations (id) ON DELETE CASCADE;
ALTER TABLE sync_cursors ADD FOREIGN KEY (integration_id)
    REFERENCES integrations (id) ON DELETE CASCADE;
ALTER TABLE sync_runs ADD FOREIGN KEY (integration_id)
    REFERENCES integrations (id) ON DELETE CASCADE;
ALTER TABLE sync_conflicts ADD FOREIGN KEY (integration_id)
    REFERENCES integrations (id) ON DELETE CASCADE;

CREATE INDEX work_items_by_project ON work_items (project_id, id);
CREATE INDEX comments_by_work_item ON comments (work_item_id);
CREATE INDEX webhook_logs_pending ON webhook_logs (created_at) WHERE NOT processed;
CREATE INDEX sync_runs_by_integration ON sync_runs (integration_id, started_at);
CREATE INDEX sync_conflicts_by_integration ON sync_conflicts (integration_id, status);
-- At most one running run per integration, whatever the nodes do.
CREATE UNIQUE INDEX sync_runs_one_running ON sync_runs (integration_id)
    WHERE status = 'running';

"""Migration files: versions, per-backend statements, statement splitting."""

from __future__ import annotations

from engine.store import duckdb, postgres
from engine.store.migrate import load_migrations, split_statements


def test_split_statements_drops_comments_and_keeps_multiline_statements() -> None:
    sql = "-- a comment;\nCREATE TABLE a (\n  x INT -- trailing\n);\n\nINSERT INTO a VALUES (1);\n"
    assert split_statements(sql) == [
        "CREATE TABLE a (\n  x INT -- trailing\n)",
        "INSERT INTO a VALUES (1)",
    ]


def test_each_backend_gets_the_shared_statements_first_and_its_own_after() -> None:
    [pg] = load_migrations(postgres.DIALECT)
    [duck] = load_migrations(duckdb.DIALECT)
    assert (pg.version, pg.name) == (duck.version, duck.name) == (1, "initial")
    assert pg.statements[: len(duck.statements)] != duck.statements  # JSON vs JSONB
    assert any("jsonb" in s.lower() for s in pg.statements)
    assert not any("jsonb" in s.lower() for s in duck.statements)
    assert any("FOREIGN KEY (integration_id)" in s for s in pg.statements)
    assert not any("FOREIGN KEY (integration_id)" in s for s in duck.statements)
    assert pg.statements[0].startswith("CREATE TABLE provider_types")
    assert pg.statements[-1].startswith("CREATE UNIQUE INDEX sync_runs_one_running")
    assert not any("${" in s for s in pg.statements + duck.statements)

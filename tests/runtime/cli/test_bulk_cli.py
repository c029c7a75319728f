"""kiro-sync import and export: files in and out of the data directory's store."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import openpyxl
import pytest

from engine.bulk.columns import COLUMN_NAMES
from runtime.cli import main

ROWS = [
    {"id": "c1", "title": "CLI one", "status": "done", "tags": ["x", "y"], "dueDate": "2025-02-03"},
    {"title": "CLI two", "priority": "P0", "assigneeEmail": "cli@example.com"},
    {"externalId": "E-9", "title": "CLI three", "custom": {"points": 2}},
]


def write_json(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.mark.parametrize("fmt", ["json", "csv", "xlsx"])
def test_import_a_file_then_export_it_and_import_that_into_another_project(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    source = write_json(tmp_path / "in.json", ROWS)
    assert main(["import", str(source), "--project", "p-one", "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["workItems"] == {"created": 3, "updated": 0, "skipped": 0, "failed": 0}

    out = tmp_path / f"items.{fmt}"
    assert main(["export", "--project", "p-one", "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["format"], summary["rows"]) == (fmt, 3)
    assert not (tmp_path / f"items.{fmt}.partial").exists()

    assert main(["import", str(out), "--project", "p-two", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["workItems"]["created"] == 3
    again = tmp_path / "again.json"
    assert main(["export", "--project", "p-two", "--out", str(again)]) == 0
    assert "3 work items" in capsys.readouterr().out
    copied = json.loads(again.read_text(encoding="utf-8"))
    assert {r["title"]: (r["status"], r["priority"], r["externalId"]) for r in copied} == {
        "CLI one": ("Done", None, None),
        "CLI two": ("To Do", "urgent", None),
        "CLI three": ("To Do", None, "E-9"),
    }


def test_export_reads_back_with_independent_readers(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["import", str(write_json(tmp_path / "in.json", ROWS)), "--project", "p"]) == 0
    capsys.readouterr()
    main(["export", "--project", "p", "--format", "csv", "--out", str(tmp_path / "o.data")])
    with (tmp_path / "o.data").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    first = next(row for row in rows if row["id"] == "c1")
    assert (first["title"], first["tags"]) == ("CLI one", "x, y")
    assert first["dueDate"] == "2025-02-03T00:00:00Z"
    main(["export", "--project", "p", "--out", str(tmp_path / "o.xlsx"), "--status", "Done"])
    sheet = openpyxl.load_workbook(tmp_path / "o.xlsx").active
    assert [c.value for c in sheet[1]] == list(COLUMN_NAMES)
    assert [r[0] for r in sheet.iter_rows(2, values_only=True)] == ["c1"]


def test_bad_rows_are_listed_and_the_exit_status_is_1(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("title,status\r\nfine,todo\r\n,Done\r\nalso fine,Shipped\r\n", encoding="utf-8")
    assert main(["import", str(path), "--project", "p"]) == 1
    out = capsys.readouterr().out
    assert "workItems[1]: title: a title is required" in out
    assert "workItems[2]: status: unknown status 'Shipped'" in out
    assert "workItems" in out and "1" in out


def test_file_level_problems_are_one_clear_error(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("title,colour\r\nx,red\r\n", encoding="utf-8")
    assert main(["import", str(path), "--project", "p"]) == 1
    err = capsys.readouterr().err
    assert "error: bad.csv: column 2 'colour' is not one of" in err
    assert "Traceback" not in err
    assert main(["export", "--project", "nope", "--out", str(tmp_path / "x.csv")]) == 1
    assert "error: Project not found" in capsys.readouterr().err
    assert main(["export", "--project", "p", "--out", str(tmp_path / "x.txt")]) == 1
    assert "give --format json, csv or xlsx" in capsys.readouterr().err
    assert not list(tmp_path.glob("x.*"))
    for out, says in ((tmp_path / "no" / "x.csv", "does not exist"), (tmp_path, "a directory")):
        assert main(["export", "--project", "p", "--out", str(out), "--format", "csv"]) == 1
        err = capsys.readouterr().err  # was a traceback
        assert err.startswith(f"error: cannot write {out}: it ") and says in err, err


def test_progress_bars_are_drawn_on_a_terminal(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")  # rich draws live displays on a terminal only
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    source = write_json(tmp_path / "in.json", ROWS)
    assert main(["import", str(source), "--project", "p", "--batch-size", "1"]) == 0
    assert "importing in.json" in capsys.readouterr().err
    assert main(["export", "--project", "p", "--out", str(tmp_path / "o.csv")]) == 0
    assert "exporting to o.csv" in capsys.readouterr().err

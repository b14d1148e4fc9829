"""The store refuses ids that could escape it, and writes atomically."""

from __future__ import annotations

from pathlib import Path

import pytest

from ned_server.errors import InvalidInput, NotFound
from ned_server.runtime.store import Store, atomic_path, check_id, write_json


@pytest.mark.parametrize("bad", ["", "..", "../x", "a/b", "a\\b", "/etc", ".hidden", "a..b", "x" * 129, "a b",
                                 "é", "a\x00b"])
def test_unsafe_ids_are_refused(bad: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="invalid"):
        check_id("shot", bad)
    store = Store(tmp_path)
    with pytest.raises(InvalidInput):
        store.shot_dir(bad)


@pytest.mark.parametrize("good", ["shot_010", "A", "sh0t-1001.v2", "x" * 128])
def test_safe_ids(good: str, tmp_path: Path) -> None:
    assert Store(tmp_path).shot_dir(good).parent == (tmp_path / "shots").resolve()


def test_atomic_write_leaves_old_file_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "a.json"
    write_json(target, {"v": 1})
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert target.read_text().count('"v": 1') == 1
    assert list(tmp_path.iterdir()) == [target]


def test_temporaries_are_swept_and_missing_items_are_not_found(tmp_path: Path) -> None:
    (tmp_path / "jobs").mkdir(parents=True)
    (tmp_path / "jobs" / ".x.json.123.tmp").write_text("partial")
    store = Store(tmp_path)
    assert not list((tmp_path / "jobs").iterdir())
    with pytest.raises(NotFound, match="unknown actor 'bob'"):
        store.require_actor("bob")
    with pytest.raises(NotFound, match="not on the server"):
        store.require_shot("s1")

"""The one row reader: JSON lines, CSV and Parquet; every problem is one line naming file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow
import pyarrow.parquet
import pytest

from graphs.errors import ForkjoinError
from orchestrator.datasets import DatasetError, read_rows


def write(path: Path, data: str | bytes) -> Path:
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return path


def test_json_lines_in_order_blank_lines_skipped(tmp_path: Path) -> None:
    path = write(tmp_path / "d.jsonl", '{"id": 1, "prompt": "a"}\n\n{"prompt": "b"}\n')
    assert read_rows(path, required=("prompt",)) == [{"id": 1, "prompt": "a"}, {"prompt": "b"}]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"prompt": "a"}\n{broken\n', r"d.jsonl:2: not valid JSON \(Expecting property name enclosed in double quotes at column 2\)$"),
        ('["prompt"]\n', r"d.jsonl:1: expected a JSON object, got list$"),
        ('{"prompt": "a"}\n\n{"id": 3}\n', r"d.jsonl:3: the row has no 'prompt'$"),
        ('{"prompt": ""}\n', r"d.jsonl:1: the row has no 'prompt'$"),
        ('{"prompt": null}\n', r"d.jsonl:1: the row has no 'prompt'$"),
        ('{"prompt": 7}\n', r"d.jsonl:1: 'prompt' should be str, got int$"),
    ],
)
def test_bad_json_lines_name_the_line(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path / "d.jsonl", text)
    with pytest.raises(DatasetError, match=message) as caught:
        read_rows(path, required=("prompt",), types={"prompt": str})
    assert str(caught.value).startswith(str(path)) and "\n" not in str(caught.value)
    assert isinstance(caught.value, ForkjoinError)


def test_a_missing_column_is_named_on_the_error(tmp_path: Path) -> None:
    path = write(tmp_path / "d.jsonl", '{"prompt": "a"}\n')
    with pytest.raises(DatasetError, match="the row has no 'response'") as caught:
        read_rows(path, required=("prompt", "response"))
    assert caught.value.missing == "response"


def test_invalid_utf8_names_its_line(tmp_path: Path) -> None:
    path = write(tmp_path / "d.jsonl", b'{"prompt": "a"}\n{"prompt": "b"}\n{"prompt": "\xff"}\n')
    with pytest.raises(DatasetError, match=r"d.jsonl:3: not valid UTF-8 \(byte 0xff\)$"):
        read_rows(path)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"^no such file: .*nope.jsonl$"):
        read_rows(tmp_path / "nope.jsonl")
    with pytest.raises(DatasetError, match=r"^not a file: "):
        read_rows(tmp_path)


def test_csv_rows_and_their_lines(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", 'id,prompt\n1,"a, b"\n2,c\n')
    assert read_rows(path, required=("prompt",)) == [{"id": "1", "prompt": "a, b"}, {"id": "2", "prompt": "c"}]
    with pytest.raises(DatasetError, match=r"d.csv:3: the row has no 'prompt'$"):
        read_rows(write(tmp_path / "d.csv", "id,prompt\n1,a\n2,\n"), required=("prompt",))
    with pytest.raises(DatasetError, match=r"d.csv:2: 3 fields, the header has 2$"):
        read_rows(write(tmp_path / "d.csv", "id,prompt\n1,a,extra\n"))
    with pytest.raises(DatasetError, match=r"d.csv:2: fewer fields than the header's 2$"):
        read_rows(write(tmp_path / "d.csv", "id,prompt\n1\n"))
    with pytest.raises(DatasetError, match=r"d.csv:1: no column 'prompt' \(columns: id\)$"):
        read_rows(write(tmp_path / "d.csv", "id\n1\n"), required=("prompt",))


def test_parquet_rows_and_row_numbers(tmp_path: Path) -> None:
    path = tmp_path / "d.parquet"
    pyarrow.parquet.write_table(pyarrow.table({"id": [1, 2], "prompt": ["a", None]}), path)
    assert read_rows(path)[0] == {"id": 1, "prompt": "a"}
    with pytest.raises(DatasetError, match=r"d.parquet:2: the row has no 'prompt'$"):
        read_rows(path, required=("prompt",))
    with pytest.raises(DatasetError, match=r"d.parquet: no column 'response' \(columns: id, prompt\)$"):
        read_rows(path, required=("response",))
    with pytest.raises(DatasetError, match=r"junk.parquet: not a readable Parquet file \("):
        read_rows(write(tmp_path / "junk.parquet", json.dumps({"prompt": "a"})))

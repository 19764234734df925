"""Reading a run directory's metrics.jsonl into series to plot.

The log holds one record per epoch (search and train alike) and, for a
TSE search run with --tse-analysis, one record per architecture update
with "record": "tse_gradient" (cosine and norm ratio between the exact
and the first-order TSE gradient). Keys a run did not log are absent, not
zero, so a series is only what was measured.
"""
import json
import os


class LogError(Exception):
    """A log that cannot be read as the runs write it."""


def read_records(path):
    records = []
    try:
        with open(path, encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                line = line.strip()
                if not line:
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as e:
                    raise LogError(f"{path} line {lineno}: not JSON ({e.msg})") from None
                if not isinstance(rec, dict):
                    raise LogError(f"{path} line {lineno}: not a JSON object")
                records.append(rec)
    except OSError as e:
        raise LogError(f"{path}: cannot read: {e.strerror}") from None
    return records


def epoch_records(records):
    return [r for r in records if "record" not in r and isinstance(r.get("epoch"), int)]


def epoch_series(records, key):
    """[(epoch number from 1, value)] of the epoch records that hold key."""
    return [(r["epoch"] + 1, float(r[key])) for r in epoch_records(records)
            if isinstance(r.get(key), (int, float)) and not isinstance(r.get(key), bool)]


def update_series(records, key):
    """[(update number from 1, value)] of the tse_gradient records."""
    rows = [r for r in records if r.get("record") == "tse_gradient"]
    return [(i + 1, float(r[key])) for i, r in enumerate(rows) if isinstance(r.get(key), (int, float))]


def is_search(records):
    return any("genotype" in r for r in epoch_records(records))


def load_run(run_dir):
    """(records, result dict or None) of a run directory; no log: ([], ...)."""
    metrics = os.path.join(run_dir, "metrics.jsonl")
    records = read_records(metrics) if os.path.exists(metrics) else []
    result = None
    path = os.path.join(run_dir, "result.json")
    if os.path.exists(path):
        try:
            with open(path, encoding="utf-8") as f:
                result = json.load(f)
        except (OSError, json.JSONDecodeError) as e:
            raise LogError(f"{path}: unreadable: {e}") from None
    return records, result

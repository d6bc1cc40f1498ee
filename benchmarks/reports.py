"""Reports at scale: every format for a run of 100,000 trials (5 conditions x 10,000 items x
2 repeats, 2 metrics, an output of about 200 characters and a log line per trial, costs
known, 1% failed). The target is under 10 s for all formats; the HTML file size is printed,
and when Chromium is installed the time it takes to load the page and render the first
page of trials.

Run: .venv/bin/python benchmarks/reports.py [--trials N] [--no-browser]
(the test suite runs it with --trials 100 --no-browser, so that it cannot rot)
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from pytest_crucible.review.analyse_run import analyse_run
from pytest_crucible.store.records import TrialRecord
from pytest_crucible.store.sqlite import Store

TARGET_S = 10.0
CONDITIONS = ["terse", "few_shot", "cot", "self_check", "ensemble"]
REPEATS = 2


def build(path: Path, trials: int) -> tuple[Store, str]:
    """A stored run, written in one transaction (setup, not measured)."""
    items = trials // (len(CONDITIONS) * REPEATS)
    header = {
        "name": "capitals-at-scale",
        "description": "benchmark",
        "fingerprint": "f" * 16,
        "dataset_fingerprint": "d" * 16,
        "config": {"temperature": 0.7},
        "seed": 1,
        "repeat": REPEATS,
        "conditions": CONDITIONS,
        "baseline": "terse",
        "metrics": {"correct": {"kind": "binary"}, "score": {}},
        "total_trials": items * len(CONDITIONS) * REPEATS,
        "items": items,
    }
    store = Store(path)
    run_id = store.create_run(header, {"python": "3.11"})
    rng = random.Random(0)
    batch = []
    text = "The capital is {}. " + "Some explanation of the reasoning. " * 5
    for c_index, condition in enumerate(CONDITIONS):
        for i in range(items):
            item_id = f"item-{i:05d}"
            for repeat in range(REPEATS):
                failed = rng.random() < 0.01
                result = {
                    "experiment": "bench",
                    "key": f"{condition}/{item_id}/{repeat}",
                    "condition": condition,
                    "item_id": item_id,
                    "repeat": repeat,
                    "cluster": None,
                    "status": "failed" if failed else "passed",
                    "metrics": {}
                    if failed
                    else {
                        "correct": rng.random() < 0.5 + 0.03 * c_index,
                        "score": rng.gauss(0.5 + 0.01 * c_index, 0.2),
                    },
                    "output": text.format(i),
                    "error": {"type": "TimeoutError", "message": "timed out", "where": "condition"}
                    if failed
                    else None,
                    "calls": 1,
                    "latency_s": rng.uniform(0.1, 1 + c_index),
                    "usage": {"cost_usd": 0.0004 * (1 + c_index)},
                    "started_at": 0.0,
                    "ended_at": 1.0,
                    "logs": [{"level": "info", "message": "called", "meta": {}, "at": 0.0}],
                }
                if c_index == 0 and repeat == 0:
                    result["item"] = {"input": {"q": f"capital of {i}?"}, "expected": "X"}
                batch.append((run_id, TrialRecord.from_json(result), "main"))
    store.record_trials(batch)  # one transaction, as the session's writer would batch them
    store.finish_run(run_id, "completed")
    return store, run_id


def timed(label: str, action):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    result = action()
    seconds = time.perf_counter() - start
    print(f"  {label:<34} {seconds:6.2f} s")
    return result, seconds


def browser(page: Path) -> None:
    """Chromium loading the page and painting it (a screenshot: start-up included), and the
    rendered trial table read back with --dump-dom (which also serialises the whole page)."""
    chromium = shutil.which("chromium")
    if chromium is None:
        print("  (chromium not installed: page load not measured)")
        return
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
             "--disable-background-networking", "--disable-component-update"]  # fmt: skip
    with tempfile.TemporaryDirectory() as profile:
        shot = Path(profile) / "shot.png"
        start = time.perf_counter()
        subprocess.run(
            [chromium, *flags, f"--user-data-dir={profile}", f"--screenshot={shot}",
             "--window-size=1200,900", page.as_uri()],
            capture_output=True, timeout=300, check=False,
        )  # fmt: skip
        painted = time.perf_counter() - start
        done = subprocess.run(
            [chromium, *flags, f"--user-data-dir={profile}", "--dump-dom", page.as_uri()],
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
    rows = done.stdout.count('<tr class="trial"')
    shown = "Showing 1–50 of" in done.stdout
    print(f"browser: chromium start, load and paint {painted:.2f} s;")
    print(f"  trial table after the script ran: {rows} rows on page 1, pager text ok: {shown}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100_000)
    parser.add_argument("--no-browser", action="store_true", help="skip the Chromium timing")
    args = parser.parse_args()
    from pytest_crucible.review.reports import FORMATS, write_reports
    from pytest_crucible.review.reports._content import build_report
    from pytest_crucible.review.reports._report_data import load_run
    from pytest_crucible.review.reports.exports import write_exports
    from pytest_crucible.review.reports.html import render_html
    from pytest_crucible.review.reports.latex import render_latex
    from pytest_crucible.review.reports.markdown import render_markdown
    from pytest_crucible.review.reports.notebook import render_notebook

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        start = time.perf_counter()
        store, run_id = build(root / "crucible.db", args.trials)
        print(f"setup: {args.trials:,} trials stored in {time.perf_counter() - start:.1f} s")
        print("measured:")
        _, analysis_s = timed("analysis (analyse_run)", lambda: analyse_run(store, run_id))
        out = root / "out"
        paths, reports_s = timed(
            f"write_reports, all of {','.join(FORMATS)}",
            lambda: write_reports(store, run_id, out),
        )
        print("  breakdown:")
        run, _ = timed("  load the run (store -> pandas)", lambda: load_run(store, run_id))
        timed("  exports (csv, jsonl, parquet, json)", lambda: write_exports(run, store, root))
        report, _ = timed("  tables and conclusions", lambda: build_report(run))
        timed("  report.html", lambda: render_html(report))
        timed("  report.md", lambda: render_markdown(report))
        timed("  report.tex", lambda: render_latex(report))
        timed("  analysis.ipynb", lambda: render_notebook(run))
        sizes = {p.name: p.stat().st_size for p in paths}
        print("files: " + ", ".join(f"{n} {s / 1e6:.1f} MB" for n, s in sizes.items()))
        html_mb = sizes["report.html"] / 1e6
        verdict = "OK" if reports_s < TARGET_S else "OVER TARGET"
        print(
            f"result: all formats {reports_s:.2f} s (target < {TARGET_S:g} s: {verdict}); "
            f"with the analysis {analysis_s + reports_s:.2f} s; report.html {html_mb:.1f} MB"
        )
        if args.no_browser:
            print("  (--no-browser: page load not measured)")
        else:
            browser(out / "report.html")
        store.close()


if __name__ == "__main__":
    main()

"""Helpers of the end-to-end tests: experiment files for pytester, reading the store.

(Not in conftest.py: test folders below have conftest modules of their own, and
`from conftest import ...` would find whichever was imported first.)
"""

from __future__ import annotations

import json
import os
import queue
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

# A small experiment used by the end-to-end tests. Every condition call appends a line to the
# file named by CRUCIBLE_CALLS, so tests can count what actually ran.
EXPERIMENT = """
import asyncio, os
import pytest_crucible as crucible

CALLS = os.environ.get("CRUCIBLE_CALLS", "calls.log")

def _note(name, text):
    with open(CALLS, "a") as f:
        f.write(f"{name} {text}\\n")

def terse(text):
    _note("terse", text)
    return text.upper()

async def shout(text):
    _note("shout", text)
    await asyncio.sleep(0)
    return text.upper() + "!"

demo = crucible.Experiment(
    name="demo",
    dataset=[
        {"id": "a", "input": "paris", "expected": "PARIS"},
        {"id": "b", "input": "rome", "expected": "ROME!"},
        {"id": "c", "input": "oslo", "expected": "OSLO"},
    ],
    conditions={"terse": terse, "shout": shout},
    baseline="terse",
    metrics={"correct": crucible.Metric(kind="binary"), "length": crucible.Metric()},
    repeat=2,
    seed=7,
)

@demo.trial
async def test_demo(condition, item, trial):
    answer = await condition(item.input)
    trial.log("info", "answered", answer=answer)
    trial.record(correct=answer == item.expected, length=len(answer))
"""

# End-to-end tests that cost the most in one process (20-60 s each on 2 busy cores, mostly
# several pytester runs each with its session-end analysis), left out of the quick subset
# (-m "not slow"); every parameter of a listed function. The -n 2 variants are marked in
# XDIST, other slow tests where they are defined; tests/conftest.py marks these.
SLOW_E2E = {
    # the dashboard's results pages: three pytest runs and Chromium for the module (issue 18)
    "tests/test_e2e_dashboard_results.py::test_results_page_shows_the_numbers_crucible_show_prints",
    "tests/test_e2e_dashboard_results.py::test_a_failed_trial_is_shown_whole_and_its_hostile_text_stays_text",
    "tests/test_e2e_dashboard_results.py::test_artifact_downloads_are_never_rendered_as_pages",
    "tests/test_e2e_dashboard_results.py::test_side_by_side_pages_two_conditions_outputs_per_item",
    "tests/test_e2e_dashboard_results.py::test_two_runs_compared_as_crucible_compare_decides",
    "tests/test_e2e_dashboard_results.py::test_a_bad_address_gets_a_page_that_says_what_to_do",
    "tests/solvers/test_e2e_experiment.py::test_editing_a_chain_reruns_its_condition_alone",
    "tests/solvers/test_e2e_experiment.py::test_chains_run_as_conditions",
    "tests/test_e2e_bad_input.py::test_crucible_set_reaches_the_trial_and_the_run",
    "tests/test_e2e_bad_input.py::test_metric_problems_fail_the_trial_with_a_message",
    "tests/test_e2e_recovery.py::test_circuit_breaker_stops_its_experiment_cleanly_and_resume_finishes_it",
    "tests/test_e2e_recovery.py::test_retry_failed_says_what_is_wrong_with_its_arguments",
    "tests/test_e2e_resume.py::test_editing_one_condition_reruns_that_condition_alone",
    "tests/test_e2e_resume.py::test_killed_run_resumes_without_rerunning_finished_trials",
    "tests/test_e2e_resume.py::test_resume_a_given_run_by_id",
    "tests/test_e2e_run.py::test_n0_and_n2_store_the_same_rows",
    "tests/test_e2e_seeds.py::test_seeds_are_the_same_in_every_process_and_across_a_resume",
    # the single-process tests that took 3.5 s or more on a quiet machine
    "tests/test_e2e_seeds.py::test_the_same_seed_stores_the_same_metrics_and_another_seed_does_not",
    "tests/test_e2e_gate_trust.py::test_the_github_workflow_of_the_docs_works_as_written",
    # steering (issue 18): a child pytest run started, or cancelled, from outside
    "tests/test_console_steer.py::test_start_run_runs_the_instance_with_its_config_and_conditions",
    "tests/test_console_steer.py::test_cancel_stops_a_running_launched_run_gracefully",
    "tests/test_console_steer.py::test_a_cancelled_child_that_does_not_stop_in_time_is_interrupted",
    "tests/test_console_steer.py::test_a_run_started_elsewhere_is_cancelled_through_the_store_never_signalled",
    "tests/test_e2e_gates_reports.py::test_baseline_saved_then_compared",
    "tests/test_e2e_gate_trust.py::test_a_fully_reused_resume_is_analysed_gated_and_saved",
    "tests/test_e2e_bad_input.py::test_locked_store_is_reported",
    "tests/test_e2e_model_calls.py::test_the_cache_in_readwrite_mode_reuses_answers",
    "tests/test_e2e_model_calls.py::test_replay_names_a_call_missing_from_the_recording",
    "tests/test_e2e_concurrency.py::test_ctrl_c_stores_what_finished_and_the_run_resumes",
    "tests/test_e2e_concurrency.py::test_exitfirst_stops_starting_trials_and_keeps_what_finished",
    "tests/test_e2e_recovery.py::test_retry_failed_runs_only_the_failed_trials_into_the_same_run",
    "tests/test_e2e_model_calls.py::test_replay_answers_from_the_recording_without_network",
    "tests/test_e2e_run.py::test_k_m_and_collect_only_work_as_usual",
    "tests/test_e2e_model_answers.py::test_a_call_that_fails_after_its_retries_shows_a_short_error",
    "tests/test_e2e_store_faults.py::test_damaged_store_is_refused_with_the_recover_command",
    "tests/test_e2e_gate_trust.py::test_resume_counts_reused_trials_not_stale_ones",
    "tests/test_e2e_model_answers.py::test_replayed_trials_keep_the_latency_of_the_recording",
    "tests/test_e2e_concurrency.py::test_function_scoped_fixtures_make_trials_run_one_at_a_time",
    "tests/test_e2e_model_calls.py::test_a_spent_budget_skips_the_rest_and_a_larger_one_finishes_the_run",
    "tests/test_e2e_model_calls.py::test_the_api_key_reaches_neither_store_logs_errors_nor_reports",
    "tests/test_e2e_concurrency.py::test_a_second_ctrl_c_stops_at_once",
    "tests/test_e2e_hostile_ids.py::test_hostile_item_ids_run_no_script_in_pytest_html",
    "tests/test_e2e_secrets.py::test_keys_in_headers_and_urls_are_recorded_nowhere",
    # several pytest processes each (a run, then its resume): 7-12 s on a quiet machine
    "tests/test_e2e_durability.py::test_a_full_disk_stops_the_run_says_so_and_the_run_resumes",
    "tests/test_e2e_durability.py::test_trials_finished_ahead_of_their_items_survive_a_kill",
    "tests/test_e2e_durability.py::test_results_a_read_only_store_refuses_are_journalled_and_imported_once",
    "tests/test_e2e_review_faults.py::test_lone_surrogates_are_stored_escaped_and_reach_the_reports",
    "tests/test_e2e_review_faults.py::test_ctrl_c_during_the_analysis_ends_cleanly_with_every_trial_stored",
    "tests/test_e2e_run_holder.py::test_a_second_resume_of_a_held_run_is_refused",
    "tests/test_e2e_run_holder.py::test_a_resume_of_a_run_a_fresh_session_is_writing_is_refused",
    # real `pytest -n 2` runs with a crashing worker and its replacement: 15-60 s each
    "tests/test_e2e_worker_crash.py::test_the_trial_that_crashed_its_worker_is_stored_failed_and_retried_alone",
    "tests/test_e2e_worker_crash.py::test_a_crash_among_trials_in_flight_is_pinned_on_the_trial_that_crashed",
    "tests/test_e2e_worker_crash.py::test_with_no_worker_left_the_run_ends_and_resume_finishes_it",
    "tests/test_e2e_retry_after.py::test_every_retry_waits_the_retry_after_of_the_refusal",
    "tests/test_e2e_exits.py::test_sys_exit_in_a_trial_fails_that_trial_only",
    "tests/test_e2e_exits.py::test_keyboard_interrupt_in_a_trial_stops_the_run_gracefully",
    # issue 16: a run then its estimate, child pytest processes (4-10 s)
    "tests/test_e2e_model_calls.py::test_estimate_after_a_run_uses_its_measured_tokens_cost_and_time",
    "tests/test_e2e_model_calls.py::test_estimate_without_a_run_counts_the_prompt_text_the_conditions_add",
    "tests/llm/test_docs_models.py::test_the_documented_defaults_are_what_a_run_sends",
    # a real run's report.html in Chromium through Selenium: 10 s for the module's run
    "tests/reports/test_reports_browser.py::test_the_trial_view_shows_text_artifacts_and_links_binary_ones",
    "tests/reports/test_reports_browser.py::test_side_by_side_shows_two_conditions_and_the_reader_picks_them",
    "tests/reports/test_reports_browser.py::test_plots_fill_the_page_width_of_the_window",
    "tests/reports/test_reports_browser.py::test_a_wider_window_gives_wider_plots",
    # the `crucible` command against stores of one to three real pytest sessions: 5-20 s each
    "tests/test_e2e_cli.py::test_the_store_option_goes_before_or_after_the_subcommand_and_has_defaults",
    "tests/test_e2e_cli.py::test_show_prints_the_run_summary_of_the_session_end",
    "tests/test_e2e_cli.py::test_compare_gives_the_verdicts_of_the_baseline_gate",
    "tests/test_e2e_cli.py::test_compare_refuses_other_experiments_and_runs_without_shared_items",
    "tests/test_e2e_cli.py::test_export_writes_every_stored_column_one_row_per_trial",
    "tests/test_e2e_cli.py::test_export_to_parquet_without_pyarrow_names_the_extra",
    "tests/test_e2e_cli.py::test_unknown_and_ambiguous_runs_are_one_line_errors",
    # the runtime API (issue 16): pytest in a subprocess each, 5-20 s on 2 busy cores
    "tests/test_e2e_runtime_api.py::test_trial_results_are_stored_loaded_exported_and_reported",
    "tests/test_e2e_runtime_api.py::test_a_result_that_is_not_json_fails_its_trial_with_a_clear_message",
    "tests/test_e2e_runtime_api.py::test_log_batch_stores_every_entry_in_order",
    "tests/test_e2e_runtime_api.py::test_a_bad_log_batch_entry_is_named_and_nothing_of_the_batch_is_kept",
    "tests/test_e2e_runtime_api.py::test_author_version_and_tags_are_stored_reported_and_loaded",
    "tests/test_e2e_runtime_api.py::test_tags_that_are_not_a_list_of_strings_are_refused_clearly",
    "tests/test_e2e_runtime_api.py::test_load_runs_returns_every_field_a_run_records",
    "tests/test_e2e_runtime_api.py::test_ctrl_c_sets_trial_cancelled_and_the_trials_that_stop_early_are_stored",
    "tests/test_e2e_runtime_api.py::test_an_abort_sets_trial_cancelled_in_the_trials_in_flight",
    "tests/test_e2e_runtime_api.py::test_an_async_trial_past_its_timeout_is_cancelled_stored_and_retried",
    "tests/test_e2e_runtime_api.py::test_a_sync_trial_past_its_timeout_is_left_behind_without_holding_up_the_session",
    "tests/test_e2e_runtime_api.py::test_a_condition_timeout_ends_a_slow_model_call_and_only_that_condition_fails",
    "tests/test_e2e_runtime_api.py::test_timeouts_that_are_not_positive_numbers_are_refused",
    # two pytest processes each (12-23 s on a busy machine; slow parameters are marked there)
    "tests/test_e2e_settings.py::test_an_environment_variable_beats_the_ini_file_and_the_command_line_beats_both",
    "tests/test_e2e_settings.py::test_the_space_form_in_pytest_addopts_is_refused_too",
    # other people's plugins (issue 16): a pytest-timeout limit to wait out, or two to three
    # subprocess runs each (--lf, --sw), or pytest-asyncio's own start-up: 7-20 s each
    "tests/test_e2e_other_plugins.py::test_a_sync_call_timed_out_by_pytest_timeout_does_not_keep_the_process_alive",
    "tests/test_e2e_other_plugins.py::test_lf_reruns_the_failed_trials_into_their_run",
    "tests/test_e2e_other_plugins.py::test_sw_continues_the_run_it_stopped",
    "tests/test_e2e_other_plugins.py::test_pytest_asyncio_leaves_the_trials_concurrent",
    "tests/test_e2e_other_plugins.py::test_an_async_session_fixture_of_pytest_asyncio_works_in_every_trial",
    # real pytest processes (on a pseudo-terminal, with other people's plugins): 8-30 s each
    "tests/test_e2e_progress.py::test_live_display_on_a_terminal_under_xdist",
    "tests/test_e2e_progress.py::test_plain_lines_when_not_a_terminal_count_trials_only",
    "tests/test_e2e_progress.py::test_quiet_quiet_shows_no_progress",
    "tests/test_e2e_progress.py::test_pytest_rich_gets_the_results_and_the_lines",
    "tests/test_e2e_progress.py::test_pytest_sugar_bar_is_not_interrupted",
    "tests/test_e2e_progress.py::test_a_passing_rerun_is_not_counted_as_a_failure",
    "tests/test_e2e_results_table.py::test_a_metric_named_like_a_trial_status_is_not_taken_for_a_count",
    # issue 17 (wiring): a real pytest subprocess with its reports: 18 s on a busy machine
    "tests/test_e2e_store_url.py::test_the_environment_record_masks_a_database_url_on_the_command_line",
    # issue 17: shard runs, merges and workers on execnet socket servers, pytest and crucible
    # processes each (the module's runs: a whole run and three shards, 40-100 s)
    "tests/test_e2e_shards.py::test_shards_are_disjoint_cover_every_trial_and_defer_their_gates",
    "tests/test_e2e_shards.py::test_a_shard_under_xdist_runs_the_same_trials",
    "tests/test_e2e_shards.py::test_merged_shards_are_one_run_analysed_as_the_run_in_one_process",
    "tests/test_e2e_shards.py::test_shards_merged_into_postgresql_are_analysed_as_the_run_in_one_process",
    "tests/test_e2e_shards.py::test_a_merge_copies_everything_and_merging_again_changes_nothing",
    "tests/test_e2e_shards.py::test_a_trial_with_different_results_in_two_stores_is_refused_and_nothing_written",
    "tests/test_e2e_shards.py::test_bad_shard_values_are_refused_with_what_to_give",
    "tests/test_e2e_shards.py::test_a_shard_without_trials_ends_cleanly_and_says_so",
    "tests/test_e2e_xdist_hosts.py::test_workers_on_other_hosts_store_the_rows_of_n2",
    # six pytest processes, three at a time, a second or more of rate-limited calls each
    "tests/test_e2e_shared_rate.py::test_processes_sharing_a_limit_keep_it_together",
    "tests/test_e2e_shared_rate.py::test_processes_sharing_a_limit_through_postgresql_keep_it_together",
    # issue 17, --crucible-join: two or three pytest processes on one run, and a run in one
    # process to compare the analysis with (15-40 s each on 2 busy cores)
    "tests/test_e2e_join.py::test_two_processes_share_one_run_each_trial_runs_once_and_one_analyses_it",
    "tests/test_e2e_join.py::test_a_killed_process_claims_are_taken_over_and_the_run_completes",
    "tests/test_e2e_join.py::test_a_joined_process_may_use_xdist",
    "tests/test_e2e_join.py::test_a_process_with_another_experiment_definition_is_refused",
    "tests/test_e2e_join.py::test_a_process_stopped_early_gives_back_the_claims_it_did_not_use",
    # issue 17, both stores: a session with every report, then the review commands (7 s)
    "tests/test_e2e_cli.py::test_runs_analyse_and_report_read_the_run_from_its_store",
    # issue 18, the MCP server: `crucible mcp` or `crucible serve` started with the SDK (5-10 s
    # each), real runs it starts and the discoveries they need (20-100 s)
    "tests/test_e2e_mcp.py::test_the_tools_have_descriptions_and_input_schemas",
    "tests/test_e2e_mcp.py::test_an_unknown_run_or_instance_is_a_tool_error_that_names_the_fix",
    "tests/test_e2e_mcp.py::test_an_agent_creates_an_instance_runs_it_and_reads_its_results",
    "tests/test_e2e_mcp.py::test_cancel_run_stops_a_run_started_from_a_terminal",
    "tests/test_e2e_mcp.py::test_crucible_serve_serves_the_tools_at_mcp_behind_its_token",
    "tests/test_e2e_mcp.py::test_no_database_password_or_api_key_reaches_an_agent",
    # issue 18, cancelling from outside: a run, `crucible cancel`, the resume (15-60 s each)
    "tests/test_e2e_cancel.py::test_a_run_cancelled_from_outside_stops_gracefully_and_resumes",
    "tests/test_e2e_cancel.py::test_every_process_of_a_joined_run_stops_and_joining_again_completes_it",
    "tests/test_e2e_cancel.py::test_cancel_names_what_is_wrong_with_its_run",
    # issue 18: `crucible serve` beside real pytest runs, Chromium for the live page (10-35 s)
    "tests/test_e2e_dashboard.py::test_a_live_run_advances_on_the_page_and_hostile_text_is_inert",
    "tests/test_e2e_dashboard.py::test_another_address_needs_a_token_and_every_request_must_carry_it",
    "tests/test_e2e_dashboard.py::test_a_taken_port_and_a_missing_store_are_clear",
    "tests/test_e2e_dashboard.py::test_no_database_password_or_api_key_reaches_a_page_or_json",
    "tests/test_e2e_dashboard.py::test_an_instance_made_in_the_form_starts_a_run_that_is_cancelled_from_its_page",
}

# Every end-to-end behaviour with and without xdist. The -n 2 variant is `slow`: it starts two
# worker processes per pytester run, several times the n0 variant's cost; the quick subset
# (-m "not slow") checks the behaviour in one process, the full suite in both.
XDIST = [
    pytest.param([], id="n0"),
    pytest.param(["-n", "2"], id="n2", marks=pytest.mark.slow),
]


def read_calls(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def store_path(pytester: pytest.Pytester) -> Path:
    """The SQLite file of the pytester project (tests about SQLite files themselves)."""
    return pytester.path / ".crucible" / "crucible.db"


def store_location(pytester: pytest.Pytester) -> str:
    """Where the pytester project's runs are stored: the database URL the `store_backend`
    fixture put in CRUCIBLE_STORE, or the project's default SQLite file."""
    return os.environ.get("CRUCIBLE_STORE") or str(store_path(pytester))


def journals_folder(pytester: pytest.Pytester) -> Path:
    """Where the project's store keeps the journals of trials not yet stored (the side folder
    of a database store is the project's .crucible folder)."""
    from pytest_crucible.store.locations import side_name

    location = store_location(pytester)
    return pytester.path / ".crucible" / f"{side_name(location)}.journals"


def store_exists(pytester: pytest.Pytester) -> bool:
    location = store_location(pytester)
    if not location.startswith("postgresql://"):
        return Path(location).exists()
    return sql(location, "SELECT to_regclass('runs') IS NOT NULL AS made")[0]["made"]


def query(
    pytester: pytest.Pytester, statement: str, args: tuple[Any, ...] = ()
) -> list[dict[str, Any]]:
    """The rows of one SELECT on the project's store, whichever the backend."""
    return [dict(row) for row in sql(store_location(pytester), statement, args)]


def sql(location: Path | str, statement: str, args: tuple[Any, ...] = ()) -> list[Any]:
    """Run one statement on the store at `location` (a SQLite file or a PostgreSQL URL) and
    commit it; its rows (mappings by column name)."""
    if str(location).startswith("postgresql://"):
        return _postgres_sql(str(location), statement, args)
    conn = sqlite3.connect(location)
    conn.row_factory = sqlite3.Row
    try:
        rows = conn.execute(statement, args).fetchall()
        conn.commit()
        return rows
    finally:
        conn.close()


def _postgres_sql(url: str, statement: str, args: tuple[Any, ...]) -> list[dict[str, Any]]:
    """The same statement on PostgreSQL: `?` placeholders become `%s`, SQLite's implicit
    `rowid` the tables' insertion order `seq`, and JSON(B) columns come back as JSON text, as
    SQLite's TEXT columns do, so one assertion holds on both stores."""
    import psycopg
    from psycopg.rows import dict_row
    from psycopg.types.string import TextLoader

    statement = statement.replace("?", "%s").replace("rowid", "seq")
    with psycopg.connect(url, row_factory=dict_row) as conn:
        conn.adapters.register_loader("jsonb", TextLoader)
        conn.adapters.register_loader("json", TextLoader)  # the run header's column
        cursor = conn.execute(statement, args)
        return cursor.fetchall() if cursor.description else []


def durable_trials(pytester: pytest.Pytester) -> set[tuple[str, str, str]]:
    """The (condition, item_id, status) of the trials that are stored, or journalled to be
    stored. A finished trial is journalled at once and stored a little later (by the writer
    thread); a resume imports the journals a killed run left, so after a kill these are the
    trials the resume keeps, whenever the kill came."""
    found = {
        (row["condition"], row["item_id"], row["status"])
        for row in query(pytester, "SELECT condition, item_id, status FROM trials")
    }
    folder = journals_folder(pytester)
    for path in folder.glob("*.jsonl") if folder.is_dir() else ():
        for line in path.read_text().splitlines():
            try:
                record = json.loads(line)
            except ValueError:  # a line being written
                continue
            if "trial" in record:
                trial = record["trial"]
                found.add((trial["condition"], trial["item_id"], trial["status"]))
    return found


def trial_rows(pytester: pytest.Pytester) -> list[dict[str, Any]]:
    rows = query(pytester, 'SELECT * FROM trials ORDER BY condition, item_id, "repeat"')
    for row in rows:
        row.pop("seq", None)  # PostgreSQL's insertion order, not a stored field
        row["metrics"] = json.loads(row["metrics"])
        row["output"] = json.loads(row["output"]) if row["output"] else None
        row["error"] = json.loads(row["error"]) if row["error"] else None
    return rows


def start_pytest(
    folder: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """`pytest --crucible --crucible-report=none ARGS` in `folder`, in its own process group
    (as a terminal's Ctrl-C would reach it: `os.killpg(process.pid, signal.SIGINT)`), its
    output in `process.stdout`."""
    environment = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    environment.pop("PYTEST_ADDOPTS", None)
    command = [sys.executable, "-m", "pytest", "--crucible", "--crucible-report=none", *args]
    return subprocess.Popen(
        command,
        cwd=folder,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        # a terminal's pytest starts with Ctrl-C enabled; a disposition this test process
        # inherited (SIGINT ignored: Python then installs no KeyboardInterrupt) must not leak
        preexec_fn=_ctrl_c_enabled,
    )


def _ctrl_c_enabled() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


EXAMPLES = Path(__file__).resolve().parent.parent / "example_experiments"


def pytest_in(
    folder: Path, *args: str, timeout: float = 1800, **env: str
) -> subprocess.CompletedProcess[str]:
    """`python -m pytest ARGS` in `folder` (the examples' tests: a copy of
    example_experiments/ made by the `examples` fixture), its output captured. `timeout`
    catches a hang; a busy machine answers a small local model slowly: never a timing check."""
    environment = {**os.environ, **env}
    environment.pop("PYTEST_ADDOPTS", None)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=folder,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@contextmanager
def crucible_serving(
    arguments: Sequence[str],
    *,
    timeout: float,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Iterator[str]:
    """`crucible serve ARGUMENTS` in a subprocess: the dashboard address it prints once it
    listens (with `?token=...` when it has one). Ctrl-C ends it afterwards, which must end it
    cleanly (status 0)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest_crucible.cli", "serve", *arguments],
        cwd=cwd,
        env={**(os.environ if env is None else env), "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(
        target=lambda: [lines.put(line) for line in process.stdout or ()], daemon=True
    ).start()
    seen: list[str] = []
    try:
        yield _printed_address(lines, process, seen, timeout)
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=timeout) == 0, seen


def _printed_address(
    lines: queue.Queue[str], process: subprocess.Popen[str], seen: list[str], timeout: float
) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            assert process.poll() is None, f"crucible serve ended: {seen}"
            continue
        seen.append(line)
        if line.startswith("crucible: dashboard at "):
            return line.split(" at ", 1)[1].strip()
    raise AssertionError(f"crucible serve said no address: {seen}")

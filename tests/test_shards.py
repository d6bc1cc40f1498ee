"""Static shards (`declare/shards.py`): a stable hash of the trial key, bad values named."""

from __future__ import annotations

import pytest

from pytest_crucible.declare.shards import Shard, default_group, parse_shard, shard_of


def test_a_trial_keys_shard_is_stable_and_the_shards_partition_the_keys() -> None:
    # SHA-256 of the key, not Python's salted hash(): the same in every process and release
    assert shard_of("8eb5487610a68402", 3) == 2  # pinned: a change would move trials
    keys = [f"{i:016x}" for i in range(600)]
    shards = [Shard(i, 3, "g") for i in (1, 2, 3)]
    held = [[key for key in keys if shard.holds(key)] for shard in shards]
    assert sorted(key for part in held for key in part) == sorted(keys)
    assert all(150 < len(part) < 250 for part in held), [len(p) for p in held]


@pytest.mark.parametrize(
    ("text", "said"),
    [("0/2", "shard 0 of 2"), ("3/2", "shard 3 of 2"), ("a/b", "give I/N"), ("2", "give I/N")],
)
def test_bad_shards_say_what_to_give(text: str, said: str) -> None:
    with pytest.raises(ValueError, match=said):
        parse_shard(text)
    assert parse_shard(" 2 / 4 ") == (2, 4)


def test_the_default_group_is_the_ci_run_then_the_commit() -> None:
    assert default_group({"GITHUB_RUN_ID": "77"}, "abc") == "GITHUB_RUN_ID=77"
    assert default_group({"CI_PIPELINE_ID": "5"}, None) == "CI_PIPELINE_ID=5"
    assert default_group({}, "abc") == "git:abc"
    assert default_group({}, None) == "local"

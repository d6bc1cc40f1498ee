"""The parameter types the MCP tools share: each is a type with its description, which reaches
the tool's JSON schema (so an agent reads what a value is and where to find one)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

__all__ = [
    "ConditionFilter",
    "Conditions",
    "Config",
    "Experiment",
    "InstanceName",
    "ItemFilter",
    "Repeats",
    "RunId",
    "Seed",
]

RunId = Annotated[str, Field(description="a run id, as list_runs gives it")]
Experiment = Annotated[str, Field(description="an experiment's name, as list_experiments gives it")]
InstanceName = Annotated[str, Field(description="an instance's name, as list_instances gives it")]
ConditionFilter = Annotated[
    str | None, Field(description="only this condition (a name from get_run's conditions)")
]
ItemFilter = Annotated[str | None, Field(description="only this dataset item id")]
Config = Annotated[
    dict[str, Any] | None,
    Field(
        description="config values, field -> value, checked against the experiment's config "
        "schema (describe_experiment); fields left out keep their defaults"
    ),
]
Conditions = Annotated[
    list[str] | None, Field(description="the conditions to run; null runs all of them")
]
Repeats = Annotated[
    int | None, Field(ge=1, description="repeats per item; null keeps the declared number")
]
Seed = Annotated[int | None, Field(description="the run's seed; null keeps the declared seed")]

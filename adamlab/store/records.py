"""One ended trial, as the runner hands it to the store and the store writes it to disk.

A sweep's results folder holds one `trials/<trial_id>.json` per trial that ended (finished,
diverged or failed); its presence is what makes a re-run skip that trial. The sweep-wide tables
(trials.csv, metrics.csv) are derived from these files.

`TrialRecord` is a pydantic model in strict mode: the runner builds every record through it and
every reader loads every file through it, so a record with a string in `final`, `seed: "x"` or a
null metric value is refused with one line naming the file and the field, never half-read.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from adamlab.entry_points import OPTIMIZER_GROUP, registered
from adamlab.errors import AdamlabError
from adamlab.optimizers.registry import get_spec
from adamlab.store.atomic import write_text_atomic
from adamlab.store.identity import (
    IDENTITY_FIELDS,
    TARGET_FIELDS,
    device_type,
    identity_of,
    trial_id_of,
)
from adamlab.store.json_files import read_json_object

TrialStatus = Literal["finished", "diverged", "failed"]
METRIC_LOG_COLUMNS = ("step", "wall_time", "metric", "value")
#: the tables hold integers as int64
INT64_MAX = 2**63 - 1
_Count = Annotated[int, Field(ge=0, le=INT64_MAX)]


def _empty_log() -> dict[str, list]:
    return {name: [] for name in METRIC_LOG_COLUMNS}


class RecordEnvironment(BaseModel):
    """Where a trial ran, captured in the process that ran it (adamlab.sweep.environment).

    `source_hash`, `adamlab_version` and `torch_version` decide whether a record may be mixed
    with this run's (see adamlab.store.staleness); `implementation` and `git` are information.
    """

    model_config = ConfigDict(extra="forbid", strict=True)

    #: sha256 (16 hex digits) of the installed adamlab source files
    source_hash: str
    adamlab_version: str
    torch_version: str
    #: the optimizer code path that ran, e.g. "fused kernel", "foreach", "torch.optim.SGD"
    implementation: str = ""
    hostname: str = ""
    #: {"commit": sha, "dirty": bool} of the checkout holding adamlab's code, or None
    git: dict[str, Any] | None = None
    #: {source file: hash} of the user's plug-in modules the trial ran (its optimizer's, task's)
    plugins: dict[str, str] = Field(default_factory=dict)
    #: fingerprint of the data files the task read (TaskSpec.data_identity); None: no files
    data_hash: str | None = None

    def key(self) -> tuple[str, str, str]:
        """What must match for two records to be comparable."""
        return (self.source_hash, self.adamlab_version, self.torch_version)

    def describe(self) -> str:
        return f"adamlab {self.adamlab_version} (source {self.source_hash[:8]}), torch {self.torch_version}"


class MetricColumns(BaseModel):
    """The long-format metric log, column-wise (equal lengths)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    step: list[_Count]
    wall_time: list[float]
    metric: list[str]
    value: list[float]

    @model_validator(mode="after")
    def _equal_lengths(self) -> MetricColumns:
        lengths = {name: len(getattr(self, name)) for name in METRIC_LOG_COLUMNS}
        if len(set(lengths.values())) > 1:
            raise ValueError("columns of unequal length " + ", ".join(f"{k}={v}" for k, v in lengths.items()))
        return self


class TrialRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, validate_assignment=False)

    trial_id: str = Field(pattern=r"^[0-9a-f]{16}$")
    sweep: str
    task: str
    task_params: dict[str, Any]
    #: registry name of the optimizer (e.g. "adam")
    optimizer: str
    #: display name of the configured entry (e.g. "adam-nobc"); equals optimizer when unnamed
    variant: str
    #: every hyperparameter the optimizer was built with, defaults included (a plug-in's: the
    #: keywords the sweep gave, and lr)
    hparams: dict[str, Any]
    #: "module:attribute" of a plug-in optimizer / task given by target: ("" when registered)
    optimizer_target: str = ""
    task_target: str = ""
    seed: _Count
    steps: _Count
    batch_size: int = Field(ge=1, le=INT64_MAX)
    device: str
    #: the rest of the trial's identity (None in records written before adamlab recorded it)
    log_every: int | None = Field(None, ge=1, le=INT64_MAX)
    eval_every: int | None = Field(None, ge=1, le=INT64_MAX)
    divergence_factor: float | int | None = None
    status: TrialStatus
    steps_run: _Count
    #: this trial's share of its stack's time (the whole time for a stack of one)
    wall_time_s: float
    #: the members of the stack it trained in (1: alone)
    stack_size: int = Field(1, ge=1)
    #: the stack's time from its start to this trial's end (None in records before stacks
    #: were timed)
    stack_wall_time_s: float | None = None
    #: last recorded value of each metric
    final: dict[str, float] = Field(default_factory=dict)
    #: best recorded value of each metric (min, or max for metrics whose goal is "max")
    best: dict[str, float] = Field(default_factory=dict)
    error: str | None = None
    #: long-format metric log, column-wise: step, wall_time, metric, value (equal lengths)
    metrics: dict[str, list] = Field(default_factory=_empty_log)
    adamlab_version: str = ""
    #: where it ran (None in records written before adamlab recorded it)
    environment: RecordEnvironment | None = None

    @model_validator(mode="after")
    def _hparams_of_their_optimizer(self) -> TrialRecord:
        # each hyperparameter of a built-in optimizer has its default's type (a string lr would
        # reach the summary's arithmetic); a plug-in's code is not imported to read a record
        allowed = {} if self.optimizer_target else _built_in_hparams(self.optimizer)
        for name, value in self.hparams.items():
            if name in allowed and not _same_kind(value, allowed[name]):
                raise ValueError(f"hparams.{name}: must be {_kind_of(allowed[name])} like "
                                 f"{self.optimizer}'s default {allowed[name]!r}, got {value!r:.60}")
        return self

    def identity(self) -> dict[str, Any] | None:
        """The fields the trial id hashes, or None for a record of an adamlab that did not
        write them all (see adamlab.store.identity)."""
        if self.log_every is None or self.eval_every is None or self.divergence_factor is None:
            return None
        fields = {name: getattr(self, name) for name in (*IDENTITY_FIELDS, *TARGET_FIELDS)}
        return identity_of({**fields, "device": device_type(self.device)})

    @field_validator("metrics")
    @classmethod
    def _metric_log_shape(cls, log: dict[str, list]) -> dict[str, list]:
        # checked through MetricColumns, kept as plain lists (the tables read them column-wise)
        try:
            MetricColumns.model_validate(log)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            message = first["msg"][:1].lower() + first["msg"][1:]
            if first["type"] != "value_error":
                message += f", got {first.get('input')!r:.60}"
            raise ValueError(f"{where + ': ' if where else ''}{message}") from None
        return log

    def __repr__(self) -> str:
        return (f"TrialRecord({self.trial_id}: {self.variant} seed {self.seed} on {self.task}, "
                f"{self.status} after {self.steps_run} steps)")

    def to_json(self) -> str:
        # the fields as they are: model_dump() would copy every metric value first
        fields_ = {name: getattr(self, name) for name in type(self).model_fields}
        if self.environment is not None:
            fields_["environment"] = self.environment.model_dump()
        return json.dumps(fields_, allow_nan=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> TrialRecord:
        return cls.model_validate(json.loads(text))

    def write(self, trials_dir: Path) -> Path:
        path = Path(trials_dir) / f"{self.trial_id}.json"
        write_text_atomic(path, self.to_json())
        return path


@functools.cache
def _built_in_hparams(optimizer: str) -> Mapping[str, Any]:
    """Every hyperparameter of built-in `optimizer` with its default (empty for any other name);
    asked once per optimizer, not once per record read."""
    entry = registered(OPTIMIZER_GROUP).get(optimizer)
    return MappingProxyType(get_spec(optimizer).allowed() if entry is not None and entry.built_in else {})


def _same_kind(value: Any, default: Any) -> bool:
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(default, str):
        return isinstance(value, str)
    return True


def _kind_of(default: Any) -> str:
    if isinstance(default, bool):
        return "true or false"
    if isinstance(default, float):
        return "a number"
    if isinstance(default, int):
        return "an integer"
    return "a string" if isinstance(default, str) else "a value"


def record_problem(path: Path | str, exc: ValidationError) -> AdamlabError:
    """One line naming the file, the first bad field and what it holds (and how many more)."""
    errors = exc.errors()
    first = errors[0]
    where = ".".join(str(part) for part in first["loc"]) or "(record)"
    got = first.get("input")
    shown = "a mapping" if isinstance(got, dict) else "a list" if isinstance(got, list) else repr(got)
    message = first["msg"]
    if first["type"] == "extra_forbidden":
        message = "unknown field"
    elif first["type"] == "missing":
        message = "required field is missing"
    elif first["type"] == "value_error":
        message = str(first["ctx"]["error"])
    else:
        message = f"{message[:1].lower()}{message[1:]}, got {shown}"
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    if first["type"] == "value_error" and not first["loc"]:  # a check across fields names its own
        return AdamlabError(f"{path}: not a valid trial record: {message}{more}")
    return AdamlabError(f"{path}: not a valid trial record: {where}: {message}{more}")


def load_record(path: Path) -> TrialRecord:
    """Read and validate one record file; every problem is one line naming the file and field."""
    data = read_json_object(Path(path))
    return _checked_record(path, data, data)


def read_record(path: Path) -> tuple[TrialRecord, dict[str, list], dict[str, Any]]:
    """`load_record` for a table reader: the record without its metric log (`metrics` empty),
    the log's columns, checked as the record model checks them, and the record's fields as read
    but its log (what the read cache keeps).

    Validating a log of thousands of values element by element through the model is most of
    the time of reading a record; `_plain_log` checks the same rules over whole columns at C
    speed. A log it does not pass goes through the model, which names the problem (or accepts
    it: the model decides)."""
    data = read_json_object(Path(path))
    log = data.pop("metrics", _EMPTY_LOG)
    if _plain_log(log):
        return record_of_fields(path, data), log, data
    record = _checked_record(path, {**data, "metrics": log}, data)
    return record.model_copy(update={"metrics": _empty_log()}), record.metrics, data


def record_of_fields(path: Path | str, data: dict[str, Any]) -> TrialRecord:
    """The record of `path` from its fields as read (`data`), its metric log left out (checked
    elsewhere): validated, named by its trial id and hashing to it, as `load_record` checks."""
    return _checked_record(path, {**data, "metrics": _empty_log()}, data)


def _checked_record(path: Path | str, fields: dict[str, Any], data: dict[str, Any]) -> TrialRecord:
    """The record validated from `fields`, named by its trial id and hashing to it as written
    (`data`, the record as read)."""
    try:
        record = TrialRecord.model_validate(fields)
    except ValidationError as exc:
        raise record_problem(path, exc) from None
    if record.trial_id != Path(path).stem:
        raise AdamlabError(f"{path}: trial_id {record.trial_id!r} does not match the file name")
    check_identity(path, record, data)
    return record


_EMPTY_LOG: dict[str, list] = _empty_log()


def _plain_log(log: Any) -> bool:
    """Whether `log` passes MetricColumns (strict) for certain: lists of equal length, steps
    ints (not bools) in [0, INT64_MAX], wall times and values floats, metric names strings.

    A column of floats with an int among them is left to the model (it accepts an int as a
    number only within a float's range)."""
    if type(log) is not dict or log.keys() != _EMPTY_LOG.keys():
        return False
    columns = [log[name] for name in METRIC_LOG_COLUMNS]
    if any(type(column) is not list for column in columns) or len({len(c) for c in columns}) != 1:
        return False
    step, wall_time, metric, value = columns
    if not step:
        return True
    return (set(map(type, step)) == {int} and min(step) >= 0 and max(step) <= INT64_MAX
            and set(map(type, wall_time)) == {float} and set(map(type, value)) == {float}
            and set(map(type, metric)) == {str})


def check_identity(path: Path | str, record: TrialRecord, data: dict[str, Any] | None = None) -> None:
    """Refuse a record whose identity fields do not hash to its trial_id (edited by hand, or
    copied from another trial): it would stand in for a configuration that never ran.

    `data`: the record as read from JSON, hashed as written (the model may coerce a value)."""
    identity = record.identity()
    if identity is None:
        return
    if data is not None:
        written = {name: data.get(name, "") for name in (*IDENTITY_FIELDS, *TARGET_FIELDS)}
        identity = identity_of({**written, "device": identity["device"]})
    if trial_id_of(identity) != record.trial_id:
        raise AdamlabError(
            f"{path}: the configuration in this record does not hash to its trial_id "
            f"{record.trial_id} (edited by hand, or copied from another trial?); it is not used: "
            f"move it out of {Path(path).parent.name}/ to run that trial again"
        )

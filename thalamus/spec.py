"""Campaign specs: load a YAML file, validate every key, return a frozen spec.

Each refusal is one line naming the file, the key path and the fix, raised as
:class:`~thalamus.errors.SpecError` before anything touches the disk.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import math
import re
from pathlib import Path

import yaml

from thalamus.errors import SpecError
from thalamus.model import parameters as P

PLATE_FORMATS = {96: (8, 12), 384: (16, 24)}

#: Refused above this many wells: far beyond any screen, and a typo's mark.
MAX_WELLS = 20_000_000

_WELL = re.compile(r"[A-Za-z][0-9]{1,2}")
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_OPERATOR = re.compile(r"[A-Za-z0-9_.]{1,32}")

_TOP_KEYS = (
    "name",
    "seed",
    "plate_format",
    "cell_lines",
    "compounds",
    "dose_levels",
    "doses_uM",
    "timepoints_h",
    "days",
    "operators",
    "replicates",
    "sentinels",
    "model",
)
_SENTINEL_KEYS = ("compound", "dose_uM", "wells")
_TUPLE_PARAMETERS = {
    "failure_weights": 3,
    "bubble_range": 2,
    "contamination_range": 2,
    "pipetting_range": 2,
}


@dataclasses.dataclass(frozen=True)
class Sentinel:
    """One kind of control well placed at fixed positions on every plate."""

    compound: str
    dose_uM: float
    wells: tuple  # (row index, column index) pairs, 0-based


@dataclasses.dataclass(frozen=True)
class CampaignSpec:
    """A validated campaign: what to put on which plates, and the seed."""

    name: str
    seed: int
    plate_format: int
    cell_lines: tuple
    compounds: tuple
    #: per compound, the tuple of (dose in µM, dose level or None) it is run at
    doses: tuple
    timepoints_h: tuple
    days: tuple
    operators: tuple
    replicates: int
    sentinels: tuple
    model: P.ModelParameters
    source: str = "<dict>"

    def canonical(self) -> dict:
        """JSON-ready form used for digests; ``source`` is left out."""
        data = dataclasses.asdict(self)
        data.pop("source")
        data["model"] = self.model.as_dict()
        return data

    def digest(self) -> str:
        """SHA-256 of :meth:`canonical`."""
        text = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def design_id(self) -> str:
        """Digest of the spec, every model parameter and the model version.

        Computed once per spec (it names every task of a run).
        """
        cached = self.__dict__.get("_design_id")
        if cached is None:
            text = self.digest() + P.parameter_digest(self.model)
            cached = hashlib.sha256(text.encode()).hexdigest()[:16]
            # A frozen dataclass: the cache is not a field, so equality,
            # replace() and canonical() never see it.
            object.__setattr__(self, "_design_id", cached)
        return cached

    def with_seed(self, seed) -> CampaignSpec:
        """A copy with another (validated) seed."""
        return dataclasses.replace(self, seed=_check_seed(seed, self.source, "seed"))


def well_name(row: int, col: int) -> str:
    """'A01'-style name of a 0-based (row, column).

    Examples
    --------
    >>> well_name(0, 0), well_name(15, 23)
    ('A01', 'P24')
    """
    return f"{chr(ord('A') + row)}{col + 1:02d}"


def parse_well(text, plate_format: int) -> tuple[int, int] | None:
    """0-based (row, column) of 'A01' or 'A1' on the format, or None.

    Examples
    --------
    >>> parse_well("B3", 96), parse_well("P24", 96)
    ((1, 2), None)
    """
    rows, cols = PLATE_FORMATS[plate_format]
    if not isinstance(text, str) or not _WELL.fullmatch(text):
        return None
    row, col = ord(text[0].upper()) - ord("A"), int(text[1:]) - 1
    return (row, col) if 0 <= row < rows and 0 <= col < cols else None


def load_spec(path, seed=None) -> CampaignSpec:
    """Read and validate the campaign spec at ``path``.

    Parameters
    ----------
    path : str or Path
        A YAML campaign spec.
    seed : int, optional
        Overrides the spec's ``seed``.
    """
    source = str(path)
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise SpecError(
            f"{source}: no such file; give the path of a campaign YAML"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"{source}: cannot read ({exc.__class__.__name__})") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise SpecError(
            f"{source}: not valid YAML{where} ({problem}); "
            "fix the YAML (each key once; tags such as !!python are not allowed)"
        ) from None
    spec = spec_from_dict(data, source)
    return spec if seed is None else spec.with_seed(seed)


def spec_from_dict(data, source: str = "<dict>") -> CampaignSpec:
    """Validate a spec already parsed into Python objects."""
    if not isinstance(data, dict):
        raise SpecError(f"{source}: a campaign spec must be a YAML mapping of keys")
    _check_keys(data, _TOP_KEYS, source, "")
    for key in ("name", "cell_lines", "compounds", "timepoints_h", "days"):
        if key not in data:
            raise SpecError(f"{source}: missing key '{key}'; add it (see campaigns/)")
    for key in ("operators", "replicates"):
        if key not in data:
            raise SpecError(f"{source}: missing key '{key}'; add it (see campaigns/)")
    plate_format = _check_format(data.get("plate_format", 96), source)
    compounds = _names(data, "compounds", P.ALL_COMPOUNDS, source)
    sentinels = _sentinels(data, plate_format, source)
    doses = _doses(data, compounds, source)
    spec = CampaignSpec(
        name=_name(data, source),
        seed=_check_seed(data.get("seed", 0), source, "seed"),
        plate_format=plate_format,
        cell_lines=_names(data, "cell_lines", tuple(P.CELL_LINES), source),
        compounds=compounds,
        doses=doses,
        timepoints_h=_numbers(data, "timepoints_h", source, positive=True),
        days=_integers(data, "days", source),
        operators=_operator_names(data, source),
        replicates=_count(data, "replicates", source),
        sentinels=sentinels,
        model=_model(data.get("model"), source),
        source=source,
    )
    _check_timepoint_labels(spec.timepoints_h, source)
    _check_capacity(spec)
    return spec


def _fail(source: str, key: str, problem: str, fix: str):
    raise SpecError(f"{source}: key '{key}': {problem}; {fix}")


def _check_keys(data: dict, allowed, source: str, prefix: str) -> None:
    for key in data:
        if key in allowed:
            continue
        close = difflib.get_close_matches(str(key), allowed, n=1)
        hint = f"did you mean '{close[0]}'?" if close else "remove it"
        valid = ", ".join(allowed)
        _fail(source, f"{prefix}{key}", "unknown key", f"{hint} (valid keys: {valid})")


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_seed(value, source: str, key: str) -> int:
    fix = "use a whole number >= 0, such as 0"
    if value is None:
        _fail(source, key, "is empty (null)", fix)
    if not _is_number(value):
        if isinstance(value, str) and _looks_numeric(value):
            fix = f"YAML reads {value!r} as text: write the digits, e.g. 1000"
        _fail(source, key, f"{value!r} is not a number", fix)
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            _fail(source, key, f"{value!r} is not a whole number", fix)
        _fail(source, key, f"{value!r} is a float", f"write it as {int(value)}")
    if value < 0:
        _fail(source, key, f"{value} is negative", fix)
    if value >= 2**128:
        _fail(source, key, "is larger than 128 bits", "use a seed below 2**128")
    return int(value)


def _check_format(value, source: str) -> int:
    if (
        not isinstance(value, int)
        or isinstance(value, bool)
        or value not in PLATE_FORMATS
    ):
        _fail(
            source, "plate_format", f"{value!r} is not a plate format", "use 96 or 384"
        )
    return int(value)


def _name(data: dict, source: str) -> str:
    value = data["name"]
    if not isinstance(value, str) or not value.strip():
        _fail(source, "name", f"{value!r} is not a name", "give a non-empty string")
    if not _SAFE_NAME.fullmatch(value):
        _fail(
            source,
            "name",
            f"{value[:40]!r} is not a plain name (it names the output folder)",
            "use up to 100 letters, digits, '.', '_' or '-'",
        )
    return value


def _list(data: dict, key: str, source: str, label: str | None = None) -> list:
    value, label = data[key], label or key
    if not isinstance(value, list):
        _fail(source, label, f"{value!r} is not a list", f"write {key}: [ ... ]")
    if not value:
        _fail(source, label, "is an empty list", "give at least one entry")
    return value


def _unique(values: list, key: str, source: str) -> None:
    seen = set()
    for i, value in enumerate(values):
        if value in seen:
            _fail(source, f"{key}[{i}]", f"{value!r} is listed twice", "list it once")
        seen.add(value)


def _names(data: dict, key: str, valid: tuple, source: str) -> tuple:
    values = _list(data, key, source)
    for i, value in enumerate(values):
        if value not in valid:
            close = difflib.get_close_matches(str(value), valid, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            _fail(
                source,
                f"{key}[{i}]",
                f"unknown {key.rstrip('s').replace('_', ' ')} {value!r}",
                f"{hint}valid: {', '.join(valid)}",
            )
    _unique(values, key, source)
    return tuple(values)


def _operator_names(data: dict, source: str) -> tuple:
    values = _list(data, "operators", source)
    for i, value in enumerate(values):
        if not isinstance(value, str) or not _OPERATOR.fullmatch(value):
            _fail(
                source,
                f"operators[{i}]",
                f"{value!r} is not an operator name (it is part of plate names)",
                "use up to 32 letters, digits, '.' or '_'",
            )
    _unique(values, "operators", source)
    return tuple(values)


def _check_number(value, key: str, source: str, fix: str) -> float:
    """A finite number >= 0 as a float (-0.0 becomes 0.0)."""
    if not _is_number(value):
        if isinstance(value, str) and _looks_numeric(value):
            fix = (
                f"YAML reads {value!r} as text: write a dot and a signed "
                "exponent, e.g. 1.0e-3 or 1.0e+3"
            )
        _fail(source, key, f"{value!r} is not a number", fix)
    try:
        number = float(value)
    except OverflowError:
        _fail(source, key, f"{str(value)[:20]}... is too large", fix)
    if not math.isfinite(number):
        _fail(source, key, f"{value!r} is not finite", fix)
    if number < 0:
        _fail(source, key, f"{value!r} is negative", fix)
    return number + 0.0


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


#: Doses above this (1 M) are refused: no assay runs there, and the model's
#: arithmetic would overflow long before.
MAX_DOSE_UM = 1e6


def _check_dose(value, key: str, source: str) -> float:
    dose = _check_number(value, key, source, "doses must be finite numbers >= 0")
    if dose > MAX_DOSE_UM:
        _fail(
            source, key, f"{value!r} µM is above 1 M", "give a dose of at most 1e6 µM"
        )
    return dose


def _numbers(
    data: dict, key: str, source: str, positive: bool = False, label: str | None = None
) -> tuple:
    label = label or key
    values = _list(data, key, source, label)
    what = "timepoints must be finite numbers > 0" if positive else None
    out = []
    for i, value in enumerate(values):
        if what:
            number = _check_number(value, f"{label}[{i}]", source, what)
        else:
            number = _check_dose(value, f"{label}[{i}]", source)
        if positive and number <= 0:
            _fail(
                source, f"{label}[{i}]", f"{value!r} is not positive", "use a value > 0"
            )
        out.append(number)
    _unique(out, label, source)
    return tuple(out)


def _integers(data: dict, key: str, source: str) -> tuple:
    values = _list(data, key, source)
    for i, value in enumerate(values):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            _fail(
                source,
                f"{key}[{i}]",
                f"{value!r} is not a whole number >= 1",
                "use 1, 2, ...",
            )
        if value >= 2**32:
            _fail(
                source,
                f"{key}[{i}]",
                f"{value} is too large",
                "use a number below 2**32",
            )
    _unique(values, key, source)
    return tuple(values)


def _count(data: dict, key: str, source: str) -> int:
    value = data[key]
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        _fail(
            source,
            key,
            f"{value!r} is not a whole number >= 1",
            "use a count such as 3",
        )
    if value >= 2**32:
        _fail(source, key, f"{value} is too large", "use a number below 2**32")
    return value


def _doses(data: dict, compounds: tuple, source: str) -> tuple:
    has_levels, has_abs = "dose_levels" in data, "doses_uM" in data
    if has_levels == has_abs:
        _fail(
            source,
            "dose_levels",
            "give exactly one of dose_levels and doses_uM",
            "dose_levels: multiples of each compound's EC50, "
            "doses_uM: {compound: [µM]}",
        )
    if has_levels:
        levels = _numbers(data, "dose_levels", source)
        doses = tuple(
            tuple((level * _base_ec50(c), level) for level in levels) for c in compounds
        )
        for i, level in enumerate(levels):
            if not all(d[i][0] <= MAX_DOSE_UM for d in doses):
                _fail(
                    source,
                    f"dose_levels[{i}]",
                    f"{level!r} x EC50 is above 1 M for some compound",
                    "use a realistic dose level",
                )
        return doses
    table = data["doses_uM"]
    if not isinstance(table, dict):
        _fail(source, "doses_uM", "is not a mapping", "write doses_uM: {tBHQ: [0, 10]}")
    for name in table:
        if name not in compounds:
            _fail(
                source,
                f"doses_uM.{name}",
                "is not in compounds",
                "list it in compounds",
            )
    out = []
    for name in compounds:
        if name not in table:
            _fail(source, f"doses_uM.{name}", "is missing", f"give the doses of {name}")
        doses = _numbers(table, name, source, label=f"doses_uM.{name}")
        out.append(tuple((dose, None) for dose in doses))
    return tuple(out)


def _base_ec50(compound: str) -> float:
    return P.COMPOUNDS[compound][0] if compound in P.COMPOUNDS else 1.0


def _sentinels(data: dict, plate_format: int, source: str) -> tuple:
    if "sentinels" in data:
        raw = data["sentinels"]
    else:
        from thalamus import config

        raw = config.get(f"sentinels.{plate_format}", default=[])
    if not isinstance(raw, list):
        _fail(source, "sentinels", "is not a list", "write sentinels: [] or a list")
    taken: dict = {}
    out = []
    for i, entry in enumerate(raw):
        key = f"sentinels[{i}]"
        if not isinstance(entry, dict):
            _fail(source, key, "is not a mapping", "give compound, dose_uM and wells")
        _check_keys(entry, _SENTINEL_KEYS, source, f"{key}.")
        for part in _SENTINEL_KEYS:
            if part not in entry:
                _fail(
                    source,
                    f"{key}.{part}",
                    "is missing",
                    "give compound, dose_uM, wells",
                )
        compound = entry["compound"]
        if compound not in P.ALL_COMPOUNDS:
            _fail(
                source,
                f"{key}.compound",
                f"unknown compound {compound!r}",
                f"valid: {', '.join(P.ALL_COMPOUNDS)}",
            )
        dose = _check_dose(entry["dose_uM"], f"{key}.dose_uM", source)
        wells = entry["wells"]
        if not isinstance(wells, list) or not wells:
            _fail(
                source, f"{key}.wells", "is not a non-empty list", "write wells: [A01]"
            )
        positions = []
        for j, name in enumerate(wells):
            position = parse_well(name, plate_format)
            if position is None:
                rows, cols = PLATE_FORMATS[plate_format]
                last = well_name(rows - 1, cols - 1)
                _fail(
                    source,
                    f"{key}.wells[{j}]",
                    f"{name!r} is not a well of a {plate_format}-well plate",
                    f"use A01 to {last}",
                )
            if position in taken:
                _fail(
                    source,
                    f"{key}.wells[{j}]",
                    f"{name!r} is already used by {taken[position]}",
                    "give each sentinel its own wells",
                )
            taken[position] = f"{key}.wells"
            positions.append(position)
        out.append(Sentinel(compound, dose, tuple(positions)))
    return tuple(out)


def _model(overrides, source: str) -> P.ModelParameters:
    if overrides is None:
        return P.ModelParameters()
    if not isinstance(overrides, dict):
        _fail(source, "model", "is not a mapping", "write model: {plate_cv: 0.01}")
    fields = tuple(f.name for f in dataclasses.fields(P.ModelParameters))
    _check_keys(overrides, fields, source, "model.")
    for key, value in overrides.items():
        path = f"model.{key}"
        size = _TUPLE_PARAMETERS.get(key)
        values = value if size else [value]
        if size and (not isinstance(value, list) or len(value) != size):
            _fail(
                source,
                path,
                f"{value!r} is not a list of {size} numbers",
                f"give {size} numbers",
            )
        for item in values:
            _check_number(item, path, source, "give a finite number >= 0")
        if (key.endswith("_cv") or key == "ic50_log_sd") and value > 1:
            _fail(
                source,
                path,
                f"{value} is above 1",
                "a spread this wide makes signals negative; give at most 1",
            )
        if key in ("failure_rate", "seeding_stress", "edge_factor") and value > 1:
            _fail(source, path, f"{value} is above 1", "give a fraction from 0 to 1")
        if key == "failure_weights" and sum(value) <= 0:
            _fail(
                source,
                path,
                "all weights are zero",
                "give at least one positive weight",
            )
        if key.endswith("_range") and value[0] > value[1]:
            _fail(
                source,
                path,
                f"low {value[0]} exceeds high {value[1]}",
                "give [low, high]",
            )
    return P.ModelParameters.from_overrides(overrides)


def _check_capacity(spec: CampaignSpec) -> None:
    rows, cols = PLATE_FORMATS[spec.plate_format]
    used = sum(len(s.wells) for s in spec.sentinels)
    free = rows * cols - used
    needed = sum(len(d) for d in spec.doses)
    if needed > free:
        raise SpecError(
            f"{spec.source}: key 'compounds': the design needs {needed} experimental "
            f"wells per plate but a {spec.plate_format}-well plate has {free} free "
            f"after {used} sentinel wells; use plate_format: 384, fewer compounds "
            "or doses, or fewer sentinels"
        )
    plates = (
        len(spec.days) * len(spec.operators) * spec.replicates
        * len(spec.timepoints_h) * len(spec.cell_lines)
    )  # fmt: skip
    if plates * (needed + used) > MAX_WELLS:
        raise SpecError(
            f"{spec.source}: key 'replicates': the design has "
            f"{plates * (needed + used):,} wells on {plates:,} plates, more than "
            f"the {MAX_WELLS:,} thalamus runs at once; split it into campaigns"
        )


def _check_timepoint_labels(timepoints: tuple, source: str) -> None:
    """Refuse timepoints that would give two plates the same plate_id."""
    seen: dict = {}
    for i, value in enumerate(timepoints):
        label = f"{value:g}"
        if label in seen:
            _fail(
                source,
                f"timepoints_h[{i}]",
                f"{value!r} and {seen[label]!r} both print as {label} h",
                "use timepoints that differ in their first 6 significant digits",
            )
        seen[label] = value


class _UniqueKeyLoader(yaml.SafeLoader):
    """The safe YAML loader, refusing a key given twice in one mapping."""

    def construct_mapping(self, node, deep=False):
        keys = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in keys:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} is given twice", key_node.start_mark
                )
            keys.add(key)
        return super().construct_mapping(node, deep=deep)

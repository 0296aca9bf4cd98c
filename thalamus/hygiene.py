"""Find global or unseeded randomness by reading the package's syntax tree.

A text grep is fooled by aliases (``import numpy.random as npr``), comments and
strings; walking the syntax tree is not. :func:`scan` reports:

- the ``random`` module imported at all;
- NumPy's legacy global generator: any ``numpy.random`` function other than
  the seedable constructors (``np.random.normal``, ``np.random.seed``,
  ``RandomState``, ...), however NumPy was imported;
- a generator or seed sequence built without a seed (``default_rng()``,
  ``SeedSequence()``, ``PCG64(None)``), whose state then comes from the OS;
- a seed taken from the clock, from ``hash()`` (salted per process for
  strings) or from ``os.urandom``; ``os.urandom`` is refused anywhere.
"""

from __future__ import annotations

import ast
import dataclasses
import logging
from pathlib import Path

logger = logging.getLogger(__name__)

#: numpy.random names that build seeded objects rather than draw from the
#: global generator.
SEEDED_CONSTRUCTORS = frozenset(
    {"default_rng", "SeedSequence", "PCG64", "PCG64DXSM", "Philox", "SFC64", "MT19937"}
)
#: numpy.random names that are types, not calls that draw.
_TYPES = frozenset({"Generator", "BitGenerator", "SeedSequence"})
_CLOCK = {
    ("time", "time"),
    ("time", "time_ns"),
    ("time", "perf_counter"),
    ("time", "perf_counter_ns"),
    ("time", "monotonic"),
    ("time", "monotonic_ns"),
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("datetime", "today"),
}


@dataclasses.dataclass(frozen=True)
class Finding:
    """One piece of unhygienic randomness: where it is and what it is."""

    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


def scan(root=None) -> list[Finding]:
    """Scan every ``.py`` file under ``root`` (default: the thalamus package).

    Parameters
    ----------
    root : path, optional
        A directory (or one file) to scan.

    Returns
    -------
    list of Finding
        Empty when the code is clean.

    Examples
    --------
    >>> scan()
    []
    """
    root = Path(root) if root is not None else Path(__file__).resolve().parent
    files = [root] if root.is_file() else sorted(root.rglob("*.py"))
    findings = []
    for path in files:
        findings.extend(scan_source(path.read_text(), str(path)))
    return findings


def scan_source(text: str, path: str = "<string>") -> list[Finding]:
    """Scan one module's source text.

    Examples
    --------
    >>> [f.message for f in scan_source("import numpy as np\\nnp.random.rand()")]
    ['legacy global NumPy generator: numpy.random.rand()']
    >>> scan_source("import numpy\\nnumpy.random.default_rng(7)")
    []
    """
    try:
        tree = ast.parse(text, filename=path)
    except SyntaxError as exc:
        return [Finding(path, exc.lineno or 0, f"cannot parse: {exc.msg}")]
    visitor = _Visitor(path)
    visitor.visit(tree)
    return visitor.findings


class _Visitor(ast.NodeVisitor):
    """Tracks what each name is bound to, then judges each call."""

    def __init__(self, path: str):
        self.path = path
        self.findings = []
        # local name -> dotted module or object it stands for
        self.aliases = {}

    def _report(self, node, message) -> None:
        self.findings.append(Finding(self.path, node.lineno, message))

    def visit_Import(self, node) -> None:
        for alias in node.names:
            if alias.name == "random" or alias.name.startswith("random."):
                self._report(node, "the random module is imported")
            if alias.asname:
                self.aliases[alias.asname] = alias.name
            else:
                top = alias.name.split(".")[0]
                self.aliases[top] = top
        self.generic_visit(node)

    def visit_ImportFrom(self, node) -> None:
        module = node.module or ""
        if node.level == 0 and (module == "random" or module.startswith("random.")):
            self._report(node, "the random module is imported")
        for alias in node.names:
            self.aliases[alias.asname or alias.name] = f"{module}.{alias.name}"
        self.generic_visit(node)

    def _dotted(self, node) -> str | None:
        """Full dotted name of a Name/Attribute chain, aliases resolved."""
        parts = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name):
            return None
        parts.append(self.aliases.get(node.id, node.id))
        return ".".join(reversed(parts))

    def visit_Call(self, node) -> None:
        name = self._dotted(node.func)
        if name:
            self._judge_call(node, name)
        self.generic_visit(node)

    def _judge_call(self, node, name: str) -> None:
        if name == "os.urandom":
            self._report(node, "os.urandom() draws from the OS, not from the seed")
        if not name.startswith("numpy.random."):
            return
        attr = name[len("numpy.random.") :]
        if attr not in SEEDED_CONSTRUCTORS and attr not in _TYPES:
            self._report(node, f"legacy global NumPy generator: {name}()")
            return
        if attr in SEEDED_CONSTRUCTORS:
            self._judge_seed(node, name)

    def _judge_seed(self, node, name: str) -> None:
        seeds = list(node.args[:1]) + [
            k.value for k in node.keywords if k.arg in ("seed", "entropy")
        ]
        if not seeds or all(_is_none(s) for s in seeds):
            self._report(node, f"{name}() without a seed takes OS entropy")
            return
        for seed in seeds:
            for inner in ast.walk(seed):
                if isinstance(inner, ast.Call):
                    self._judge_seed_source(node, name, inner)

    def _judge_seed_source(self, node, name: str, call) -> None:
        source = self._dotted(call.func) or ""
        tail = tuple(source.split(".")[-2:])
        if source == "hash":
            self._report(node, f"{name}() seeded from hash(), salted per process")
        elif tail in _CLOCK or source.startswith("time."):
            self._report(node, f"{name}() seeded from the clock ({source})")


def _is_none(node) -> bool:
    return isinstance(node, ast.Constant) and node.value is None

"""``campaign plan``: what a spec would run, without simulating it."""

from __future__ import annotations

from thalamus.design import build_design, plate_map
from thalamus.runner import resolve_spec
from thalamus.scheduling import task_ranges


def describe(spec_or_path, seed=None, wells_per_task=None) -> str:
    """A readable plan: counts, plates, tasks and a map of the first plate."""
    spec = resolve_spec(spec_or_path, seed)
    design = build_design(spec)
    ranges = task_ranges(design, wells_per_task)
    n_sentinel = design.n_sentinel_wells
    lines = [
        f"campaign {spec.name} ({spec.source})",
        f"  design_id {spec.design_id()}  seed {spec.seed}",
        f"  wells {design.n_wells} = {design.n_wells - n_sentinel} experimental"
        f" + {n_sentinel} sentinel",
        f"  plates {len(design.plates)} ({spec.plate_format}-well, "
        f"{len(design.layout)} wells used per plate)",
        f"  tasks {len(ranges)} ({ranges[0][1] - ranges[0][0]} wells per task)",
        f"  cell lines {', '.join(spec.cell_lines)}",
        f"  compounds {', '.join(spec.compounds)}",
        f"  timepoints {', '.join(f'{t:g} h' for t in spec.timepoints_h)}; days "
        f"{', '.join(map(str, spec.days))}; operators {', '.join(spec.operators)}; "
        f"replicates {spec.replicates}",
        "",
        plate_map(design, 0),
    ]
    return "\n".join(lines)

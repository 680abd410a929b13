"""Each layer's section of the report, computed from what a check context holds (`checks.LAYERS`).

The one place that knows which function of which check module makes which section: the
registry asks it, so the check modules never import each other nor the registry.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from components.config import PlatformConfig
from components.images import LOCKED_IMAGES
from components.local_cluster import LocalClusterConfig, kind_cluster_config

from .checks.admission import admission_report
from .checks.api_rules import check_api_rules
from .checks.component_configs import configs_report
from .checks.consistency import consistency_report
from .checks.deployability import deployability_report
from .checks.footprint import footprint, node_count
from .checks.images import image_inventory
from .checks.invariants import invariants_report
from .checks.network import network_report
from .checks.ordering import ordering_report
from .checks.paths import local_port_mapping, paths_report
from .checks.policies import policy_report
from .checks.references import FIELDS, check_references
from .checks.scheduling import scheduling_report
from .checks.schema import prepare as prepare_schema
from .checks.schema import schema_report
from .engine.charts import ChartSet
from .engine.deployed import Deployed
from .engine.facts import StackContext
from .engine.harness import Run
from .engine.objects import namespace_labels_from_hooks


class Inputs(Protocol):
    """What a layer reads (`checks.Context` provides it)."""

    @property
    def objects(self) -> Sequence[Deployed]: ...

    @property
    def stack(self) -> StackContext | None: ...

    @property
    def run(self) -> Run | None: ...

    @property
    def pack_config(self) -> dict[str, Any]: ...

    @property
    def admitted(self) -> list[Deployed]: ...


def layer_section(name: str, ctx: Inputs) -> Any:
    """The report section of layer `name` (`checks.LAYERS`) for the stack `ctx` describes."""
    stack, live = ctx.stack, ctx.objects
    assert stack is not None, "a layer over the objects needs the stack's context"
    config = stack.config
    sections: dict[str, Callable[[], Any]] = {
        "policies": lambda: policy_report(ctx.run, ctx.pack_config, stack.deployed) if ctx.run is not None else {},
        "schema": lambda: schema_report([(d.source, d.obj) for d in live if d.origin != "dropped-hook"], stack.releases, stack.chart_set),
        "admission": lambda: admission_report(ctx.admitted, namespace_labels_from_hooks(live)),
        "deployability": lambda: deployability_report(live, stack.deployed.charts, stack.facts, stack.deployed.problems,
                                                      check_references(live, stack.deployed.charts, stack.facts), FIELDS),
        "ordering": lambda: ordering_report(ctx.run, live) if ctx.run is not None else {},
        "invariants": lambda: invariants_report(live, check_api_rules([d for d in live if d.origin != "dropped-hook"])),
        "images": lambda: image_inventory(ctx.admitted, stack.registries, LOCKED_IMAGES),
        "footprint": lambda: footprint(ctx.admitted, nodes=node_count(config), component_of=stack.component_of),
        "consistency": lambda: consistency_report(ctx.admitted, node_count(config), config.environment),
        "network": lambda: network_report(ctx.admitted, config.environment),
        "paths": lambda: paths_report(ctx.admitted, config.environment, kind_port_mapping(config)),
        "scheduling": lambda: scheduling_report(ctx.admitted, config),
        "configs": lambda: configs_report(live),
    }
    return sections[name]()


def prepare(run: Run, charts: ChartSet) -> None:
    """What the layers read from the pinned charts and static schemas, loaded while the engine
    still renders the stack (`report.write` runs it beside `deployed_objects`, whose Helm calls
    leave the main thread waiting). Only caches fill: an error is the layer's to report."""
    from .engine.deployed import V3_RELEASE, V4_CHART

    releases = {(str(r.inputs.get("chart")), str(r.inputs.get("version"))) for r in run.resources if r.type in (V4_CHART, V3_RELEASE)}
    try:
        prepare_schema(charts, sorted(releases))
    except Exception:  # only caches fill here: the schema layer computes it again and reports the error
        return


def kind_port_mapping(config: PlatformConfig) -> dict[int, int] | None:
    """Host port -> node port of the kind cluster the program creates (None for other clusters)."""
    cluster = config.cluster
    if not isinstance(cluster, LocalClusterConfig) or cluster.mode != "kind":
        return None
    return local_port_mapping(kind_cluster_config(cluster))

"""render.layers: which module makes which section of report.json — every layer has one, over the context it is given."""

from __future__ import annotations

import pytest

from render.layers import kind_port_mapping, layer_section

LOCAL_PORTS = {8080: 30080, 8443: 30443}
"""kind's host ports -> the gateway's NodePorts (Pulumi.local.yaml)."""


def test_the_kind_port_mapping_is_the_one_the_program_creates(rendered):
    from components.config import parse_config
    from helpers import stack_config

    config, _ = stack_config("local")
    platform = parse_config({k.split(":", 1)[1]: v for k, v in config.items() if k.startswith("gitops-platform:")})
    assert kind_port_mapping(platform) == LOCAL_PORTS


def test_a_layer_computes_the_section_the_report_holds_and_an_unknown_one_is_an_error(rendered):
    from components.config import parse_config
    from helpers import pinned_charts, stack_config, stack_pack_config
    from render.checks import LAYERS, Context
    from render.report import stack_context

    run, data, deployed = rendered("local")
    config, _ = stack_config("local")
    platform = parse_config({k.split(":", 1)[1]: v for k, v in config.items() if k.startswith("gitops-platform:")})
    ctx = Context(deployed.objects, stack_context(run, platform, deployed, pinned_charts(), data["helm_releases"]), run, stack_pack_config("local"))

    assert set(LAYERS) <= set(data)
    for name in ("images", "footprint", "scheduling", "invariants"):  # the quick ones; every layer runs in every render
        assert layer_section(name, ctx) == data[name], name
    with pytest.raises(KeyError):
        layer_section("no-such-layer", ctx)


def test_only_a_kind_cluster_the_program_creates_has_a_port_mapping():
    from components.config import parse_config
    from helpers import aws

    config = {k.split(":", 1)[1]: v for k, v in aws().items()}

    assert kind_port_mapping(parse_config(config)) is None


def test_prepare_loads_what_the_schema_layer_reads_from_the_charts_and_never_raises(rendered, monkeypatch):
    from helpers import pinned_charts, release
    from render.engine.charts import ChartSet
    from render.engine.deployed import V3_RELEASE, V4_CHART
    from render.engine.harness import Run
    from render.layers import prepare

    run, _, _ = rendered("local")
    charts = pinned_charts()  # a ChartSet of its own: nothing of it loaded yet
    releases = {(r.inputs["chart"], r.inputs["version"]) for r in run.resources if r.type in (V4_CHART, V3_RELEASE)}

    prepare(run, charts)

    before = ChartSet.raw_values.cache_info()
    for chart, version in releases:
        charts.values(chart, version)
    after = ChartSet.raw_values.cache_info()
    assert (after.misses, after.hits) == (before.misses, before.hits + len(releases))
    # A chart the lock does not pin, or one whose values cannot be read: the layer reports it, prepare does not raise.
    prepare(Run("test", [release("nginx", "1.0.0", "web")]), charts)
    monkeypatch.setattr(ChartSet, "subcharts", lambda self, name, version: 1 / 0)
    prepare(run, pinned_charts())

"""render.engine.harness: the real program under Pulumi's mock monitor — recorded as the engine sees it, secrets kept, runs independent."""

from __future__ import annotations

from render.engine.harness import SECRET_PLACEHOLDER, Secret, engine_config, read_stack_file, redact, reveal, run_program, run_program_recording


def test_secure_values_become_secret_placeholders(tmp_path):
    stack_file = tmp_path / "Pulumi.x.yaml"
    stack_file.write_text(
        "config:\n"
        "  gitops-platform:environment: local\n"
        "  gitops-platform:alerting:\n"
        "    pagerKey:\n"
        "      secure: v1:AAAA\n"
        "  aws:region: eu-west-1\n"
    )

    config, secret_keys = read_stack_file(stack_file)

    assert config["gitops-platform:alerting"] == {"pagerKey": "[secret]"}
    assert secret_keys == ["gitops-platform:alerting"]
    assert config["aws:region"] == "eu-west-1"


def test_secrets_are_revealed_for_assertions_and_redacted_for_reports():
    value = {"a": Secret("s3cr3t"), "b": [Secret({"k": "v"}), "plain"]}

    assert reveal(value) == {"a": "s3cr3t", "b": [{"k": "v"}, "plain"]}
    assert redact(value) == {"a": SECRET_PLACEHOLDER, "b": [{"k": SECRET_PLACEHOLDER}, "plain"]}  # a secret's shape stays readable


def test_structured_config_reaches_the_program_as_json_text():
    assert engine_config({"gitops-platform:mesh": {"enabled": True}, "aws:region": "eu-west-1"}) == {
        "gitops-platform:mesh": '{"enabled": true}', "aws:region": "eu-west-1",
    }


def test_a_run_records_what_the_program_registered_and_what_it_exported():
    def program():
        import pulumi
        import pulumi_kubernetes as k8s

        config_map = k8s.core.v1.ConfigMap("cm", metadata={"name": "cm", "namespace": "apps"}, data={"token": pulumi.Output.secret("t")})
        pulumi.export("name", config_map.metadata.apply(lambda m: m["name"]))

    run = run_program("local", {}, program=program)

    config_map = run.named("cm")
    assert config_map.kubernetes_object and run.of_type("kubernetes:core/v1:ConfigMap") == [config_map]
    assert isinstance(config_map.inputs["data"], Secret)
    assert run.outputs == {"name": "cm"} and run.by_urn()[config_map.urn] is config_map


def test_each_resource_is_handed_to_on_register_as_the_program_registers_it():
    seen = []

    def program():
        import pulumi_kubernetes as k8s

        first = k8s.core.v1.Namespace("apps", metadata={"name": "apps"})
        # Registered only once the namespace's name resolves: after it.
        k8s.core.v1.ConfigMap("cm", metadata={"name": "cm", "namespace": first.metadata.apply(lambda m: m["name"])})

    run, failure = run_program_recording("local", {}, program=program, on_register=seen.append)

    assert failure is None
    assert [r.name for r in seen] == ["apps", "cm"]
    assert all(a is b for a, b in zip(sorted(seen, key=lambda r: r.urn), run.resources, strict=True))  # the very records of the run


def test_a_preview_leaves_every_computed_output_unknown():
    seen = {}

    def program():
        import pulumi_kubernetes as k8s

        config_map = k8s.core.v1.ConfigMap("cm", metadata={"namespace": "apps"})

        async def check():
            seen["known"] = await config_map.id.is_known()

        return check()

    run_program("local", {}, program=program, preview=True)

    assert seen == {"known": False}


def test_the_programs_exception_comes_back_with_what_was_recorded_before_it():
    def program():
        import pulumi_kubernetes as k8s

        k8s.core.v1.Namespace("first", metadata={"name": "first"})
        raise ValueError("config key x: bad")

    run, error = run_program_recording("local", {}, program=program)

    assert isinstance(error, ValueError) and [r.name for r in run.resources if r.custom] == ["first"]


def test_the_sdk_does_not_walk_the_stack_for_source_positions_during_a_run_and_does_again_after():
    from pulumi.runtime import resource as sdk_resource

    original = sdk_resource._get_stack_trace  # the pinned SDK has it: an upgrade that renames it fails here
    frames = []

    def program():
        import pulumi_kubernetes as k8s

        frames.append(len(sdk_resource._get_stack_trace().frames))
        k8s.core.v1.Namespace("apps", metadata={"name": "apps"})

    run, failure = run_program_recording("local", {}, program=program)

    assert failure is None and [r.name for r in run.resources] == ["apps"]
    assert frames == [0] and sdk_resource._get_stack_trace is original

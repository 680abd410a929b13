"""The offline render and every check it runs: what `pulumi up` would deploy, judged without a cluster.

    python -m render local --out build/render-local

Runs the real program for a stack under the Pulumi SDK's mock monitor (`harness`),
renders every Helm release through the real Helm engine (`helm_engine`, `deployed`),
and checks everything the stack deploys: schemas (`validate`), the CrossGuard pack,
admission (`admission`), deployability (`deployability`), footprint and images
(`footprint`). Used by CI and reviewers; the library in `components/` never imports it.
"""

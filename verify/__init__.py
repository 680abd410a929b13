"""`make verify`: whether a live cluster of a stack actually works, checked with the official Kubernetes client.

    python -m verify local                 # the stack's kubeconfig output (pulumi stack output)
    python -m verify aws --context my-eks  # a context of your kubeconfig instead
    python -m verify local --json

What the stack deploys comes from the offline render (`render`), or from the stack's state;
each check reads the cluster's state for those objects. `expected` derives what to look for
into `model.Expected`; `checks` holds the checks (`CHECKS`); `reads` how they read (the API,
a port-forward to a pod, TLS to the gateway); `probes` the pods they create (dry-run bodies,
the plaintext probe); `footprint` what the cluster runs beside the estimate; `stack` the
stack's outputs and state through the Pulumi CLI; `cli` the command. README, "Verifying a live platform", explains each check and its failures.
"""

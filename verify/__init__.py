"""`make verify`: whether a live cluster of a stack actually works, checked with the official Kubernetes client.

    python -m verify local                 # the stack's kubeconfig output (pulumi stack output)
    python -m verify aws --context my-eks  # a context of your kubeconfig instead
    python -m verify local --json

What the stack deploys comes from the offline render (`render`); each check reads the
cluster's state for those objects. See `verify.checks` for the checks and README,
"Verifying a live platform".
"""

"""The render's model of the engine and the cluster: what the checks read, never what they judge.

- `harness`: the real program under the Pulumi SDK's mocks, recording every resource;
- `charts`, `helm_engine`, `deployed`: the pinned charts, rendered by the real Helm engine,
  and every object the stack deploys (program, charts, ConfigGroups, hooks);
- `cluster`, `facts`: what each environment's cluster runs before the program, and what
  the stack provides beside its objects (prerequisites, cloud roles);
- `workloads`, `pods`, `selectors`, `injection`: pod templates, the pods they make, label
  selectors, and what Istio's injector adds;
- `objects`, `addresses`, `flows`: objects controllers make at run time, addresses wired
  into configuration, and NetworkPolicy semantics with the flows between pods;
- `falco`: Falco's rule grammar.
"""

package k8sappprojectconfined

import data.lib.workload
import rego.v1

# An Argo CD AppProject confines what its Applications may deploy: never every source,
# every destination, or cluster-scoped kinds.
spec := object.get(workload.object, "spec", {})

violation contains {"msg": msg} if {
	workload.kind == "AppProject"
	"*" in object.get(spec, "sourceRepos", [])
	msg := sprintf("%v %v allows every source repository (sourceRepos: '*'); list the team's repositories", [workload.kind, workload.name])
}

violation contains {"msg": msg} if {
	workload.kind == "AppProject"
	some destination in object.get(spec, "destinations", [])
	some key in ["server", "name", "namespace"]
	object.get(destination, key, "") == "*"
	msg := sprintf("%v %v allows every destination (destinations[].%v: '*'); name the team's namespaces on this cluster", [workload.kind, workload.name, key])
}

violation contains {"msg": msg} if {
	workload.kind == "AppProject"
	count(object.get(spec, "clusterResourceWhitelist", [])) > 0
	msg := sprintf("%v %v allows cluster-scoped kinds (clusterResourceWhitelist); teams deploy namespaced objects only", [workload.kind, workload.name])
}

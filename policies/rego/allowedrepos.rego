package k8sallowedrepos

import data.lib.workload
import rego.v1

violation contains {"msg": msg} if {
	workload.containers[container]
	not allowed(container.image)
	msg := sprintf("%v %v: container %v image %v is not from an allowed registry %v; push it to one of them", [workload.kind, workload.name, container.name, container.image, input.parameters.repos])
}

allowed(image) if {
	repo := input.parameters.repos[_]
	startswith(image, repo)
}

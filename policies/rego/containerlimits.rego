package k8scontainerlimits

import data.lib.workload
import rego.v1

violation contains {"msg": msg} if {
	workload.containers[container]
	resource := ["cpu", "memory"][_]
	not container.resources.limits[resource]
	msg := sprintf("%v %v: container %v has no %v limit; set resources.limits.%v", [workload.kind, workload.name, container.name, resource, resource])
}

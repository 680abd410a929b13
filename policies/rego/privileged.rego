package k8spspprivileged

import data.lib.workload
import rego.v1

violation contains {"msg": msg} if {
	workload.containers[container]
	container.securityContext.privileged == true
	msg := sprintf("%v %v: container %v is privileged; remove securityContext.privileged", [workload.kind, workload.name, container.name])
}

package k8spspallowprivilegeescalationcontainer

import data.lib.workload
import rego.v1

# Restricted profile: allowPrivilegeEscalation must be set to false; unset allows it.
violation contains {"msg": msg} if {
	workload.containers[container]
	not container.securityContext.allowPrivilegeEscalation == false
	msg := sprintf("%v %v: container %v may gain more privileges than its parent; set securityContext.allowPrivilegeEscalation: false", [workload.kind, workload.name, container.name])
}

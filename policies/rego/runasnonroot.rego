package k8srunasnonroot

import data.lib.workload
import rego.v1

violation contains {"msg": msg} if {
	workload.containers[container]
	not exempt(container.image)
	not runs_as_non_root(container)
	msg := sprintf("%v %v: container %v may run as root; set securityContext.runAsNonRoot: true (pod or container)", [workload.kind, workload.name, container.name])
}

# The container's own setting wins; otherwise the pod's applies.
runs_as_non_root(container) if {
	container.securityContext.runAsNonRoot == true
}

runs_as_non_root(container) if {
	not has_own_setting(container)
	workload.pod_spec.securityContext.runAsNonRoot == true
}

has_own_setting(container) if {
	container.securityContext.runAsNonRoot != null
}

# Images the constraint exempts (Istio's init container until Istio CNI is used).
exempt(image) if {
	prefix := input.parameters.exemptImages[_]
	startswith(image, prefix)
}

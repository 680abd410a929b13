package k8spspseccomp

import data.lib.workload
import rego.v1

# Restricted profile: RuntimeDefault or Localhost, on the container or inherited from the pod.
violation contains {"msg": msg} if {
	workload.containers[container]
	not profile(container) in {"RuntimeDefault", "Localhost"}
	msg := sprintf("%v %v: container %v runs without a seccomp profile; set securityContext.seccompProfile.type: RuntimeDefault (pod or container)", [workload.kind, workload.name, container.name])
}

# The container's own setting wins; otherwise the pod's applies.
profile(container) := container.securityContext.seccompProfile.type

profile(container) := workload.pod_spec.securityContext.seccompProfile.type if {
	not container.securityContext.seccompProfile.type
}

profile(container) := "" if {
	not container.securityContext.seccompProfile.type
	not workload.pod_spec.securityContext.seccompProfile.type
}

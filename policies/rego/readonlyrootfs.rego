package k8sreadonlyrootfilesystem

import data.lib.workload
import rego.v1

violation contains {"msg": msg} if {
	workload.containers[container]
	not exempt(container.image)
	not container.securityContext.readOnlyRootFilesystem == true
	msg := sprintf("%v %v: container %v has a writable root filesystem; set securityContext.readOnlyRootFilesystem: true (mount an emptyDir where it writes)", [workload.kind, workload.name, container.name])
}

# Images the constraint exempts (Istio's init container until Istio CNI is used).
exempt(image) if {
	prefix := input.parameters.exemptImages[_]
	startswith(image, prefix)
}

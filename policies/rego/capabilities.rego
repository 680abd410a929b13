package k8spspcapabilities

import data.lib.workload
import rego.v1

# Restricted profile: drop ALL, add back only the allowed capabilities.
violation contains {"msg": msg} if {
	workload.containers[container]
	not exempt(container.image)
	not drops_all(container)
	msg := sprintf("%v %v: container %v does not drop ALL capabilities; set securityContext.capabilities.drop: [ALL]", [workload.kind, workload.name, container.name])
}

violation contains {"msg": msg} if {
	workload.containers[container]
	not exempt(container.image)
	added := {c | some c in object.get(container, ["securityContext", "capabilities", "add"], [])} - allowed
	count(added) > 0
	msg := sprintf("%v %v: container %v adds capabilities %v beyond the allowed %v; remove them", [workload.kind, workload.name, container.name, sort(added), sort(allowed)])
}

drops_all(container) if {
	"ALL" in object.get(container, ["securityContext", "capabilities", "drop"], [])
}

allowed := {c | some c in object.get(input.parameters, "allowedCapabilities", [])}

exempt(image) if {
	prefix := input.parameters.exemptImages[_]
	startswith(image, prefix)
}

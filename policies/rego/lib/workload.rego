# Shared by every workload template: where a pod spec sits in each workload kind, and
# every container in it. Gatekeeper loads it through the ConstraintTemplate's `libs`.
package lib.workload

import rego.v1

object := input.review.object

pod_spec := spec if {
	object.kind == "Pod"
	spec := object.spec
} else := spec if {
	object.kind == "CronJob"
	spec := object.spec.jobTemplate.spec.template.spec
} else := spec if {
	spec := object.spec.template.spec
}

# Every container, init container and ephemeral container of the pod spec.
containers contains container if {
	container := pod_spec.containers[_]
}

containers contains container if {
	container := pod_spec.initContainers[_]
}

containers contains container if {
	container := pod_spec.ephemeralContainers[_]
}

name := object.metadata.name

kind := object.kind

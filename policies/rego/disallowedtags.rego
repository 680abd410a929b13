package k8sdisallowedtags

import data.lib.workload
import rego.v1

violation contains {"msg": msg} if {
	workload.containers[container]
	not pinned(container.image)
	msg := sprintf("%v %v: container %v image %v has no fixed tag; use an explicit version tag or an @sha256 digest, never latest", [workload.kind, workload.name, container.name, container.image])
}

pinned(image) if {
	contains(image, "@sha256:")
}

pinned(image) if {
	not contains(image, "@")
	parts := split(image, "/")
	last := parts[count(parts) - 1]
	contains(last, ":")
	tag := split(last, ":")[1]
	tag != "latest"
	tag != ""
}

package k8shostnamespaces

import data.lib.workload
import rego.v1

violation contains {"msg": msg} if {
	field := ["hostNetwork", "hostPID", "hostIPC"][_]
	workload.pod_spec[field] == true
	msg := sprintf("%v %v shares the node's %v; remove %v", [workload.kind, workload.name, field, field])
}

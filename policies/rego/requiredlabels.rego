package k8srequiredlabels

import data.lib.workload
import rego.v1

violation contains {"msg": msg} if {
	provided := {label | workload.object.metadata.labels[label]}
	required := {label | label := input.parameters.labels[_]}
	missing := required - provided
	count(missing) > 0
	msg := sprintf("%v %v is missing required labels %v; add them to metadata.labels", [workload.kind, workload.name, sort(missing)])
}

package k8snamespacedefaultdeny

import data.lib.workload
import rego.v1

# Referential: reads the namespace's NetworkPolicies from Gatekeeper's inventory, which
# the platform's SyncSet fills. The constraint matches Pods only: a Pod refused because
# its namespace's policies are not synced yet is retried by its controller, so the
# inventory's lag never fails an apply.
namespace := input.review.object.metadata.namespace

specs contains spec if {
	some name
	spec := data.inventory.namespace[namespace]["networking.k8s.io/v1"].NetworkPolicy[name].spec
}

# policyTypes as the API server defaults them: Ingress, plus Egress when egress rules exist.
types(spec) := spec.policyTypes if {
	count(object.get(spec, "policyTypes", [])) > 0
} else := ["Ingress", "Egress"] if {
	count(object.get(spec, "egress", [])) > 0
} else := ["Ingress"]

denied contains direction if {
	some spec in specs
	count(object.get(spec, "podSelector", {})) == 0
	some direction in types(spec)
	count(object.get(spec, lower(direction), [])) == 0
}

missing := {"Ingress", "Egress"} - denied

missing_text := "Ingress and Egress" if {
	count(missing) == 2
} else := direction if {
	some direction in missing
}

violation contains {"msg": msg} if {
	count(missing) > 0
	msg := sprintf("%v %v runs in namespace %v, where no NetworkPolicy denies %v by default; add one with podSelector: {} and policyTypes [Ingress, Egress] and no rules", [workload.kind, workload.name, namespace, missing_text])
}

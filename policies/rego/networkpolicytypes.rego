package k8snetworkpolicytypes

import data.lib.workload
import rego.v1

# Without policyTypes the API server infers them from the rules present: a policy meant
# to deny all egress would silently restrict ingress only.
violation contains {"msg": msg} if {
	workload.kind == "NetworkPolicy"
	count(object.get(workload.object, ["spec", "policyTypes"], [])) == 0
	msg := sprintf("%v %v does not set spec.policyTypes; list Ingress and/or Egress explicitly so what it restricts is what it says", [workload.kind, workload.name])
}

package k8shostpath

import data.lib.workload
import rego.v1

violation contains {"msg": msg} if {
	volume := workload.pod_spec.volumes[_]
	volume.hostPath
	msg := sprintf("%v %v mounts hostPath %v in volume %v; use an emptyDir, ConfigMap, Secret or PVC", [workload.kind, workload.name, volume.hostPath.path, volume.name])
}

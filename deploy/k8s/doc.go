// Package k8s holds the Kubernetes manifests of an asf cluster (the YAML files
// in this directory, applied with `kubectl apply -k deploy/k8s`) and the test
// that checks they agree with each other and with the binaries: names, ports,
// labels and selectors, volume, ConfigMap and Secret references, and every
// ASF_* variable against the flags of asf-coordinator and asf-worker. Both
// workloads are batch/v1 Jobs: their pods exit 0 when the training job is done,
// so the Jobs complete (kubectl wait --for=condition=complete).
//
// The layout, in namespace asf:
//
//	asf-coordinator   Job (1 pod, restartPolicy OnFailure), the PVC asf-store (checkpoints)
//	asf-coordinator   Service: gRPC 7070, gossip 7946/TCP+UDP, HTTP 8080
//	asf-gossip        headless Service of every asf pod: gossip discovery
//	asf-worker        Indexed Job (3 pods, restartPolicy OnFailure); ids asf-worker-<index>
//	asf-store         PVC (ReadWriteOnce): the coordinator's checkpoint store
//	asf-job           ConfigMap: the job file (JSON)
//	asf-secrets       Secret: gossip key and TLS material (placeholders)
//	asf-data          PVC (ReadOnlyMany): the data sets, mounted read-only
package k8s

package clustertest

const roleEnv = "ASF_CLUSTERTEST_ROLE"

// childMain runs the test binary as a cluster node (see process.go).
func childMain(role string) int { return 2 }

# Shortcuts for the container cluster (deploy/README.md). Everything else is
# plain `go build` / `go test ./...`.

WORKERS ?= 3

.PHONY: cluster cluster-status cluster-logs cluster-down cluster-clean images e2e

cluster: ## build the images and start a coordinator and $(WORKERS) workers (docker compose)
	deploy/cluster.sh up $(WORKERS)

cluster-status: ## the coordinator's view of the job and the ring
	deploy/cluster.sh status

cluster-logs: ## follow the cluster's logs
	deploy/cluster.sh logs

cluster-down: ## remove the containers, keep the checkpoint store
	deploy/cluster.sh down

cluster-clean: ## remove the containers and the checkpoint store
	deploy/cluster.sh clean

images: ## build the static binaries and the scratch images only
	deploy/cluster.sh images

e2e: ## the compose end-to-end test under faults (needs Docker; a few minutes)
	go test -v -count=1 -run TestComposeCluster -timeout 15m ./deploy/e2e/

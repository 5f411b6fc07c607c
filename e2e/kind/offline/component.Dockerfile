# One control-plane image kubeadm asks for (kube-apiserver, etcd, coredns, pause, ...): a static binary from
# e2e/scripts/build-kind-binaries.sh on scratch, or on a minimal Debian where it needs tools (kube-proxy: iptables).
ARG BASE=scratch
FROM ${BASE}
ARG BINARY
ARG DEST=/usr/local/bin
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
COPY ${BINARY} ${DEST}/

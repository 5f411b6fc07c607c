# kind's node base image (sigs.k8s.io/kind images/base/Dockerfile, v0.33.0) rebuilt without a registry: the root
# filesystem comes from debootstrap (e2e/scripts/build-kind-images.sh), kind's own files/ tree from the kind Go module,
# containerd and crictl from their Go modules; runc and the CNI plugins are Debian's. Build context: made by the script.
ARG ROOTFS
FROM ${ROOTFS}

COPY files/ /
COPY bin/ /usr/local/bin/
COPY ksa/ /

# kind's clean-up of the systemd units a container must not start, then the units it enables.
RUN mkdir -p /opt/cni/bin /etc/kubernetes/manifests \
 && for p in host-local loopback ptp portmap bridge; do ln -sf /usr/lib/cni/$p /opt/cni/bin/$p; done \
 && find /lib/systemd/system/sysinit.target.wants/ -name "systemd-tmpfiles-setup.service" -delete \
 && rm -f /lib/systemd/system/multi-user.target.wants/* /etc/systemd/system/*.wants/* \
    /lib/systemd/system/local-fs.target.wants/* /lib/systemd/system/sockets.target.wants/*udev* \
    /lib/systemd/system/sockets.target.wants/*initctl* /lib/systemd/system/basic.target.wants/* \
 && echo "ReadKMsg=no" >> /etc/systemd/journald.conf \
 && ln -sf /usr/lib/systemd/systemd /sbin/init \
 && systemctl enable kubelet.service containerd.service undo-mount-hacks.service \
 && systemctl mask systemd-binfmt.service \
 # Without CAP_SYS_RESOURCE (some VMs, rootless) containerd must not lower a container's oom_score_adj below its
 # own; kind sets the same for rootless. Harmless where the capability exists.
 && sed -i 's/restrict_oom_score_adj = false/restrict_oom_score_adj = true/' /etc/containerd/config.toml \
 # kubelet >= 1.35 refuses cgroup v1 hosts unless told otherwise; a no-op on cgroup v2.
 && sed -i 's|^KUBELET_EXTRA_ARGS=.*|& --fail-cgroupv1=false|' /etc/default/kubelet \
 && containerd --version && crictl --version && runc --version | head -1

ENV container=docker
STOPSIGNAL SIGRTMIN+3
ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]

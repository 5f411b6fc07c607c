export {
  BUILD_SCRIPT,
  ETCD_VERSION,
  KUBERNETES_VERSION,
  binariesIn,
  cacheDir,
  locateBinaries,
  type ControlPlaneBinaries,
} from './binaries.js';
export { serviceAccountClaims, type ServiceAccountClaimsSpec } from './claims.js';
export { ClusterClient, PAUSE_IMAGE, isApiError, type RequestedToken, type TokenRequestParams } from './cluster.js';
export {
  ADVERTISE_ADDRESS,
  ControlPlane,
  type ControlPlaneOptions,
  type PublicKeyRef,
  type RestartOptions,
} from './control-plane.js';
export { httpsRequest, type HttpsRequestOptions, type HttpsResponse } from './https.js';
export { inClusterKubeconfig, writeInClusterCredentials, type InClusterCredentials } from './in-cluster.js';
export {
  generatePki,
  generateSigningKey,
  kubernetesKeyId,
  type Pki,
  type SigningKey,
  type SigningKeyType,
} from './pki.js';
export { ManagedProcess, onProcessExit, removeDirOnExit } from './processes.js';
export { ProjectedToken, type MintToken } from './projected-token.js';
export {
  CONNECTION_ENV,
  TestCluster,
  TestNamespace,
  TestPod,
  TestServiceAccount,
  type ControlPlaneConnection,
  type ProjectedTokenOptions,
  type TokenOptions,
} from './test-cluster.js';
export { signServiceAccountToken, type SignTokenParams } from './tokens.js';

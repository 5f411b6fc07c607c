export { locateBinaries, BUILD_SCRIPT, type ControlPlaneBinaries } from './binaries.js';
export {
  ClusterClient,
  PAUSE_IMAGE,
  isApiError,
  type RequestedToken,
  type TokenRequestParams,
} from './cluster.js';
export {
  ADVERTISE_ADDRESS,
  ControlPlane,
  type ControlPlaneOptions,
  type PublicKeyRef,
  type RestartOptions,
} from './control-plane.js';
export { httpsRequest, type HttpsRequestOptions, type HttpsResponse } from './https.js';
export { generatePki, generateSigningKey, kubernetesKeyId, type Pki, type SigningKey, type SigningKeyType } from './pki.js';
export { signServiceAccountToken, type SignTokenParams } from './tokens.js';

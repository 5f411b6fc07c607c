/**
 * The claims → identity direction now lives in {@link identityFromClaims} (`identity.ts`), next to the TokenReview
 * direction and the binding rules; these names remain for code written against earlier versions.
 */
export {
  identityFromClaims as parseServiceAccountClaims,
  type BindingRequirements as ClaimRequirements,
} from './identity.js';

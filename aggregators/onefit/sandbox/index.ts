import { partnerSandboxBindings } from '../../partner/sandbox/index.js';
import { onefitProfile } from '../index.js';

/** The Onefit sandbox: the generic partner sandbox bound to Onefit's profile. Sandbox-only. */
export const {
  createSandbox: createOnefitSandbox,
  startSandbox: startOnefitSandbox,
} = partnerSandboxBindings(onefitProfile);

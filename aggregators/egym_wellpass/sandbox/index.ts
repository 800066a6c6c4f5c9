import { partnerSandboxBindings } from '../../partner/sandbox/index.js';
import { egymWellpassProfile } from '../index.js';

/** The EGYM Wellpass sandbox: the generic partner sandbox bound to EGYM Wellpass's profile. Sandbox-only. */
export const {
  createSandbox: createEgymWellpassSandbox,
  startSandbox: startEgymWellpassSandbox,
} = partnerSandboxBindings(egymWellpassProfile);

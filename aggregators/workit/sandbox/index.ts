import { partnerSandboxBindings } from '../../partner/sandbox/index.js';
import { workitProfile } from '../index.js';

/** The Workit sandbox: the generic partner sandbox bound to Workit's profile. Sandbox-only. */
export const {
  createSandbox: createWorkitSandbox,
  startSandbox: startWorkitSandbox,
} = partnerSandboxBindings(workitProfile);

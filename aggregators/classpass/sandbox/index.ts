import { partnerSandboxBindings } from '../../partner/sandbox/index.js';
import { classpassProfile } from '../index.js';

/** The ClassPass sandbox: the generic partner sandbox bound to ClassPass's profile. Sandbox-only. */
export const {
  createSandbox: createClasspassSandbox,
  startSandbox: startClasspassSandbox,
} = partnerSandboxBindings(classpassProfile);

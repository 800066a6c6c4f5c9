/**
 * Shared parts of the aggregator sandboxes (runnable fakes of each aggregator's API): a clock tests can advance,
 * fault injection, call recording with credentials redacted, a uniform error body, the /__sandbox control API and a
 * listen helper that can always close (even with hanging requests).
 */
export { createSandboxClock, type SandboxClock, type SandboxClockOptions } from './clock.js';
export { createCallRecorder, redactHeaders, type CallFilter, type CallRecorder, type CallRecorderOptions, type RecordedCall } from './calls.js';
export {
  createFaultInjector,
  faultRuleSchema,
  type ActiveFault,
  type FaultInjector,
  type FaultInjectorOptions,
  type FaultRule,
} from './faults.js';
export { sendError, sandboxErrorHandler, type FieldError, type SandboxErrorBody } from './errors.js';
export { createControlRouter, type ControlParts } from './control.js';
export { listen, type ListenOptions, type ListeningServer } from './listen.js';

import { Router, json } from 'express';
import { z } from 'zod';
import type { CallRecorder } from './calls.js';
import type { SandboxClock } from './clock.js';
import { sendError } from './errors.js';
import { faultRuleSchema, type FaultInjector } from './faults.js';

export interface ControlParts {
  faults: FaultInjector;
  calls: CallRecorder;
  clock: SandboxClock;
  /** The aggregator's state as the sandbox holds it (JSON-serializable). */
  state: () => unknown;
  /** Back to the seeded state: data, faults, calls and pending timers. */
  reset: () => void | Promise<void>;
}

const faultsBody = z.union([faultRuleSchema, z.array(faultRuleSchema), z.object({ rules: z.array(faultRuleSchema) }).strict()]);
const advanceBody = z.object({ ms: z.number().int().min(0) }).strict();

/**
 * The control API every sandbox mounts at /__sandbox, for tests in other processes, benchmarks and people poking at
 * `npm start`: GET /calls, DELETE /calls, GET /state, POST /reset, GET|POST|PUT|DELETE /faults, GET /clock,
 * POST /clock/advance. Aggregator-specific controls are added to the returned router by the sandbox.
 */
export function createControlRouter(parts: ControlParts): Router {
  const router = Router();
  router.use(json());

  router.get('/calls', (req, res) => {
    const method = typeof req.query.method === 'string' ? req.query.method : undefined;
    const path = typeof req.query.path === 'string' ? req.query.path : undefined;
    res.json({ calls: parts.calls.list({ method, path }) });
  });
  router.delete('/calls', (_req, res) => {
    parts.calls.clear();
    res.status(204).end();
  });
  router.get('/state', (_req, res) => {
    res.json(parts.state());
  });
  router.post('/reset', async (_req, res) => {
    await parts.reset();
    res.status(204).end();
  });

  router.get('/faults', (_req, res) => {
    res.json({ faults: parts.faults.list() });
  });
  const readRules = (body: unknown) => {
    const parsed = faultsBody.safeParse(body);
    if (!parsed.success) return { errors: parsed.error.issues.map((issue) => ({ field: issue.path.join('.'), message: issue.message })) };
    const data = parsed.data;
    return { rules: Array.isArray(data) ? data : 'rules' in data ? data.rules : [data] };
  };
  router.post('/faults', (req, res) => {
    const read = readRules(req.body);
    if (!read.rules) return sendError(res, 400, 'invalid fault', read.errors);
    const ids = read.rules.map((rule) => parts.faults.add(rule));
    res.status(201).json({ ids, faults: parts.faults.list() });
  });
  router.put('/faults', (req, res) => {
    const read = readRules(req.body);
    if (!read.rules) return sendError(res, 400, 'invalid fault', read.errors);
    res.json({ faults: parts.faults.set(read.rules) });
  });
  router.delete('/faults', (_req, res) => {
    parts.faults.clear();
    res.status(204).end();
  });
  router.delete('/faults/:id', (req, res) => {
    parts.faults.remove(Number(req.params.id));
    res.status(204).end();
  });

  router.get('/clock', (_req, res) => {
    res.json({ now: new Date(parts.clock.now()).toISOString(), pendingTimers: parts.clock.pendingTimers() });
  });
  router.post('/clock/advance', async (req, res) => {
    const parsed = advanceBody.safeParse(req.body);
    if (!parsed.success) return sendError(res, 400, 'body must be { "ms": <non-negative integer> }');
    await parts.clock.advance(parsed.data.ms);
    res.json({ now: new Date(parts.clock.now()).toISOString(), pendingTimers: parts.clock.pendingTimers() });
  });
  return router;
}

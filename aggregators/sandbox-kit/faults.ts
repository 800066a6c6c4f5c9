import type { RequestHandler, Response } from 'express';
import { z } from 'zod';
import { sendError } from './errors.js';

/**
 * One injected fault. A request matching `path`/`method` is hit with probability `rate`, at most `times` times;
 * a hit waits `latencyMs` (real time), then either hangs, answers `status` (with Retry-After and `body` when given),
 * or, with neither, is served normally (pure latency), its answer lost on the way back with `loseAnswer`.
 */
export const faultRuleSchema = z
  .object({
    status: z.number().int().min(100).max(599).optional(),
    /** Delta-seconds or an HTTP date, sent as Retry-After with the status. */
    retryAfter: z.union([z.number().int().min(0), z.string().min(1)]).optional(),
    body: z.unknown().optional(),
    latencyMs: z.number().int().min(0).max(600_000).optional(),
    /** Never answer; the connection stays open until the client gives up or the sandbox closes. */
    hang: z.boolean().optional(),
    /**
     * Serve the request (it takes effect), then drop the connection instead of answering: the client never learns
     * that its call landed, as when a response is lost on the way back.
     */
    loseAnswer: z.boolean().optional(),
    rate: z.number().min(0).max(1).optional(),
    /** A regular expression the request path (without query) must match. */
    path: z
      .string()
      .min(1)
      .refine((source) => {
        try {
          new RegExp(source);
          return true;
        } catch {
          return false;
        }
      }, 'must be a valid regular expression')
      .optional(),
    method: z.string().min(1).optional(),
    times: z.number().int().min(1).optional(),
  })
  .strict();
export type FaultRule = z.infer<typeof faultRuleSchema>;

export interface ActiveFault extends FaultRule {
  id: number;
  /** Times the fault hit so far. */
  hits: number;
}

export interface FaultInjector {
  /** Replaces every rule. */
  set(rules: FaultRule | FaultRule[]): ActiveFault[];
  /** Adds a rule after the existing ones; returns its id. */
  add(rule: FaultRule): number;
  remove(id: number): void;
  clear(): void;
  list(): ActiveFault[];
  /** Destroys the connections of hanging requests (the server's close() does it too). */
  releaseHanging(): void;
  middleware(): RequestHandler;
}

export interface FaultInjectorOptions {
  /** Source of randomness for `rate`; inject a sequence to make a test deterministic. */
  random?: () => number;
  /** Requests never faulted; default the sandbox's own control API under /__sandbox. */
  ignore?: (path: string) => boolean;
}

export function createFaultInjector(options: FaultInjectorOptions = {}): FaultInjector {
  const random = options.random ?? Math.random;
  const ignore = options.ignore ?? ((path: string) => path.startsWith('/__sandbox'));
  let rules: ActiveFault[] = [];
  let nextId = 1;
  const hanging = new Set<Response>();

  const toActive = (rule: FaultRule): ActiveFault => ({ ...faultRuleSchema.parse(rule), id: nextId++, hits: 0 });

  function pick(method: string, path: string): ActiveFault | undefined {
    for (const rule of rules) {
      if (rule.method !== undefined && rule.method.toUpperCase() !== method) continue;
      if (rule.path !== undefined && !new RegExp(rule.path).test(path)) continue;
      if (rule.times !== undefined && rule.hits >= rule.times) continue;
      if (random() >= (rule.rate ?? 1)) continue;
      rule.hits += 1;
      return rule;
    }
    return undefined;
  }

  return {
    set(next) {
      rules = (Array.isArray(next) ? next : [next]).map(toActive);
      return rules.map((rule) => ({ ...rule }));
    },
    add(rule) {
      const active = toActive(rule);
      rules.push(active);
      return active.id;
    },
    remove(id) {
      rules = rules.filter((rule) => rule.id !== id);
    },
    clear() {
      rules = [];
    },
    list: () => rules.map((rule) => ({ ...rule })),
    releaseHanging() {
      for (const res of hanging) res.socket?.destroy();
      hanging.clear();
    },
    middleware() {
      return (req, res, next) => {
        if (ignore(req.path)) {
          next();
          return;
        }
        const fault = pick(req.method, req.path);
        if (!fault) {
          next();
          return;
        }
        const apply = () => {
          if (fault.hang) {
            hanging.add(res);
            res.on('close', () => hanging.delete(res));
            return;
          }
          if (fault.status === undefined) {
            if (fault.loseAnswer) {
              res.end = (() => {
                res.socket?.destroy();
                return res;
              }) as typeof res.end;
            }
            next();
            return;
          }
          if (fault.retryAfter !== undefined) res.setHeader('Retry-After', String(fault.retryAfter));
          if (fault.body !== undefined) {
            res.status(fault.status).json(fault.body);
          } else {
            sendError(res, fault.status, `injected fault: HTTP ${fault.status}`);
          }
        };
        if (fault.latencyMs) setTimeout(apply, fault.latencyMs).unref();
        else apply();
      };
    },
  };
}

import { describe, expect, it } from 'vitest';
import { cancelCallVerdict } from '../../domain/cancellation-failure.js';

describe('cancelCallVerdict', () => {
  it('counts only "not there" answers as gone', () => {
    expect(cancelCallVerdict({ status: 404, retryable: false })).toBe('gone');
    expect(cancelCallVerdict({ status: 410, retryable: false })).toBe('gone');
    expect(cancelCallVerdict({ status: 409, code: 'booking_not_confirmed', retryable: false })).toBe('gone');
  });

  it('retries auth failures, which say nothing about the booking', () => {
    expect(cancelCallVerdict({ status: 401, retryable: false })).toBe('retry');
    expect(cancelCallVerdict({ status: 403, retryable: false })).toBe('retry');
    expect(cancelCallVerdict({ status: 401, code: 'unauthorized', retryable: false })).toBe('retry');
  });

  it('retries what the HTTP classification retries and refuses the other 4xx', () => {
    for (const status of [429, 408, 409, 500, 503, undefined]) expect(cancelCallVerdict({ status, retryable: true }), String(status)).toBe('retry');
    expect(cancelCallVerdict({ status: 409, code: 'booking_not_pending', retryable: false })).toBe('refused');
    for (const status of [400, 405, 422]) expect(cancelCallVerdict({ status, retryable: false }), String(status)).toBe('refused');
  });
});

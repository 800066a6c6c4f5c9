import { describe, expect, it } from 'vitest';
import { registrationRuleViolations } from '../../domain/registration-rules.js';

const base = { maxParticipants: 10, aggregatorLimit: null, quotas: {}, opensBefore: null, closesBefore: 0 };

describe('registration rules', () => {
  it('hold for an activity without limits or windows', () => {
    expect(registrationRuleViolations(base)).toEqual([]);
  });

  it('keep the aggregator limit within the maximum and each quota within the limit', () => {
    expect(registrationRuleViolations({ ...base, aggregatorLimit: 10 })).toEqual([]);
    expect(registrationRuleViolations({ ...base, aggregatorLimit: 11 }).map((v) => v.path)).toEqual(['registrationRules.aggregatorLimit']);
    expect(registrationRuleViolations({ ...base, aggregatorLimit: 4, quotas: { wellhub: 4, onefit: 5 } }).map((v) => v.path)).toEqual([
      'registrationRules.aggregatorQuotas.onefit',
    ]);
    // Without a limit, quotas are bounded by the maximum.
    expect(registrationRuleViolations({ ...base, quotas: { wellhub: 11 } })).toHaveLength(1);
  });

  it('open booking before it closes', () => {
    expect(registrationRuleViolations({ ...base, opensBefore: 120, closesBefore: 60 })).toEqual([]);
    expect(registrationRuleViolations({ ...base, opensBefore: 60, closesBefore: 60 })).toEqual([
      { path: 'registrationRules.bookingOpensMinutesBefore', message: 'booking must open before it closes' },
    ]);
  });
});

/** An activity's registration rules that relate one field to another, checked before anything is written. */
export interface RegistrationRulesCheck {
  maxParticipants: number;
  aggregatorLimit: number | null;
  quotas: Partial<Record<string, number>>;
  opensBefore: number | null;
  closesBefore: number;
}

export interface RuleViolation {
  /** The field at fault, as a dotted path in the API body. */
  path: string;
  message: string;
}

/** Every rule the activity's fields break together; empty when they hold. */
export function registrationRuleViolations(rules: RegistrationRulesCheck): RuleViolation[] {
  const violations: RuleViolation[] = [];
  if (rules.aggregatorLimit !== null && rules.aggregatorLimit > rules.maxParticipants) {
    violations.push({ path: 'registrationRules.aggregatorLimit', message: `must not exceed maxParticipants (${rules.maxParticipants})` });
  }
  const ceiling = rules.aggregatorLimit ?? rules.maxParticipants;
  for (const [aggregator, quota] of Object.entries(rules.quotas)) {
    if (quota !== undefined && quota > ceiling) {
      violations.push({ path: `registrationRules.aggregatorQuotas.${aggregator}`, message: `must not exceed the aggregator limit (${ceiling})` });
    }
  }
  if (rules.opensBefore !== null && rules.opensBefore <= rules.closesBefore) {
    violations.push({ path: 'registrationRules.bookingOpensMinutesBefore', message: 'booking must open before it closes' });
  }
  return violations;
}

import type { SandboxGymSeed } from '../../aggregators/wellhub/sandbox/store.js';

/** The frozen instant the Wellhub contract tests run at, and the two gyms they seed. */
export const NOW = Date.UTC(2030, 0, 15, 12, 0, 0);
export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;

export const TEST_GYMS: SandboxGymSeed[] = [
  {
    id: 7,
    token: 'gym-7-token',
    webhookSecret: 'gym-7-secret',
    products: [
      { product_id: 11, name: 'Yoga', virtual: false },
      { product_id: 12, name: 'Online yoga', virtual: true },
    ],
  },
  { id: 8, token: 'gym-8-token', webhookSecret: 'gym-8-secret', products: [{ product_id: 21, name: 'Swimming', virtual: false }] },
];

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatInOffset, offsetOf } from '../../domain/time.js';
import { devServerExecutable, pinnedCliPath, pinnedTestServerPath } from '../../temporal/binaries.js';

describe('time', () => {
  it('keeps the offset a start was given with', () => {
    expect(offsetOf('2026-12-01T18:00:00+01:00')).toBe('+01:00');
    expect(offsetOf('2026-12-01T18:00:00-0530')).toBe('-05:30');
    expect(offsetOf('2026-12-01T18:00:00Z')).toBe('+00:00');
    expect(() => offsetOf('2026-12-01T18:00:00')).toThrow();
    expect(formatInOffset(new Date('2026-12-01T17:00:00Z'), '+01:00')).toBe('2026-12-01T18:00:00+01:00');
    expect(formatInOffset(new Date('2026-12-01T02:00:00Z'), '-05:00')).toBe('2026-11-30T21:00:00-05:00');
  });
});

describe('Temporal binaries', () => {
  it('look where the install script puts them, at the versions it pins', () => {
    const script = readFileSync(path.resolve(__dirname, '../../scripts/install-temporal.sh'), 'utf8');
    const cli = /^CLI_VERSION="([^"]+)"/m.exec(script)?.[1];
    const ts = /^TEST_SERVER_VERSION="([^"]+)"/m.exec(script)?.[1];
    const env = { AGGREGATOR_BOOKINGS_CACHE: '/cache' };
    expect(pinnedCliPath(env)).toBe(`/cache/temporal-cli-${cli}/temporal`);
    expect(pinnedTestServerPath(env)).toBe(`/cache/temporal-test-server-${ts}/temporal-test-server`);
  });

  it("falls back to the SDK's own download when nothing is installed", () => {
    expect(devServerExecutable(undefined, { AGGREGATOR_BOOKINGS_CACHE: '/nonexistent' })).toEqual({ type: 'cached-download' });
    expect(devServerExecutable('/opt/temporal', {})).toEqual({ type: 'existing-path', path: '/opt/temporal' });
  });
});

import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AGGREGATOR_MODULES } from '../../aggregators/registry.js';
import { AGGREGATORS } from '../../domain/model.js';

const root = path.resolve(__dirname, '../..');

describe('npm run sandbox', () => {
  it('runs every aggregator sandbox on its own, prints each base URL and credentials that its adapter can use', async () => {
    const child = spawn(path.join(root, 'node_modules', '.bin', 'tsx'), ['bin/sandbox.ts'], {
      cwd: root,
      env: { ...process.env, SANDBOX_BASE_PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      const deadline = Date.now() + 30_000;
      while (!output.includes('control API') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      for (const aggregator of AGGREGATORS) {
        const module = AGGREGATOR_MODULES[aggregator];
        const line = new RegExp(`${module.displayName}\\s+(http://\\S+)\\s+\\(externalVenueId=(\\S+) apiToken=(\\S+) webhookSecret=(\\S+?)(?: settings=(\\S+))?\\)`).exec(output);
        expect(line, `${aggregator} in:\n${output}`).not.toBeNull();
        const [, url, externalVenueId, apiToken, webhookSecret, settings] = line as RegExpExecArray;
        const ctx = {
          connectionId: `${aggregator}-cli-test`,
          externalVenueId: externalVenueId!,
          baseUrl: url!,
          credentials: { apiToken, webhookSecret },
          settings: settings ? (JSON.parse(settings) as Record<string, unknown>) : {},
        };
        const adapter = module.createAdapter();
        await expect(adapter.health(ctx), aggregator).resolves.toBeUndefined();
        await expect(adapter.health({ ...ctx, credentials: { apiToken: 'wrong-token' } }), aggregator).rejects.toMatchObject({
          status: 401,
          retryable: false,
        });
      }
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  }, 60_000);
});

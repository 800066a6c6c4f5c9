import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

// The layout rules a newcomer relies on, checked on the source: decisions in domain/ stand on their own, and no two
// modules need each other (a cycle makes load order matter and hides which of them owns the shared piece).

const root = path.resolve(__dirname, '../..');
const FOLDERS = ['activities', 'aggregators', 'api', 'bin', 'db', 'domain', 'lib', 'worker', 'workflows'];

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return sources(full);
    return name.endsWith('.ts') && !name.endsWith('.d.ts') ? [full] : [];
  });
}

/** Relative imports of a file (type-only ones included: a cycle of types is still two modules owning one thing). */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/^(?:import|export)[^'";]*?from\s+'(\.[^']+)'/gms)].map((m) =>
    path.resolve(path.dirname(file), (m[1] as string).replace(/\.js$/, '.ts')),
  );
}

const files = FOLDERS.flatMap((folder) => sources(path.join(root, folder)));
const graph = new Map(files.map((file) => [file, importsOf(file)]));
const rel = (file: string) => path.relative(root, file);

describe('source layout', () => {
  it('domain/ imports nothing outside domain/ but the pure helpers of lib/', () => {
    const outside = files
      .filter((file) => rel(file).startsWith('domain/'))
      .flatMap((file) => (graph.get(file) ?? []).filter((target) => !rel(target).startsWith('domain/') && !rel(target).startsWith('lib/')).map((target) => `${rel(file)} -> ${rel(target)}`));
    expect(outside).toEqual([]);
  });

  it('no module imports, directly or through others, a module that imports it', () => {
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const visit = (file: string, trail: string[]) => {
      if (state.get(file) === 'done') return;
      if (state.get(file) === 'open') {
        cycles.push([...trail.slice(trail.indexOf(file)), file].map(rel).join(' -> '));
        return;
      }
      state.set(file, 'open');
      for (const target of graph.get(file) ?? []) if (graph.has(target)) visit(target, [...trail, file]);
      state.set(file, 'done');
    };
    for (const file of files) visit(file, []);
    expect(cycles).toEqual([]);
  });

  it('a Temporal activity proxy is named ...Acts, never after the aggregator or the ledger it reaches', () => {
    const proxies = files.flatMap((file) =>
      [...readFileSync(file, 'utf8').matchAll(/const (\w+) = proxyActivities/g)].map((m) => `${rel(file)}: ${m[1] as string}`),
    );
    expect(proxies.length).toBeGreaterThan(0);
    expect(proxies.filter((proxy) => !/acts$/i.test(proxy))).toEqual([]);
  });

  it('workflow ids are built by workflows/ids.ts only, in tests too', () => {
    const testFiles = sources(path.join(root, 'test'));
    const inline = [...files, ...testFiles]
      .filter((file) => rel(file) !== 'workflows/ids.ts')
      .filter((file) => /`(activity-lifecycle|booking|session-cancellation):\$\{/.test(readFileSync(file, 'utf8')))
      .map(rel);
    expect(inline).toEqual([]);
  });
});

import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = path.resolve(__dirname, '../..');

/** What production processes load: the API, the worker and its activities, the registry they share, the binary. */
const PRODUCTION_ENTRIES = ['api/app.ts', 'worker/index.ts', 'activities/index.ts', 'aggregators/registry.ts', 'bin/service.ts'];

/**
 * Sandbox code: any file or folder whose name starts with "sandbox" (each aggregator's `sandbox/` folder,
 * `aggregators/sandbox-kit/`, `aggregators/sandboxes.ts`, `bin/sandbox.ts`).
 */
const isSandboxCode = (file: string) => file.split('/').some((segment) => segment.startsWith('sandbox'));

/** The project file a relative specifier names (`./x.js` is `./x.ts` in the sources); packages are not followed. */
function resolveImport(from: string, specifier: string): string | undefined {
  if (!specifier.startsWith('.')) return undefined;
  const base = path.posix.join(path.posix.dirname(from), specifier);
  const candidates = [base.replace(/\.js$/, '.ts'), `${base}.ts`, `${base}/index.ts`];
  const found = candidates.find((candidate) => existsSync(path.join(root, candidate)));
  if (found === undefined) throw new Error(`${from}: cannot resolve import '${specifier}'`);
  return found;
}

/**
 * The module specifiers a file imports: its import and re-export declarations (type-only ones included, so production
 * code does not even lean on sandbox types) and, only when asked, its dynamic `import()` calls.
 */
function importsOf(file: string, options: { dynamic: boolean }): string[] {
  const source = ts.createSourceFile(file, readFileSync(path.join(root, file), 'utf8'), ts.ScriptTarget.Latest);
  const specifiers: string[] = [];
  for (const statement of source.statements) {
    if ((ts.isImportDeclaration(statement) || ts.isExportDeclaration(statement)) && statement.moduleSpecifier) {
      specifiers.push((statement.moduleSpecifier as ts.StringLiteral).text);
    } else if (ts.isImportEqualsDeclaration(statement) && ts.isExternalModuleReference(statement.moduleReference)) {
      specifiers.push((statement.moduleReference.expression as ts.StringLiteral).text);
    }
  }
  if (options.dynamic) {
    const visit = (node: ts.Node): void => {
      if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
        const [argument] = node.arguments;
        if (argument && ts.isStringLiteralLike(argument)) specifiers.push(argument.text);
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  return specifiers;
}

/** Every project file reachable from the entries, each with the chain of imports that reaches it. */
function importGraph(entries: readonly string[], options: { dynamic: boolean }): Map<string, string[]> {
  const reached = new Map<string, string[]>(entries.map((entry) => [entry, [entry]]));
  const queue = [...entries];
  for (let file = queue.shift(); file !== undefined; file = queue.shift()) {
    for (const specifier of importsOf(file, options)) {
      const target = resolveImport(file, specifier);
      if (target === undefined || reached.has(target)) continue;
      reached.set(target, [...reached.get(file)!, target]);
      queue.push(target);
    }
  }
  return reached;
}

describe('production code never loads sandbox code', () => {
  const production = importGraph(PRODUCTION_ENTRIES, { dynamic: false });

  it('walks the whole static import graph of the API, the worker and the binary, adapters included', () => {
    for (const file of [
      'api/routes/connections.ts',
      'worker/index.ts',
      'config/index.ts',
      'aggregators/wellhub/adapter.ts',
      'aggregators/wellhub/schemas.ts',
      'aggregators/partner/adapter.ts',
      'aggregators/classpass/index.ts',
      'aggregators/egym_wellpass/index.ts',
      'aggregators/onefit/index.ts',
      'aggregators/workit/index.ts',
    ]) {
      expect(production.has(file), file).toBe(true);
    }
    expect(production.size).toBeGreaterThan(40);
  });

  it('reaches no file under a sandbox/ folder, aggregators/sandbox-kit/ or aggregators/sandboxes.ts', () => {
    const offending = [...production].filter(([file]) => isSandboxCode(file)).map(([, chain]) => chain.join(' -> '));
    expect(offending).toEqual([]);
  });

  it('would see sandbox code if it were imported: the sandbox binary reaches every sandbox', () => {
    const sandboxBinary = importGraph(['bin/sandbox.ts'], { dynamic: false });
    for (const file of [
      'aggregators/sandboxes.ts',
      'aggregators/sandbox-kit/index.ts',
      'aggregators/wellhub/sandbox/index.ts',
      'aggregators/partner/sandbox/server.ts',
      'aggregators/classpass/sandbox/index.ts',
      'aggregators/egym_wellpass/sandbox/index.ts',
      'aggregators/onefit/sandbox/index.ts',
      'aggregators/workit/sandbox/index.ts',
    ]) {
      expect(sandboxBinary.has(file), file).toBe(true);
      expect(isSandboxCode(file), file).toBe(true);
    }
  });

  it('npm start reaches the sandboxes only through the dynamic import in bin/service.ts', () => {
    const withDynamic = importGraph(['bin/service.ts'], { dynamic: true });
    expect(withDynamic.get('aggregators/sandboxes.ts')).toEqual(['bin/service.ts', 'aggregators/sandboxes.ts']);
    expect(production.has('aggregators/sandboxes.ts')).toBe(false);
  });
});

/** What every benchmark script shares: its flags (or environment variables) and its percentiles. */

/** `--flag value`, `--flag=value`, or the environment variable; undefined when neither is given. */
export function option(flag: string, envName: string): string | undefined {
  const args = process.argv.slice(2);
  for (let i = 0; i < args.length; i += 1) {
    const arg = args[i] ?? '';
    if (arg === `--${flag}`) return args[i + 1];
    if (arg.startsWith(`--${flag}=`)) return arg.slice(flag.length + 3);
  }
  return process.env[envName] || undefined;
}

/** Stops the benchmark on a bad option, with exit code 2. */
export function fail(message: string): never {
  console.error(message);
  process.exit(2);
}

export function intOption(flag: string, envName: string, fallback: number, min: number, max: number): number {
  const raw = option(flag, envName);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) fail(`--${flag} (${envName}) must be an integer from ${min} to ${max}, not "${raw}"`);
  return value;
}

/** The nearest-rank percentile of an ascending list; NaN for none. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] as number;
}

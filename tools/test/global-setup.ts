import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

/** End-to-end tests spawn the bundled services, so build them once per test run. */
export default function setup(): void {
  execFileSync(process.execPath, [join(__dirname, '..', 'build.mjs'), '--quiet'], { stdio: 'inherit' });
}

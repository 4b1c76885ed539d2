#!/usr/bin/env node
'use strict';
// `npx twins ...` from the repo root: runs the bundled CLI, building it first on a fresh checkout.
const { existsSync } = require('node:fs');
const { join } = require('node:path');
const { execFileSync } = require('node:child_process');

const root = join(__dirname, '..');
const main = join(root, 'dist', 'apps', 'twins', 'main.js');
if (!existsSync(main)) {
  execFileSync(process.execPath, [join(root, 'tools', 'build.mjs'), '--quiet'], { stdio: 'inherit' });
}
require(main);

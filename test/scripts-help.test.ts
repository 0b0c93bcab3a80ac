// Every script a person runs answers --help with its usage and exit code 0, without starting any work:
// bin/roomgate, each scripts/bench/* and scripts/fuzz/* (their lib/ folders are modules, not scripts). A script
// that ran its benchmark instead would be stopped by the 30 s limit below and fail.

import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { repoPath } from '../src/paths.js';

const scripts = ['bin/roomgate'];
for (const dir of ['scripts/bench', 'scripts/fuzz']) {
  for (const name of readdirSync(repoPath(dir)).sort()) {
    if (statSync(repoPath(join(dir, name))).isFile()) scripts.push(join(dir, name));
  }
}

t.ok(scripts.length > 10, `${scripts.length} scripts found`);
for (const script of scripts) {
  for (const flag of ['--help', '-h']) {
    t.test(`${script} ${flag}`, async (t) => {
      // through node, as the .mjs ones are documented to be run (the others are node scripts with a shebang), and as
      // a person's shell runs them: without the loader tap puts in every child's NODE_OPTIONS, which extensionless
      // ES modules trip on
      const r = spawnSync('env', ['-u', 'NODE_OPTIONS', process.execPath, repoPath(script), flag], { encoding: 'utf8', timeout: 30_000 });
      t.equal(r.status, 0, `exit code 0${r.status === 0 ? '' : `: ${r.stderr.slice(0, 400)}`}`);
      t.match(r.stdout, /usage|scripts\/|roomgate/i, 'prints its usage');
      t.ok(r.stdout.trim().split('\n').length >= 2, 'more than one line of it');
      t.notMatch(r.stderr, /^\s+at /m, 'no stack trace');
    });
  }
}

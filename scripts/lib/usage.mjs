// --help for the benchmark and fuzzing scripts: the usage a script prints is its own header comment (the `//` lines
// after the shebang), so the text a reader sees in the file and on the terminal is one text, kept in one place.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

/** The script's header comment, without the `// ` marks. */
export function scriptUsage(scriptUrl) {
  const lines = readFileSync(fileURLToPath(scriptUrl), 'utf8').split('\n');
  if (lines[0]?.startsWith('#!')) lines.shift();
  const out = [];
  for (const line of lines) {
    if (!line.startsWith('//')) break;
    out.push(line.replace(/^\/\/ ?/, ''));
  }
  return out.join('\n').trim();
}

/** Prints the usage and exits 0 when the arguments ask for help (--help or -h anywhere). */
export function answerHelp(scriptUrl, argv = process.argv.slice(2)) {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(scriptUsage(scriptUrl));
    process.exit(0);
  }
}

/**
 * node:util parseArgs, after answering --help; an unknown or malformed option prints what is wrong and the usage,
 * and exits 2, instead of a stack trace.
 */
export function parseArgsOrUsage(scriptUrl, config) {
  answerHelp(scriptUrl, config.args ?? process.argv.slice(2));
  try {
    return parseArgs(config);
  } catch (err) {
    console.error(`${err.message}\n\n${scriptUsage(scriptUrl)}`);
    process.exit(2);
  }
}

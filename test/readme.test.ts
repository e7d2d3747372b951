// Every ```js example of the README runs, as written, in a process of its own
// (require('mempools') resolves to this package: the files sit inside it).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

import { expect, test } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
const examples = [...readme.matchAll(/^```js\n([\s\S]*?)^```$/gm)].map((match) => match[1]!);

test('the README has examples', () => {
  expect(examples.length).toBeGreaterThanOrEqual(5);
});

examples.forEach((code, i) => {
  const title =
    code
      .split('\n')
      .find((line) => line.includes('require('))
      ?.trim() ?? '';
  test(`README example ${i + 1} runs (${title})`, () => {
    const dir = path.join(root, '.tmp', 'readme');
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `example-${i + 1}-${process.pid}.js`);
    fs.writeFileSync(file, code);
    try {
      const child = spawnSync(process.execPath, [file], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
      expect(child.signal, child.stderr).toBeNull();
      expect(child.status, child.stderr).toBe(0);
      expect(child.stderr).toBe('');
      // an example that checks something logs the result, commented `// true`
      if (/console\.log\([^\n]*\/\/ true/.test(code)) expect(child.stdout).toMatch(/^true$/m);
    } finally {
      fs.rmSync(file, { force: true });
    }
  });
});

// A vitest reporter that counts test results and records them for
// test/run-all.js: it prints `vitest: N passed, M failed` and, when
// MEMPOOLS_VITEST_SUMMARY names a file, writes {passed, failed, skipped} there.
// A test file that fails to load and every unhandled error count as failures.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

import type { Reporter, TestModule } from 'vitest/node';

export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<unknown>): void {
    let passed = 0;
    let failed = unhandledErrors.length;
    let skipped = 0;
    for (const testModule of testModules) {
      let tests = 0;
      for (const testCase of testModule.children.allTests()) {
        tests++;
        const state = testCase.result().state;
        if (state === 'passed') passed++;
        else if (state === 'failed') failed++;
        else skipped++;
      }
      if (tests === 0 && testModule.state() === 'failed') failed++;
      else if (testModule.errors().length > 0) failed += testModule.errors().length;
    }
    const file = process.env.MEMPOOLS_VITEST_SUMMARY;
    if (file) {
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, JSON.stringify({ passed, failed, skipped }));
    }
    process.stdout.write(`vitest: ${passed} passed, ${failed} failed\n`);
  }
}

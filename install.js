#!/usr/bin/env node
'use strict';
// npm's install script, and the build the repo's `npm run build:native` runs.
//
// Install: a prebuild (prebuilds/<platform>-<arch>/) or an earlier build that
// loads in this Node is used as it is; otherwise the addon is compiled with
// node-gyp. MEMPOOLS_BUILD_FROM_SOURCE=1 (or node-gyp-build's
// npm_config_build_from_source=true) compiles even when a prebuild loads.
//
// Headers: node-gyp compiles against the running Node's own headers when they
// sit beside it (<prefix>/include/node: a system Node such as /usr/include/node,
// an official tarball, nvm, the node-linux-* npm packages), so no download is
// needed there. Without them, node-gyp does what it always does (its header
// cache, or a download), and an npm_config_nodedir holding another Node
// version's headers is not used: the addon is never compiled against another
// Node's headers.
//
// The build is quiet: one line when it succeeds, node-gyp's whole output when
// it fails (or with npm's --loglevel info/verbose/silly, or
// MEMPOOLS_BUILD_VERBOSE=1).
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = __dirname;
const ADDON = path.join('build', 'Release', 'mempools.node');
// node-gyp rebuild leaves this next to the addon; what it was configured with.
const STAMP = path.join('build', 'mempools-build.json');

/** The version in <nodedir>/include/node/node_version.h ("20.20.2"), or undefined. */
function headersVersion(nodedir) {
  let text;
  try {
    text = fs.readFileSync(path.join(nodedir, 'include', 'node', 'node_version.h'), 'utf8');
  } catch {
    return undefined;
  }
  const part = (name) => new RegExp(`#define ${name}\\s+(\\d+)`).exec(text)?.[1];
  const [major, minor, patch] = [part('NODE_MAJOR_VERSION'), part('NODE_MINOR_VERSION'), part('NODE_PATCH_VERSION')];
  return major && minor && patch ? `${major}.${minor}.${patch}` : undefined;
}

/** The prefix of the running Node when its own headers sit beside it (<prefix>/include/node), else undefined. */
function ownNodedir(execPath = process.execPath, version = process.versions.node) {
  const prefix = path.resolve(path.dirname(execPath), '..');
  if (!fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) return undefined;
  return headersVersion(prefix) === version ? prefix : undefined;
}

/**
 * The environment node-gyp runs in: npm_config_nodedir set to the running
 * Node's own headers when they are beside it; removed when it names another
 * Node version's headers. Returns { env, nodedir, note }.
 */
function gypEnv(base = process.env) {
  const env = { ...base };
  const own = ownNodedir();
  if (own) {
    env.npm_config_nodedir = own;
    return { env, nodedir: own, note: `the headers beside this Node (${path.join(own, 'include', 'node')})` };
  }
  const given = env.npm_config_nodedir;
  if (given) {
    const version = headersVersion(given);
    if (version === process.versions.node) return { env, nodedir: given, note: `npm_config_nodedir=${given}` };
    delete env.npm_config_nodedir;
    return {
      env,
      nodedir: undefined,
      note: `node-gyp's own headers for Node ${process.versions.node} (npm_config_nodedir=${given} holds ${version ? `Node ${version}'s` : 'no'} headers: not used)`,
    };
  }
  return { env, nodedir: undefined, note: `node-gyp's own headers for Node ${process.versions.node}` };
}

/** How to run node-gyp: this package's own (a dev dependency), else npm's (npm_config_node_gyp), else `node-gyp` on PATH. */
function nodeGypCommand(from = root) {
  try {
    const pkgFile = require.resolve('node-gyp/package.json', { paths: [from] });
    const pkg = JSON.parse(fs.readFileSync(pkgFile, 'utf8'));
    const bin = typeof pkg.bin === 'string' ? pkg.bin : pkg.bin['node-gyp'];
    return [process.execPath, path.join(path.dirname(pkgFile), bin)];
  } catch {}
  const npmGyp = process.env.npm_config_node_gyp;
  if (npmGyp && fs.existsSync(npmGyp)) return [process.execPath, npmGyp];
  return ['node-gyp'];
}

function verbose(env = process.env) {
  return env.MEMPOOLS_BUILD_VERBOSE === '1' || ['info', 'verbose', 'silly'].includes(env.npm_config_loglevel ?? '');
}

/** What the build in `dir` is configured for: a rebuild is needed when any of it changes. */
function configuration(nodedir, arch) {
  return { node: process.versions.node, execPath: process.execPath, nodedir: nodedir ?? null, arch };
}

/**
 * Compiles the addon in `dir` (a directory holding binding.gyp) with node-gyp.
 * `incremental`: `node-gyp build` (make rebuilds what changed) when build/ was
 * configured for this Node, these headers and this arch, else `node-gyp rebuild`.
 * `arch` and `extraEnv` (CC, CXX) are for cross builds. Prints one line on
 * success, the whole output on failure; returns { ok, compiled, out }.
 */
function build({ dir = root, incremental = false, arch = process.arch, extraEnv = {}, label = 'mempools' } = {}) {
  const { env, nodedir, note } = gypEnv({ ...process.env, ...extraEnv });
  const wanted = configuration(nodedir, arch);
  let configured;
  try {
    configured = JSON.parse(fs.readFileSync(path.join(dir, STAMP), 'utf8'));
  } catch {
    configured = undefined;
  }
  const same = configured !== undefined && JSON.stringify(configured) === JSON.stringify(wanted);
  const action = incremental && same && fs.existsSync(path.join(dir, 'build', 'Makefile')) ? 'build' : 'rebuild';
  const args = [...nodeGypCommand(dir), action, `--arch=${arch}`];
  if (nodedir) args.push(`--nodedir=${nodedir}`);
  const loud = verbose(env);
  const child = spawnSync(args[0], args.slice(1), {
    cwd: dir,
    env,
    encoding: 'utf8',
    stdio: ['ignore', loud ? 'inherit' : 'pipe', loud ? 'inherit' : 'pipe'],
    maxBuffer: 64 * 1024 * 1024,
  });
  const out = `${child.stdout ?? ''}${child.stderr ?? ''}${child.error ? `\n${child.error.message}\n` : ''}`;
  const compiled = (out.match(/^\s+(CC|CXX)\(target\)/gm) ?? []).length;
  if (child.status !== 0) {
    if (!loud) process.stderr.write(out);
    process.stderr.write(
      `${label}: node-gyp ${action} failed (exit ${child.status ?? child.signal}); headers: ${note}\n`,
    );
    return { ok: false, compiled, out };
  }
  fs.writeFileSync(path.join(dir, STAMP), `${JSON.stringify(wanted, null, 2)}\n`);
  const what = path.relative(process.cwd(), path.join(dir, ADDON)) || ADDON;
  const gyp = args.length > 1 ? path.dirname(path.dirname(args[1])) : args[0];
  process.stdout.write(
    loud || action === 'rebuild' || compiled > 0
      ? `${label}: built ${what} for ${arch} (${compiled} source${compiled === 1 ? '' : 's'} compiled; headers: ${note}; node-gyp: ${gyp})\n`
      : `${label}: ${what} is up to date\n`,
  );
  return { ok: true, compiled, out };
}

function fromSource(env = process.env) {
  return env.MEMPOOLS_BUILD_FROM_SOURCE === '1' || env.npm_config_build_from_source === 'true';
}

/** True when a prebuild or an earlier build loads in this Node. */
function loads() {
  try {
    require('node-gyp-build')(root);
    return true;
  } catch {
    return false;
  }
}

function install() {
  if (!fromSource() && loads()) return 0;
  return build({ dir: root }).ok ? 0 : 1;
}

module.exports = { build, gypEnv, headersVersion, ownNodedir, nodeGypCommand };

if (require.main === module) process.exitCode = install();

// The pinned CLI tools the project drives (`opa`, `actionlint`, `helm` and the helm-unittest plugin): found at
// their pinned version (package.json verdict.tools) or built from the Go module proxy into .tools/. Used by the
// bootstrap, the policy tooling and the chart tests. Plain JavaScript with no dependencies, because the
// bootstrap runs it before they exist.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const pins = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).verdict.tools;

/**
 * Pinned Go-installed tools: name → go package, version, args that print the version, and linker flags.
 * helm's own release build stamps its version with -ldflags (a plain `go install` reports only "v3.22");
 * stamping it the same way lets the version check below tell the pinned build from another.
 */
const TOOLS = {
  opa: { pkg: 'github.com/open-policy-agent/opa', version: pins.opa, versionArgs: ['version'] },
  actionlint: {
    pkg: 'github.com/rhysd/actionlint/cmd/actionlint',
    version: pins.actionlint,
    versionArgs: ['-version'],
  },
  helm: {
    pkg: 'helm.sh/helm/v3/cmd/helm',
    version: pins.helm,
    versionArgs: ['version', '--short'],
    ldflags: `-X helm.sh/helm/v3/internal/version.version=v${pins.helm}`,
  },
};

/**
 * Pinned helm plugins, built from their Go module and laid out as a plugin directory
 * (.tools/helm-plugins/<name>/plugin.yaml + binary) that `helm` finds through HELM_PLUGINS.
 * Not `go install`: helm-unittest's go.mod has a replace directive, which `go install pkg@version` refuses,
 * so the module is downloaded and built inside its own module root, where the replace applies.
 * Not `helm plugin install`: that runs the plugin's hook, which downloads a prebuilt binary.
 */
const HELM_PLUGINS = {
  unittest: {
    module: 'github.com/helm-unittest/helm-unittest',
    version: pins['helm-unittest'],
    main: './cmd/helm-unittest',
    binary: 'untt',
    ldflags: (v) => `-X github.com/helm-unittest/helm-unittest/internal/build.version=${v}`,
    usage: 'unittest for helm charts',
  },
};

export const toolsBin = join(root, '.tools', 'bin');
/** The folder to give helm as HELM_PLUGINS. */
export const helmPluginsDir = join(root, '.tools', 'helm-plugins');

function log(message) {
  process.stderr.write(`verdict bootstrap: ${message}\n`);
}
function versionOf(binary, tool) {
  try {
    const out = execFileSync(binary, tool.versionArgs, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const m = /v?(\d+\.\d+\.\d+)/.exec(out);
    return m ? m[1] : null;
  } catch {
    return null;
  }
}

/** The path of `name` in a folder of PATH, or null. */
export function onPath(name) {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return null;
}

/** Returns the path of the pinned tool, installing it into .tools/bin with `go install` if needed. */
export function ensureTool(name) {
  const tool = TOOLS[name];
  const local = join(toolsBin, name);
  if (existsSync(local) && versionOf(local, tool) === tool.version) return local;
  const found = onPath(name);
  if (found && versionOf(found, tool) === tool.version) return found;
  if (!onPath('go')) {
    fail(
      `${name} ${tool.version} is required (found ${found ? `version ${versionOf(found, tool)}` : 'none'} on PATH).\n` +
        `Install Go (https://go.dev/dl/) and re-run, or install it yourself:\n` +
        `  GOBIN=${toolsBin} go install ${tool.pkg}@v${tool.version}`,
    );
  }
  log(`installing ${name} ${tool.version} into .tools/bin (go install; takes a minute or two the first time)`);
  mkdirSync(toolsBin, { recursive: true });
  const ldflags = tool.ldflags ? [`-ldflags=${tool.ldflags}`] : [];
  const r = spawnSync('go', ['install', ...ldflags, `${tool.pkg}@v${tool.version}`], {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, GOBIN: toolsBin, CGO_ENABLED: '0', GOFLAGS: '-mod=mod' },
  });
  if (r.status !== 0 || versionOf(local, tool) !== tool.version) {
    fail(`installing ${name} failed. Install it by hand with:\n  GOBIN=${toolsBin} go install ${ldflags.map((f) => `'${f}' `).join('')}${tool.pkg}@v${tool.version}`);
  }
  return local;
}

/**
 * Returns the HELM_PLUGINS folder holding the pinned helm plugin `name`, building it if needed.
 * The plugin's plugin.yaml carries the pinned version; a folder with another version (or none) is rebuilt.
 */
export function ensureHelmPlugin(name) {
  const plugin = HELM_PLUGINS[name];
  const dir = join(helmPluginsDir, name);
  const manifest = join(dir, 'plugin.yaml');
  const installed = () =>
    existsSync(join(dir, plugin.binary)) &&
    existsSync(manifest) &&
    readFileSync(manifest, 'utf8').includes(`\nversion: "${plugin.version}"\n`);
  if (installed()) return helmPluginsDir;
  if (!onPath('go')) {
    fail(`the helm plugin ${name} ${plugin.version} is required; install Go (https://go.dev/dl/) and re-run \`npm run bootstrap\`.`);
  }
  log(`building the helm plugin ${name} ${plugin.version} into .tools/helm-plugins (from the Go module proxy)`);
  const env = { ...process.env, CGO_ENABLED: '0' };
  const dl = spawnSync('go', ['mod', 'download', '-json', `${plugin.module}@v${plugin.version}`], {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    env,
  });
  let moduleDir;
  try {
    moduleDir = JSON.parse(dl.stdout).Dir;
  } catch {
    moduleDir = undefined;
  }
  if (dl.status !== 0 || !moduleDir) fail(`downloading ${plugin.module}@v${plugin.version} failed; see the output above.`);
  // Build into a fresh folder and move it into place, so an interrupted build never looks installed.
  const staging = `${dir}.partial`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  const r = spawnSync(
    'go',
    ['build', '-trimpath', `-ldflags=${plugin.ldflags(plugin.version)}`, '-o', join(staging, plugin.binary), plugin.main],
    { cwd: moduleDir, stdio: 'inherit', env: { ...env, GOFLAGS: '-mod=readonly', GOWORK: 'off' } },
  );
  if (r.status !== 0) fail(`building the helm plugin ${name} failed; see the output above.`);
  writeFileSync(
    join(staging, 'plugin.yaml'),
    `# Built from ${plugin.module}@v${plugin.version} by the project's bootstrap (gateway/cli/bootstrap.mjs).\n` +
      `name: "${name}"\nversion: "${plugin.version}"\nusage: "${plugin.usage}"\n` +
      `description: "${plugin.usage}"\nignoreFlags: false\ncommand: "$HELM_PLUGIN_DIR/${plugin.binary}"\n`,
  );
  rmSync(dir, { recursive: true, force: true });
  renameSync(staging, dir);
  if (!installed()) fail(`installing the helm plugin ${name} failed.`);
  return helmPluginsDir;
}

function fail(message) {
  process.stderr.write(`verdict bootstrap: ${message}\n`);
  process.exit(1);
}

'use strict';

// What the project adds to serverless-python-requirements, which builds one set of
// requirements per service, either as a layer or injected into the function package, never
// both. Here it builds the Pillow layer (layers/pillow/requirements.txt); this plugin:
//
// 1. Keys that build's cache on everything that changes it. The plugin's own static cache is
//    keyed on the requirements file and the architecture only, so a changed runtime or pip
//    flag would silently reuse an old build. The cache folder is named after a hash of the
//    plugin's build settings (pip flags, Python, ...) and the provider's runtime and
//    architecture, under build/.cache/ (`make clean` empties it).
// 2. Installs requirements.txt (what every function needs beyond the layer: Powertools) into
//    the function package, with the same pip flags, so the functions without the layer get
//    no Pillow. That install is cached the same way, keyed on requirements.txt too.
//
// Both happen inside the ordinary `sls package` / `sls deploy`; a deploy whose inputs did not
// change runs no pip at all.
//
// 3. Waits for the cached layer to be in place: serverless-python-requirements links it into
//    .serverless/ without waiting for the link (6.1.2), so a cached build could be missing
//    when the Framework reads it.
const childProcess = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
// The Framework's own zip library (osls depends on it, as serverless-python-requirements does).
const JSZip = require('jszip');

// Settings of serverless-python-requirements that do not change what is built.
const NOT_BUILD_INPUTS = new Set([
  'layer',
  'cacheLocation',
  'useStaticCache',
  'useDownloadCache',
  'staticCacheMaxVersions',
  'invalidateCaches',
]);

class PythonPackages {
  constructor(serverless, options, v3Utils) {
    this.serverless = serverless;
    this.log = (v3Utils && v3Utils.log) || { info: () => {}, notice: () => {} };
    this.hooks = {
      'before:package:createDeploymentArtifacts': () => this.keyLayerCache(),
      'before:deploy:function:packageFunction': () => this.keyLayerCache(),
      'before:requirements:install:install': () => this.keyLayerCache(),
      'after:package:createDeploymentArtifacts': () => this.injectFunctionRequirements(),
      'after:deploy:function:packageFunction': () => this.injectFunctionRequirements(),
      'before:package:compileLayers': () => this.layerInPlace(),
    };
  }

  get settings() {
    const custom = this.serverless.service.custom || {};
    return custom.pythonRequirements || {};
  }

  get serviceDir() {
    return this.serverless.serviceDir || this.serverless.config.servicePath;
  }

  buildKey(extra) {
    const { provider } = this.serverless.service;
    const inputs = Object.fromEntries(
      Object.entries(this.settings)
        .filter(([name]) => !NOT_BUILD_INPUTS.has(name))
        .sort(([a], [b]) => a.localeCompare(b))
    );
    const text = JSON.stringify({
      inputs,
      runtime: provider.runtime,
      architecture: provider.architecture || 'x86_64',
      extra,
    });
    return crypto.createHash('sha256').update(text).digest('hex').slice(0, 16);
  }

  keyLayerCache() {
    const folder = path.join(this.serviceDir, 'build', '.cache', 'layer', this.buildKey(null));
    this.settings.cacheLocation = folder;
    this.log.info(`Python layer build cache: ${path.relative(this.serviceDir, folder)}`);
  }

  async layerInPlace() {
    const layer = (this.serverless.service.layers || {}).pythonRequirements;
    const artifact = layer && (layer.artifact || (layer.package && layer.package.artifact));
    if (!artifact) return;
    const target = path.resolve(this.serviceDir, artifact);
    for (let tries = 0; tries < 100 && !fs.existsSync(target); tries += 1) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    if (!fs.existsSync(target)) {
      throw new this.serverless.classes.Error(`The Pillow layer was not built: ${artifact} is missing`);
    }
  }

  pythonFunctions() {
    const { service } = this.serverless;
    const runtime = service.provider.runtime || '';
    return Object.values(service.functions || {}).filter((f) => !f.image && (f.runtime || runtime).startsWith('python'));
  }

  installed(requirements) {
    const text = fs.readFileSync(requirements, 'utf8');
    const folder = path.join(this.serviceDir, 'build', '.cache', 'functions', this.buildKey(text));
    if (fs.existsSync(path.join(folder, '.complete'))) {
      this.log.info(`Using the cached install of ${path.basename(requirements)}`);
      return folder;
    }
    const staging = `${folder}.partial-${process.pid}`;
    fs.rmSync(staging, { recursive: true, force: true });
    fs.mkdirSync(staging, { recursive: true });
    const python = this.settings.pythonBin || 'python3';
    const args = ['-m', 'pip', 'install', '--quiet', '--no-compile', '--target', staging, '-r', requirements];
    this.log.notice(`Installing ${path.basename(requirements)} into the function package`);
    const run = childProcess.spawnSync(python, [...args, ...(this.settings.pipCmdExtraArgs || [])], {
      cwd: this.serviceDir,
      encoding: 'utf8',
    });
    if (run.status !== 0) {
      throw new this.serverless.classes.Error(
        `pip could not install ${requirements} for the Lambda runtime:\n${run.stderr || run.error}`
      );
    }
    fs.writeFileSync(path.join(staging, '.complete'), '');
    fs.rmSync(folder, { recursive: true, force: true });
    fs.renameSync(staging, folder);
    return folder;
  }

  async injectFunctionRequirements() {
    const requirements = path.join(this.serviceDir, 'requirements.txt');
    const functions = this.pythonFunctions();
    if (!functions.length || !fs.existsSync(requirements)) return;
    const folder = this.installed(requirements);
    const files = listFiles(folder).filter((name) => !name.split('/').includes('__pycache__') && name !== '.complete');
    const { service } = this.serverless;
    const artifacts = new Set(
      functions.map((f) => (f.package && f.package.artifact) || service.package.artifact).filter(Boolean)
    );
    if (!artifacts.size) artifacts.add(path.join(this.serviceDir, '.serverless', `${service.service}.zip`));
    for (const artifact of artifacts) {
      const target = path.resolve(this.serviceDir, artifact);
      const packaged = fs.readFileSync(target);
      // The same package and requirements make the same zip: reuse it (compressing the
      // requirements is most of this step's time).
      const key = crypto.createHash('sha256').update(packaged).update(folder).digest('hex').slice(0, 16);
      const cached = path.join(path.dirname(folder), `${path.basename(folder)}-${key}.zip`);
      if (fs.existsSync(cached)) {
        fs.copyFileSync(cached, target);
        continue;
      }
      const zip = await JSZip.loadAsync(packaged);
      for (const name of files) {
        if (zip.file(name)) continue; // the project's own files win
        zip.file(name, fs.readFileSync(path.join(folder, name)), {
          date: new Date('1980-01-01T00:00:00Z'), // the same bytes on every build
          unixPermissions: fs.statSync(path.join(folder, name)).mode,
        });
      }
      const body = await zip.generateAsync({
        type: 'nodebuffer',
        platform: 'UNIX',
        compression: 'DEFLATE',
      });
      fs.writeFileSync(target, body);
      fs.writeFileSync(`${cached}.partial-${process.pid}`, body);
      fs.renameSync(`${cached}.partial-${process.pid}`, cached);
    }
  }
}

function listFiles(root, prefix = '') {
  return fs
    .readdirSync(path.join(root, prefix), { withFileTypes: true })
    .sort((a, b) => a.name.localeCompare(b.name))
    .flatMap((entry) => {
      const name = prefix ? `${prefix}/${entry.name}` : entry.name;
      return entry.isDirectory() ? listFiles(root, name) : [name];
    });
}

module.exports = PythonPackages;

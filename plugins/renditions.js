'use strict';

// Checks the stage's renditions (custom.renditions, from RENDITIONS) before anything is
// packaged: a misspelt format or size fails `sls package` / `sls deploy` with the reason,
// never a deployed thumbnail function at its first photo. The rules live in one place, the
// Python module the functions read the setting with (handlers/core/renditions.py, plain
// Python): this runs it, with the Python that builds the layer.
const childProcess = require('child_process');

class Renditions {
  constructor(serverless) {
    this.serverless = serverless;
    serverless.configSchemaHandler.defineCustomProperties({
      properties: { renditions: { type: 'string' } },
    });
    this.hooks = {
      'before:package:initialize': () => this.check(),
      'before:deploy:function:initialize': () => this.check(),
    };
  }

  check() {
    const custom = this.serverless.service.custom || {};
    const python = (custom.pythonRequirements || {}).pythonBin || 'python3';
    const serviceDir = this.serverless.serviceDir || this.serverless.config.servicePath;
    const checked = childProcess.spawnSync(python, ['-m', 'handlers.core.renditions', String(custom.renditions)], {
      cwd: serviceDir,
      encoding: 'utf8',
    });
    if (checked.error || checked.status !== 0) {
      const reason = (checked.stderr || '').trim() || String(checked.error);
      throw new this.serverless.classes.Error(`${reason} (see RENDITIONS in .env.example)`);
    }
  }
}

module.exports = Renditions;

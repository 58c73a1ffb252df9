'use strict';

// Stage-wide throttling of the REST API: API Gateway's per-stage rate and burst limits.
//
// The Framework has no setting for them: it creates the stage through the API's
// AWS::ApiGateway::Deployment (its StageName), under a logical id that changes on every
// deploy. This plugin sets that deployment's StageDescription, which CloudFormation applies
// to the stage, from `custom.apiThrottling` (rateLimit: requests per second, burstLimit:
// requests at once). A limit that is not a number fails the build with a clear message.
class ApiStageThrottling {
  constructor(serverless) {
    this.serverless = serverless;
    serverless.configSchemaHandler.defineCustomProperties({
      properties: {
        apiThrottling: {
          type: 'object',
          properties: {
            rateLimit: { anyOf: [{ type: 'number' }, { type: 'string' }] },
            burstLimit: { anyOf: [{ type: 'number' }, { type: 'string' }] },
          },
          required: ['rateLimit', 'burstLimit'],
          additionalProperties: false,
        },
      },
    });
    this.hooks = { 'before:package:finalize': () => this.apply() };
  }

  limit(name, value, integer) {
    const number = Number(value);
    if (String(value).trim() === '' || !Number.isFinite(number) || number < 0 || (integer && !Number.isInteger(number))) {
      throw new this.serverless.classes.Error(
        `custom.apiThrottling.${name} must be a ${integer ? 'whole ' : ''}number of at least 0, got '${value}'` +
          ' (see API_RATE_LIMIT and API_BURST_LIMIT in .env.example)'
      );
    }
    return number;
  }

  apply() {
    const settings = (this.serverless.service.custom || {}).apiThrottling;
    if (!settings) throw new this.serverless.classes.Error('custom.apiThrottling is not set');
    const resources = this.serverless.service.provider.compiledCloudFormationTemplate.Resources;
    const deployments = Object.values(resources).filter((r) => r.Type === 'AWS::ApiGateway::Deployment');
    if (deployments.length !== 1) {
      throw new this.serverless.classes.Error(`expected one REST API deployment, found ${deployments.length}`);
    }
    deployments[0].Properties.StageDescription = {
      ...(deployments[0].Properties.StageDescription || {}),
      ThrottlingRateLimit: this.limit('rateLimit', settings.rateLimit, false),
      ThrottlingBurstLimit: this.limit('burstLimit', settings.burstLimit, true),
    };
  }
}

module.exports = ApiStageThrottling;

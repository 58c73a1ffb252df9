'use strict';

// CloudWatch alarms for every function of the service, from `custom.functionAlarms`:
//
//   topic:              where alarms and recoveries are sent (AlarmActions and OKActions)
//   period:             seconds per datapoint; evaluationPeriods: how many datapoints are looked at
//   errors, throttles:  alarm when a function's Errors / Throttles (Sum per period) reach this
//   durationNearTimeout: { FUNCTION: PERCENT }: alarm when an invocation of FUNCTION (Maximum
//                       Duration per period) reaches PERCENT of the function's own timeout
//
// Twenty near-identical resources written by hand would drift from the functions (a function
// added later would have no alarm); the Framework has no setting for them, and the ecosystem's
// alerts plugin takes its topic only as a literal ARN and generates more than we need
// (dashboards, log metric filters). A value that is not a number fails the build, naming the
// .env setting behind it.
class FunctionAlarms {
  constructor(serverless) {
    this.serverless = serverless;
    const number = { anyOf: [{ type: 'number' }, { type: 'string' }] };
    serverless.configSchemaHandler.defineCustomProperties({
      properties: {
        functionAlarms: {
          type: 'object',
          properties: {
            topic: { anyOf: [{ type: 'string' }, { type: 'object' }] },
            period: number,
            evaluationPeriods: number,
            errors: number,
            throttles: number,
            durationNearTimeout: { type: 'object', additionalProperties: number },
          },
          required: ['topic', 'period', 'evaluationPeriods', 'errors', 'throttles'],
          additionalProperties: false,
        },
      },
    });
    this.hooks = { 'before:package:finalize': () => this.apply() };
  }

  number(name, value, setting, { integer = false, minimum = 0 } = {}) {
    const number = Number(value);
    if (String(value).trim() === '' || !Number.isFinite(number) || number < minimum || (integer && !Number.isInteger(number))) {
      throw new this.serverless.classes.Error(
        `custom.functionAlarms.${name} must be a ${integer ? 'whole ' : ''}number of at least ${minimum}, got '${value}'` +
          ` (see ${setting} in .env.example)`
      );
    }
    return number;
  }

  apply() {
    const settings = (this.serverless.service.custom || {}).functionAlarms;
    if (!settings) throw new this.serverless.classes.Error('custom.functionAlarms is not set');
    const service = this.serverless.service;
    const naming = this.serverless.getProvider('aws').naming;
    const prefix = `${service.service}-${this.serverless.getProvider('aws').getStage()}`;
    const period = this.number('period', settings.period, 'ALARM_PERIOD_SECONDS', { integer: true, minimum: 10 });
    const evaluationPeriods = this.number('evaluationPeriods', settings.evaluationPeriods, 'ALARM_EVALUATION_PERIODS', {
      integer: true,
      minimum: 1,
    });
    const common = {
      Namespace: 'AWS/Lambda',
      Period: period,
      EvaluationPeriods: evaluationPeriods,
      DatapointsToAlarm: evaluationPeriods,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching', // no invocation in a period: nothing went wrong in it
      AlarmActions: [settings.topic],
      OKActions: [settings.topic],
    };
    const alarms = {};
    const nearTimeout = settings.durationNearTimeout || {};
    for (const name of Object.keys(nearTimeout)) {
      if (!service.getAllFunctions().includes(name)) {
        throw new this.serverless.classes.Error(`custom.functionAlarms.durationNearTimeout names no function: ${name}`);
      }
    }
    for (const name of service.getAllFunctions()) {
      const logicalId = naming.getLambdaLogicalId(name);
      const dimensions = [{ Name: 'FunctionName', Value: { Ref: logicalId } }];
      const alarm = (suffix, properties) => {
        alarms[`${logicalId}${suffix}Alarm`] = {
          Type: 'AWS::CloudWatch::Alarm',
          Properties: { ...common, Dimensions: dimensions, ...properties },
        };
      };
      alarm('Errors', {
        AlarmName: `${prefix}-${name}-errors`,
        AlarmDescription: `${name} failed (an error, a timeout or a crash) at least ${settings.errors} time(s) in ${period} s`,
        MetricName: 'Errors',
        Statistic: 'Sum',
        Threshold: this.number('errors', settings.errors, 'FUNCTION_ERRORS_ALARM_THRESHOLD', { minimum: 1 }),
      });
      alarm('Throttles', {
        AlarmName: `${prefix}-${name}-throttles`,
        AlarmDescription: `${name} was throttled at least ${settings.throttles} time(s) in ${period} s`,
        MetricName: 'Throttles',
        Statistic: 'Sum',
        Threshold: this.number('throttles', settings.throttles, 'FUNCTION_THROTTLES_ALARM_THRESHOLD', { minimum: 1 }),
      });
      if (name in nearTimeout) {
        const percent = this.number(`durationNearTimeout.${name}`, nearTimeout[name], 'RESIZE_DURATION_ALARM_PERCENT', {
          minimum: 1,
        });
        const timeout = Number(service.getFunction(name).timeout || service.provider.timeout || 6);
        alarm('Duration', {
          AlarmName: `${prefix}-${name}-duration`,
          AlarmDescription: `an invocation of ${name} ran for ${percent}% of its ${timeout} s timeout or more`,
          MetricName: 'Duration',
          Statistic: 'Maximum',
          Threshold: Math.round(timeout * 1000 * percent) / 100,
        });
      }
    }
    Object.assign(service.provider.compiledCloudFormationTemplate.Resources, alarms);
  }
}

module.exports = FunctionAlarms;

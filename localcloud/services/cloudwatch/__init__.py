"""CloudWatch, emulated: alarms, metrics and their evaluation (moto only stores them).

    adapter.py       alarms from templates, CloudWatch's initial state, history and actions
    alarms.py        alarm evaluation (periods, statistics, missing data), SNS actions
    metrics.py       the metrics AWS services publish by themselves (AWS/Lambda, AWS/States,
                     AWS/SQS)

Differs from AWS (tests/test_alarms.py): metric math, anomaly detection and composite alarms
are not evaluated; actions other than SNS topics are recorded as failed; ExecutionThrottled
and the other metrics of these namespaces are not published.
"""

"""The user's tools over the local cloud (they emulate nothing; `localcloud/services/` does).

cli.py           `python -m localcloud COMMAND`: up, demo, run, executions, invoke, ...
pipeline.py      drives the deployed workflow as a user would (demo and run)
results.py       what an execution's result means to the photo's owner
report.py        what the command line prints, fitted to 100 columns
console.py       the local execution console at `/_console/` (console_static/)
deploy.py        `sls package` and `sls deploy` of a stage into the local cloud
invoke.py        one function of the working tree on one photo (`sls invoke local`)
signin.py        a user of the stage's pool and an ID token, for `token` and the console
settings.py      a stage's settings as `sls deploy` resolves them, to show what changed
cost.py          what a run would take and cost on AWS
parity.py        `make parity`: the arm64 build run on arm64 (parity_probe.py runs there)
"""

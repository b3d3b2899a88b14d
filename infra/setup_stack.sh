#!/usr/bin/env bash
# Local stack: zenml init, an MLflow experiment tracker + model registry on a local sqlite tracking URI, stack set.
# Idempotent: re-running keeps what exists. The tracker and the stack are named after the tracking URI
# (mlflow_<hash>, lmms-local-<hash>): several clones sharing one ZenML global store (the same HOME) each get a stack
# that logs to their own mlflow.db, never to the clone that ran first.
set -euo pipefail
VENV=${1:-.venv}
ZENML="$VENV/bin/zenml"
export ZENML_ANALYTICS_OPT_IN=${ZENML_ANALYTICS_OPT_IN:-false}
URI=${MLFLOW_TRACKING_URI:-sqlite:///$PWD/mlflow.db}
H=$(printf '%s' "$URI" | sha256sum | cut -c1-8)
TRACKER="mlflow_$H"
STACK=${LMMS_STACK:-lmms-local-$H}

[ -d .zen ] || "$ZENML" init >/dev/null
has() { "$ZENML" "$1" list 2>/dev/null | grep -q " $2 "; }
has experiment-tracker "$TRACKER" || "$ZENML" experiment-tracker register "$TRACKER" --flavor=mlflow \
    --tracking_uri="$URI" --tracking_username=local --tracking_password=local >/dev/null
has model-registry mlflow_registry || "$ZENML" model-registry register mlflow_registry --flavor=mlflow >/dev/null
has stack "$STACK" || "$ZENML" stack register "$STACK" -o default -a default -e "$TRACKER" -r mlflow_registry >/dev/null
"$ZENML" stack set "$STACK" >/dev/null
echo "ZenML stack '$STACK' active; MLflow tracking URI: $URI"
